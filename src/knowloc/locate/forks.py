"""Fork continuation with per-unit update tallies, batched over the forks.

From the trained net, C + 1 copies train on for ``epochs`` passes over the training set in one
seeded order, in batches of B consecutive samples, by plain SGD on the mean cross-entropy of the
batch: copy ``c`` (c < C) skips the class-c samples of every batch ("without c"), copy ``C`` keeps
them all ("all"). So the forks see the same batches except the removed class. The C forks train
together as one stacked model (``torch.func.stack_module_state`` + ``vmap``), the "all" copy as a
plain module whose step also yields the tally.

``scope``: ``head`` (default) trains the weight layer of the units and every layer after it; the
layers before it (LeNet-5's convolutions) are shared and frozen, so their features are computed
once for the whole training set; ``all`` trains every layer of every copy.

Per-unit tally of the weight layer ``W`` (a Linear: z = W x + b) of the units, for the "all" copy:
a step changes unit u's incoming weights by ``Delta W[u, :] = -lr sum_i dz_iu x_i`` and its bias by
``-lr sum_i dz_iu``, where dz_iu = d(mean batch loss)/dz_iu. Sample i's share of that update has
size

    |Delta W_i[u, :]|_1 + |Delta b_i[u]| = lr |dz_iu| (|x_i|_1 + 1)

and ``tally[c, u]`` sums it over the class-c samples of every step. With batch size 1 this is
exactly the step's |Delta theta| of u's incoming weights and bias (the UpdateTally of
:mod:`knowloc.localization`, per unit).

Fork distance: ``D[c, u] = |W_c[u, :] - W_all[u, :]|_1 + |b_c[u] - b_all[u]|``.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, stack_module_state, vmap

from knowloc.neurons.trace import Trace
from knowloc.seeds import seed_stream


@dataclass
class ForkResult:
    tally: torch.Tensor      # (C, U) float64: per-class tally of the "all" copy
    distance: torch.Tensor   # (C, U) float64: D[c, u]
    steps: int               # SGD steps of each copy
    seconds: float


def weight_layer(net: nn.Module, layer: str) -> str:
    """The name of the last Linear at or before ``layer`` among the net's children (its units'
    incoming weights), e.g. ``act3`` -> ``fc1`` in LeNet-5."""
    from knowloc.errors import ConfigValueError

    names = [n for n, _ in net.named_children()]
    if layer not in names:
        raise ConfigValueError("layer", layer, names)
    children = dict(net.named_children())
    for name in reversed(names[: names.index(layer) + 1]):
        if isinstance(children[name], nn.Linear):
            return name
        if isinstance(children[name], nn.Conv2d):
            break
    raise ConfigValueError("layer", layer, "a layer at or after a Linear layer with no conv between "
                           "(the tally and fork methods score a Linear's output units), e.g. fc1 or act3")


def _loss(net, params, buffers, x, y, keep):
    ce = F.cross_entropy(functional_call(net, (params, buffers), (x,)), y, reduction="none")
    return (ce * keep).sum() / keep.sum().clamp_min(1.0)


def split_at(net: nn.Module, name: str) -> tuple[nn.Sequential, nn.Sequential]:
    """``(prefix, head)``: the children before ``name`` and from ``name`` on (copies)."""
    children = list(net.named_children())
    i = [n for n, _ in children].index(name)
    prefix = nn.Sequential(OrderedDict((n, copy.deepcopy(m)) for n, m in children[:i]))
    head = nn.Sequential(OrderedDict((n, copy.deepcopy(m)) for n, m in children[i:]))
    return prefix, head


def continue_forks(net: nn.Module, layer: str, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                   epochs: int = 1, lr: float = 0.05, batch_size: int = 64, seed: int = 0,
                   scope: str = "head") -> ForkResult:
    """Train the C forks and the "all" copy from ``net`` (left unchanged) and return the tally and
    the fork distance of the units of ``layer`` (see the module doc)."""
    import time

    t0 = time.perf_counter()
    C, wname = int(num_classes), weight_layer(net, layer)
    if scope == "head":
        prefix, net = split_at(net, wname)
        with torch.no_grad():
            prefix.eval()
            x = torch.cat([prefix(x[i:i + 1000]) for i in range(0, len(x), 1000)])
    full = copy.deepcopy(net).train()
    forks = [copy.deepcopy(net).train() for _ in range(C)]
    params, buffers = stack_module_state(forks)
    params = {k: v.detach() for k, v in params.items()}
    base = copy.deepcopy(net).to("meta")
    step_grad = vmap(grad(lambda p, b, xx, yy, kk: _loss(base, p, b, xx, yy, kk)), in_dims=(0, 0, None, None, 0))
    classes = torch.arange(C).unsqueeze(1)
    tally = torch.zeros(C, getattr(full, wname).out_features, dtype=torch.float64)
    has_bias = 0.0 if getattr(full, wname).bias is None else 1.0
    opt = torch.optim.SGD(full.parameters(), lr=lr)
    g = seed_stream(seed, "locate/fork_order")
    steps = 0
    for _ in range(int(epochs)):
        order = torch.randperm(len(y), generator=g)
        for start in range(0, len(y), batch_size):
            idx = order[start:start + batch_size]
            xb, yb = x[idx], y[idx]
            keep = (yb.unsqueeze(0) != classes).to(x.dtype)  # (C, B): fork c skips class c
            grads = step_grad(params, buffers, xb, yb, keep)
            params = {k: params[k] - lr * grads[k] for k in params}
            opt.zero_grad()
            with Trace(full, wname, detach=False) as t:
                inp = {}
                h = getattr(full, wname).register_forward_pre_hook(lambda m, a: inp.update(x=a[0].detach()))
                try:
                    out = full(xb)
                finally:
                    h.remove()
                z = t.output
                z.retain_grad()
                F.cross_entropy(out, yb).backward()
            opt.step()
            per = lr * z.grad.detach().abs().double() * (inp["x"].abs().sum(1, keepdim=True).double() + has_bias)
            tally.index_add_(0, yb, per)
            steps += 1
    wf, bf = params[f"{wname}.weight"], params.get(f"{wname}.bias")
    wa, ba = getattr(full, wname).weight.detach(), getattr(full, wname).bias
    dist = (wf - wa.unsqueeze(0)).abs().sum(2).double()
    if bf is not None:
        dist += (bf - ba.detach().unsqueeze(0)).abs().double()
    return ForkResult(tally, dist, steps, time.perf_counter() - t0)
