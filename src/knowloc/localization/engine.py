"""Stacked per-sample SGD: many independent MLPs ``D -> H -> C``, each trained on its own sample
stream one sample at a time (batch size 1, plain SGD, cross-entropy), with exact per-sample
semantics.

Why it is fast. A per-sample step updates the first layer by a rank-1 matrix,
``W1 <- W1 - lr_t * outer(g1_t, x_t)`` with ``g1_t = dL/dz1`` (the pre-activation gradient).
Writing the ``H x D`` matrix of every model at every step is bound by memory traffic. Instead the
engine processes a *chunk* of K steps per model: the pre-activations inside the chunk are

    z1_t = W1_0 x_t + b1_0 - sum_{s<t} lr_s * (x_s . x_t + 1) * g1_s

(``W1_0``, ``b1_0``: the weights at the start of the chunk; ``x_s . x_t`` is the chunk's Gram
matrix, the ``+ 1`` the bias), so each step costs ``O(K H)``, and the K rank-1 updates are folded
into ``W1`` with one batched matrix product at the end of the chunk:
``W1 <- W1_0 - Delta^T X`` with ``Delta[s] = lr_s * g1_s``. The second layer (``C x H``, small) is
updated directly at every step. Every model of the stack advances with batched ops (``bmm``).

Update tallies. The step's first-layer update is ``|dW1_t| = lr_t * |g1_t| (x) |x_t|`` (an outer
product, so its absolute value is the outer product of absolute values); summed over the steps of
group g in a chunk it is ``|Delta_g|^T |X_g|``, again one batched product. The tally of the other
parameters is summed from the per-step updates kept during the chunk. ``tally[g]`` is the
per-step ``|Delta theta|`` summed over the steps whose group is g, never ``|sum of steps|``.

Plain tensors, no autograd; :func:`reference_sgd` is the plain per-sample PyTorch loop
(``nn.Module`` + autograd + ``torch.optim.SGD``) that the engine is tested against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from knowloc.activations import ACTIVATIONS, activation
from knowloc.errors import ConfigValueError

#: Parameter names of the stacked MLP, in the order of ``MLP(sizes).named_parameters()``.
PARAMS = ("fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias")


def check_activation(name: str, key: str = "activation") -> str:
    """``name`` if the registry (:data:`knowloc.activations.ACTIVATIONS`) has it, else the one-line error."""
    activation(name, key)
    return name


def _kernels(name: str) -> tuple[Callable, Callable]:
    """``(f(z), backward(grad, z, h))`` of an activation: the registry's function and the fused
    kernel autograd uses for its module (so the engine's g1 is the per-sample loop's)."""
    a = ACTIVATIONS[name]
    return a.function, a.backward


@dataclass
class Stack:
    """The weights of M stacked MLPs ``D -> H -> C``: ``W1`` (M,H,D), ``b1`` (M,H), ``W2`` (M,C,H),
    ``b2`` (M,C), and the activation of each model (models with the same activation should be
    contiguous: each run of equal names is one segment of batched ops)."""

    W1: torch.Tensor
    b1: torch.Tensor
    W2: torch.Tensor
    b2: torch.Tensor
    activations: list[str] = field(default_factory=list)

    @property
    def n_models(self) -> int:
        return self.W1.shape[0]

    def tensors(self) -> dict[str, torch.Tensor]:
        """``{"fc1.weight": W1, ...}`` (the layer names of :class:`knowloc.models.MLP`)."""
        return dict(zip(PARAMS, (self.W1, self.b1, self.W2, self.b2)))

    def segments(self) -> list[tuple[str, int, int]]:
        """``[(activation, start, stop), ...]``: runs of models with the same activation."""
        out: list[tuple[str, int, int]] = []
        for i, a in enumerate(self.activations):
            if out and out[-1][0] == a:
                out[-1] = (a, out[-1][1], i + 1)
            else:
                out.append((a, i, i + 1))
        return out

    def select(self, index: torch.Tensor | Sequence[int]) -> "Stack":
        """A new stack of copies of the models at ``index`` (e.g. forks of a phase-1 model)."""
        idx = torch.as_tensor(index, dtype=torch.long, device=self.W1.device)
        return Stack(*(t.index_select(0, idx).clone() for t in (self.W1, self.b1, self.W2, self.b2)),
                     activations=[self.activations[i] for i in idx.tolist()])

    def net(self, m: int) -> nn.Module:
        """Model ``m`` as a :class:`knowloc.models.MLP` (an ordinary ``nn.Module``)."""
        from knowloc.models.nets import MLP

        H, D = self.W1.shape[1:]
        with torch.device(self.W1.device):  # built where the stack is (its init is overwritten below)
            net = MLP([D, H, self.W2.shape[1]], activation=self.activations[m], init="default").to(self.W1.dtype)
        with torch.no_grad():
            for name, p in net.named_parameters():
                p.copy_(self.tensors()[name][m])
        return net


def init_stack(seeds: Sequence[int], activations: Sequence[str], sizes: Sequence[int] = (784, 100, 2),
               init: str = "he", init_bias: bool = True, dtype=torch.float32, device=None) -> Stack:
    """One model per (seed, activation): exactly the weights ``MLP(sizes, init=init, init_bias=...)``
    gets after ``torch.manual_seed(seed)`` (He: every weight and bias ~ N(0, 2/fan_in)), so a
    stacked model equals the single-run model of the same seed, on every device (drawn on the CPU,
    then moved to ``device``). The global RNG is left untouched."""
    from knowloc.models.nets import MLP

    if len(sizes) != 3:
        raise ConfigValueError("model.sizes", list(sizes), "three layer sizes [inputs, hidden, classes]")
    if len(seeds) != len(activations):
        raise ValueError("one activation per seed")
    parts: list[list[torch.Tensor]] = [[], [], [], []]
    for seed, act in zip(seeds, activations):
        check_activation(act)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            net = MLP(list(sizes), activation=act, init=init, init_bias=init_bias)
        params = dict(net.named_parameters())
        for i, name in enumerate(PARAMS):
            parts[i].append(params[name].detach().to(dtype))
    return Stack(*(torch.stack(p).to(device).contiguous() for p in parts), activations=list(activations))


@dataclass
class ChunkResult:
    """What one chunk of per-sample steps produced, per model m and step t of the chunk.

    ``loss``/``correct``: cross-entropy and hit of the prediction *before* the step's update
    (online, prequential). ``tally``: ``{param: (M, n_groups, *shape)}``, the per-step
    ``|Delta theta|`` summed over the steps of each group; ``total``: the same over every tallied
    step regardless of group (computed separately, so ``sum_g tally[g] == total`` is a check).
    ``bad_step``: per model, the first step (in the chunk) with a non-finite loss or, when the
    weights turned non-finite on the last step, that step; -1 when finite.
    """

    loss: torch.Tensor
    correct: torch.Tensor
    bad_step: torch.Tensor
    tally: dict[str, torch.Tensor] | None = None
    total: dict[str, torch.Tensor] | None = None


def _group_sums(mask: torch.Tensor, absG1: torch.Tensor, absX: torch.Tensor, absG2: torch.Tensor,
                absH: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-group sums of per-step |updates|; ``mask`` (M,K,G) selects each group's steps.

    fc1.weight: sum_t m_tg lr|g1_t| (x) |x_t| = (mask_g * |Delta|)^T |X|   (one bmm, all groups)
    fc1.bias: sum_t m_tg lr|g1_t|;  fc2.weight: sum_t m_tg lr|g2_t| (x) |h_t|;  fc2.bias: sum_t m_tg lr|g2_t|
    """
    M, K, G = mask.shape
    H, C, D = absG1.shape[2], absG2.shape[2], absX.shape[2]
    mT = mask.transpose(1, 2)  # (M,G,K)
    a1 = (mT.unsqueeze(3) * absG1.unsqueeze(1)).transpose(2, 3).reshape(M, G * H, K)
    a2 = (mT.unsqueeze(3) * absG2.unsqueeze(1)).transpose(2, 3).reshape(M, G * C, K)
    return {
        "fc1.weight": torch.bmm(a1, absX).view(M, G, H, D),
        "fc1.bias": torch.bmm(mT, absG1),
        "fc2.weight": torch.bmm(a2, absH).view(M, G, C, H),
        "fc2.bias": torch.bmm(mT, absG2),
    }


#: Steps per block of the within-chunk corrections (measured, see :func:`sgd_chunk`).
BLOCK = 8

#: The CPU work tensors of the last chunk, reused by the next one of the same shape: a fresh
#: multi-megabyte tensor costs a page fault per 4 KiB on its first write (for M = 256, K = 64
#: that was ~40 us per step, a third of the step loop). CUDA's caching allocator needs no help.
_WORK: dict[str, torch.Tensor] = {}


def _work(name: str, *shape: int, like: torch.Tensor) -> torch.Tensor:
    """An uninitialised (shape) tensor of ``like``'s dtype and device (on the CPU: kept for the
    next call, so a caller must not hold it across calls)."""
    if like.device.type != "cpu":
        return torch.empty(shape, dtype=like.dtype, device=like.device)
    t = _WORK.get(name)
    if t is None or t.shape != shape or t.dtype != like.dtype or t.device != like.device:
        t = _WORK[name] = torch.empty(shape, dtype=like.dtype, device=like.device)
    return t


class _Binary:
    """The second layer of two-class models, step by step (C = 2).

    With ``d = z2_1 - z2_0`` the softmax is ``(1 - sigmoid(d), sigmoid(d))``, so the step's
    ``lr dL/dz2 = (-g, g)`` with ``g = lr (sigmoid(d) - y)``: the first-layer gradient is
    ``g1 = g w f'(z1)`` with ``w = W2_1 - W2_0`` (the step's old weights), and the update changes
    ``w`` by ``-2 g h`` and ``b2_1 - b2_0`` by ``-2 g``. Only ``w`` (M,H) is kept during the
    chunk; the rows of W2 get ``-/+ sum_t g_t h_t`` (one product) at the end."""

    def __init__(self, W2, b2, y, lr, K):
        self.w = W2[:, 1] - W2[:, 0]
        self.beta = b2[:, 1] - b2[:, 0]
        self.neg_lry = -(lr * (y == 1).to(lr.dtype))  # -lr_t y_t
        self.lr = lr
        self.d = torch.empty_like(lr)  # (M,K) logit differences before each step
        self.g = torch.empty_like(lr)  # (M,K) g_t

    def step(self, t, h):
        """-> ``lr dL/dh`` for the step with hidden activations h (M,H); updates w, beta."""
        d = torch.add(torch.linalg.vecdot(h, self.w), self.beta, out=self.d[:, t])
        g = torch.addcmul(self.neg_lry[:, t], torch.sigmoid(d), self.lr[:, t], out=self.g[:, t])
        gh = self.w * g.unsqueeze(1)
        self.w.addcmul_(g.unsqueeze(1), h, value=-2.0)
        self.beta.add_(g, alpha=-2.0)
        return gh

    def finish(self, W2, b2, Hs):
        """W2 <- W2 -/+ sum_t g_t h_t, b2 <- b2 -/+ sum_t g_t; -> logits (-d/2, d/2) (the same softmax,
        loss and argmax as z2), lr dL/dz2 (M,K,C)."""
        gsum = torch.bmm(self.g.unsqueeze(1), Hs).squeeze(1)  # (M,H)
        W2[:, 0].add_(gsum)
        W2[:, 1].sub_(gsum)
        s = self.g.sum(1)
        b2[:, 0].add_(s)
        b2[:, 1].sub_(s)
        half = 0.5 * self.d
        return torch.stack((-half, half), 2), torch.stack((-self.g, self.g), 2)


class _Softmax:
    """The second layer of C-class models, step by step: ``z2 = W2 h + b2``,
    ``g2 = lr (softmax(z2) - onehot(y))``, ``lr dL/dh = W2^T g2`` (old W2), then
    ``W2 <- W2 - g2 h^T``, ``b2 <- b2 - g2``."""

    def __init__(self, W2, b2, y, lr, K):
        M, C = b2.shape
        self.W2, self.b2 = W2.clone(), b2.clone()
        self.neg_lrY = -(F.one_hot(y.long().clamp_min(0), C).to(lr.dtype) * lr.unsqueeze(2))
        self.lr = lr.unsqueeze(2)
        self.Z2 = torch.empty(M, K, C, dtype=lr.dtype, device=lr.device)
        self.G2 = torch.empty_like(self.Z2)

    def step(self, t, h):
        z2 = torch.add(torch.linalg.vecdot(self.W2, h.unsqueeze(1)), self.b2, out=self.Z2[:, t])
        g2 = torch.addcmul(self.neg_lrY[:, t], torch.softmax(z2, 1), self.lr[:, t], out=self.G2[:, t])
        gh = torch.linalg.vecdot(self.W2.transpose(1, 2), g2.unsqueeze(1))
        self.W2.addcmul_(g2.unsqueeze(2), h.unsqueeze(1), value=-1.0)
        self.b2.sub_(g2)
        return gh

    def finish(self, W2, b2, Hs):
        W2.copy_(self.W2)
        b2.copy_(self.b2)
        return self.Z2, self.G2


@torch.no_grad()
def sgd_chunk(stack: Stack, x: torch.Tensor, y: torch.Tensor, lr: torch.Tensor,
              tally_group: torch.Tensor | None = None, n_groups: int = 0, total: bool = True,
              block: int = BLOCK) -> ChunkResult:
    """Apply K per-sample SGD steps to every model of ``stack`` in place.

    x (M,K,D) inputs, y (M,K) labels, lr (M,K) the learning rate of each step (0 = no step: a
    padded slot, the model stays as it is), tally_group (M,K) the group of each step for the update
    tally (-1 = not tallied; None = no tally). Exact: the result equals K plain SGD steps with
    batch size 1 on each model (up to floating-point rounding).

    Work per model: pre-activations ``P = X W1_0^T + b1_0`` and Gram ``X X^T + 1`` (two batched
    products), then the steps in blocks of ``block``: before a block, the corrections from every
    earlier step, ``P[block] -= Gram[block, :b0] Delta[:b0]`` (one batched product); within it,
    after step t, ``P[t+1:block end] -= Gram[., t] (x) g1_t`` (one multiply-add). Last, the fold
    ``W1 <- W1_0 - Delta^T X`` (one batched product). Smaller blocks mean more (small) products,
    larger ones more multiply-adds (block^2 / 2 rows per block); on the CPU at K = 64 the rate
    was flat from 4 to 32 (within 2%), the three large products taking ~90% of a chunk.
    Two-class models use :class:`_Binary`.
    """
    W1, b1, W2, b2 = stack.W1, stack.b1, stack.W2, stack.b2
    M, K, D = x.shape
    H, C = W1.shape[1], W2.shape[1]
    dtype, dev = W1.dtype, W1.device  # every tensor made here follows the stack's device and dtype
    x = x.to(device=dev, dtype=dtype)
    y, lr = y.to(dev), lr.to(dev)
    lr2 = lr.to(dtype)
    if tally_group is not None:
        tally_group = tally_group.to(dev)
    # pre-activations at the chunk's start weights, and the Gram matrix (+1 for the bias)
    P = torch.baddbmm(b1.unsqueeze(1), x, W1.transpose(1, 2), out=_work("P", M, K, H, like=W1))
    L = torch.bmm(x, x.transpose(1, 2), out=_work("L", M, K, K, like=W1)).add_(1.0)  # x_s.x_t + 1, s < t read
    Delta = _work("Delta", M, K, H, like=W1)  # lr_t * g1_t
    Hs = _work("Hs", M, K, H, like=W1)  # h_t
    head = (_Binary if C == 2 else _Softmax)(W2, b2, y, lr2, K)
    segs = [(_kernels(a), slice(s, e)) for a, s, e in stack.segments()]
    (f, f_back), _ = segs[0]
    for b0 in range(0, K, block):
        b1_ = min(K, b0 + block)
        if b0:  # corrections from the chunk's earlier blocks: one batched product per block
            P[:, b0:b1_].sub_(torch.bmm(L[:, b0:b1_, :b0], Delta[:, :b0]))
        for t in range(b0, b1_):
            z1 = P[:, t]  # (M,H), exact pre-activation of step t
            h = Hs[:, t]
            if len(segs) == 1:
                h.copy_(f(z1))
                g1 = f_back(head.step(t, h), z1, h)
            else:
                for (fs, _), sl in segs:
                    h[sl] = fs(z1[sl])
                gh = head.step(t, h)
                g1 = torch.empty_like(gh)
                for (_, bs), sl in segs:
                    g1[sl] = bs(gh[sl], z1[sl], h[sl])
            Delta[:, t] = g1
            if t + 1 < b1_:  # corrections inside the block, step by step
                P[:, t + 1:b1_].addcmul_(L[:, t + 1:b1_, t].unsqueeze(2), g1.unsqueeze(1), value=-1.0)
    # fold the K rank-1 updates into the first layer: W1 <- W1 - Delta^T X, b1 <- b1 - sum Delta
    W1.baddbmm_(Delta.transpose(1, 2), x, alpha=-1.0)
    dsum = Delta.sum(1)
    b1.sub_(dsum)
    Z2, G2 = head.finish(W2, b2, Hs)

    active = lr > 0
    loss = torch.logsumexp(Z2, 2) - Z2.gather(2, y.long().clamp_min(0).unsqueeze(2)).squeeze(2)
    loss = torch.where(active, loss, torch.zeros_like(loss))
    correct = (Z2.argmax(2) == y) & active
    bad = ~torch.isfinite(loss)
    first = torch.where(bad.any(1), bad.to(dtype).argmax(1), torch.full((M,), -1.0, dtype=dtype, device=dev)).long()
    # W1 = W1_0 - Delta^T X is finite when Delta is (a cheap reduction instead of scanning W1)
    params_bad = ~torch.isfinite(dsum.sum(1) + b1.sum(1) + W2.sum((1, 2)) + b2.sum(1))
    first = torch.where((first < 0) & params_bad, torch.full_like(first, K - 1), first)
    result = ChunkResult(loss, correct, first)

    if tally_group is not None and bool((tally_group >= 0).any()):
        absX, absD, absG2, absH = x.abs(), Delta.abs_(), G2.abs(), Hs.abs_()
        g = tally_group.long()
        onehot = F.one_hot(g.clamp_min(0), max(n_groups, 1)).to(dtype) * (g >= 0).unsqueeze(2).to(dtype)
        result.tally = _group_sums(onehot[:, :, :n_groups], absD, absX, absG2, absH)
        if total:
            result.total = {k: v.squeeze(1) for k, v in
                            _group_sums((g >= 0).unsqueeze(2).to(dtype), absD, absX, absG2, absH).items()}
    return result


#: Fraction of the device's free memory one launch of :func:`sgd_chunk` may use, and the cap on
#: the CPU (where more models per launch stop paying once the working set leaves the caches).
MEMORY_FRACTION = 0.5
CPU_BUDGET_BYTES = 1 << 30


@dataclass
class LaunchPlan:
    """How :func:`sgd_steps` splits a chunk: ``models`` per launch, ``steps`` per launch, the
    memory ``budget`` (bytes) it was sized for, the ``device`` name and its free memory."""

    models: int
    steps: int
    budget: int
    device: str
    free_bytes: int | None = None

    def record(self) -> dict:
        return {"device": self.device, "models_per_launch": self.models, "steps_per_launch": self.steps,
                "launch_budget_bytes": self.budget, "device_free_bytes": self.free_bytes}


def device_name(device: torch.device | str) -> str:
    """``"cpu"`` or the accelerator's name (``"cuda:0 NVIDIA H200"``)."""
    device = torch.device(device)
    if device.type == "cuda":
        return f"{device} {torch.cuda.get_device_name(device)}"
    return str(device)


def launch_bytes(K: int, D: int, H: int, C: int, tally_groups: int = 0, itemsize: int = 4) -> int:
    """Bytes of the work tensors of one model in one launch of K steps: inputs ``KD`` (and ``|X|``
    when tallied), pre-activations, Delta, h ``3KH``, Gram ``K^2``, second layer ``5KC + CH``,
    per-step temporaries ``~4H``; a tallied launch adds the group sums ``(G+1)(HD + CH + H + C)``
    and their operands ``(G+1)K(H + C)``."""
    n = 2 * K * D + 3 * K * H + K * K + 5 * K * C + C * H + 4 * H
    if tally_groups:
        G1 = tally_groups + 1
        n += K * D + G1 * (H * D + C * H + H + C) + G1 * K * (H + C)
    return int(n * itemsize)


def launch_plan(M: int, K: int, D: int, H: int, C: int, tally_groups: int = 0, dtype=torch.float32,
                device: torch.device | str = "cpu", budget: int | None = None) -> LaunchPlan:
    """Models and steps per launch from the device's memory.

    budget = ``MEMORY_FRACTION`` x the free memory on a CUDA device (``torch.cuda.mem_get_info``),
    ``CPU_BUDGET_BYTES`` on the CPU. Steps per launch: K, halved (not below 8) while all M models
    do not fit; then models per launch = min(M, budget // launch_bytes(steps)) (at least 1).
    Splitting is exact: the steps of a chunk run in order, the models are independent."""
    device = torch.device(device)
    free = None
    if budget is None:
        if device.type == "cuda":
            free = int(torch.cuda.mem_get_info(device)[0])
            budget = int(MEMORY_FRACTION * free)
        else:
            budget = CPU_BUDGET_BYTES
    itemsize = torch.empty((), dtype=dtype).element_size()
    steps = max(1, int(K))
    while steps > 8 and M * launch_bytes(steps, D, H, C, tally_groups, itemsize) > budget:
        steps = (steps + 1) // 2
    models = max(1, min(int(M), budget // max(1, launch_bytes(steps, D, H, C, tally_groups, itemsize))))
    return LaunchPlan(models, steps, int(budget), device_name(device), free)


def sgd_steps(stack: Stack, x: torch.Tensor, y: torch.Tensor, lr: torch.Tensor,
              tally_group: torch.Tensor | None = None, n_groups: int = 0, total: bool = True,
              plan: LaunchPlan | None = None) -> ChunkResult:
    """:func:`sgd_chunk` over a chunk of any size, in launches of ``plan.models`` models x
    ``plan.steps`` steps (default: :func:`launch_plan` for the stack's device). The same result as
    one call: the launches of one model group run its steps in order; tallies add up."""
    M, K, D = x.shape
    H, C = stack.W1.shape[1], stack.W2.shape[1]
    tallied = tally_group is not None and bool((tally_group >= 0).any())
    if plan is None:
        plan = launch_plan(M, K, D, H, C, n_groups if tallied else 0, stack.W1.dtype, stack.W1.device)
    if plan.models >= M and plan.steps >= K:
        return sgd_chunk(stack, x, y, lr, tally_group, n_groups, total)
    parts = []
    for m0 in range(0, M, plan.models):
        ms = slice(m0, min(M, m0 + plan.models))
        sub = Stack(stack.W1[ms], stack.b1[ms], stack.W2[ms], stack.b2[ms], stack.activations[ms])
        steps = []
        for k0 in range(0, K, plan.steps):
            ks = slice(k0, min(K, k0 + plan.steps))
            r = sgd_chunk(sub, x[ms, ks], y[ms, ks], lr[ms, ks],
                          None if tally_group is None else tally_group[ms, ks], n_groups, total)
            steps.append((k0, r))
        parts.append(_join_steps(steps, K))
    out = ChunkResult(torch.cat([p.loss for p in parts]), torch.cat([p.correct for p in parts]),
                      torch.cat([p.bad_step for p in parts]))
    for attr in ("tally", "total"):
        if any(getattr(p, attr) is not None for p in parts):
            ref = next(getattr(p, attr) for p in parts if getattr(p, attr) is not None)
            setattr(out, attr, {k: torch.cat([getattr(p, attr)[k] if getattr(p, attr) is not None
                                              else torch.zeros_like(ref[k][:1]).expand(len(p.loss), *ref[k].shape[1:])
                                              for p in parts]) for k in ref})
    return out


def _join_steps(steps: list[tuple[int, ChunkResult]], K: int) -> ChunkResult:
    """One ChunkResult from consecutive launches over the steps of the same models."""
    loss = torch.cat([r.loss for _, r in steps], 1)
    correct = torch.cat([r.correct for _, r in steps], 1)
    big = torch.full_like(steps[0][1].bad_step, K)
    first = big
    for k0, r in steps:
        first = torch.minimum(first, torch.where(r.bad_step >= 0, r.bad_step + k0, big))
    out = ChunkResult(loss, correct, torch.where(first < K, first, torch.full_like(first, -1)))
    for attr in ("tally", "total"):
        done = [getattr(r, attr) for _, r in steps if getattr(r, attr) is not None]
        if done:
            setattr(out, attr, {k: sum(d[k] for d in done) for k in done[0]})
    return out


def chunk_flops(M: int, K: int, D: int, H: int, C: int, tally_groups: int = 0) -> float:
    """Floating-point operations of :func:`sgd_chunk` (multiply-add = 2), dominated by the
    batched products: pre-activations ``2KDH``, Gram ``2K^2D`` (the whole K x K product is
    computed), fold ``2KHD``, the corrections ``K(K-1)H`` (step t gets ``t`` multiply-adds of
    length H: the strict lower triangle) and second layer ``~6KHC``; a tallied chunk adds
    ``2(G+1)KHD``."""
    per_model = 2 * K * D * H + 2 * K * K * D + 2 * K * H * D + K * (K - 1) * H + 6 * K * H * C + 12 * K * H
    if tally_groups:
        per_model += 2 * (tally_groups + 1) * K * H * (D + C)
    return float(M * per_model)


def reference_sgd(net: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float,
                  tally_group: Sequence[int] | None = None, n_groups: int = 0):
    """The plain per-sample PyTorch loop: for each sample, forward, cross-entropy, backward,
    ``torch.optim.SGD(lr).step()``. Returns per-step losses and, when ``tally_group`` is given, the
    tally ``{param: (n_groups, *shape)}`` of ``|theta_after - theta_before|`` per step and group.
    The oracle of the engine's tests, and the inner loop of the baseline benchmark."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    named = dict(net.named_parameters())
    tally = {k: p.new_zeros(n_groups, *p.shape) for k, p in named.items()} if tally_group is not None else None
    losses = []
    for t in range(len(y)):
        before = {k: p.detach().clone() for k, p in named.items()} if tally is not None else None
        opt.zero_grad()
        loss = F.cross_entropy(net(x[t:t + 1]), y[t:t + 1])
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if tally is not None and tally_group[t] >= 0:
            for k, p in named.items():
                tally[k][tally_group[t]] += (p.detach() - before[k]).abs()
    p0 = next(net.parameters())
    return torch.tensor(losses, dtype=p0.dtype, device=p0.device), tally


@torch.no_grad()
def predict(stack: Stack, x: torch.Tensor) -> torch.Tensor:
    """Logits (M, N, C) of every model of the stack on the same inputs x (N, D)."""
    x = x.to(stack.W1)
    z1 = torch.matmul(stack.W1, x.T).add_(stack.b1.unsqueeze(2)).transpose(1, 2)  # (M,N,H)
    h = torch.empty_like(z1)
    for a, s, e in stack.segments():
        h[s:e] = ACTIVATIONS[a].function(z1[s:e])
    return torch.baddbmm(stack.b2.unsqueeze(1), h, stack.W2.transpose(1, 2))
