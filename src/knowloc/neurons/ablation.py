"""Unit ablation: zeroing, mean-replacement, resampling; the ablation matrix, batched and direct.

An ablation of a set S of units of a layer replaces, on every evaluated sample i, the layer's
output for each unit u in S (the whole channel map for a conv unit):

* ``zero``:     out[i, u] <- 0
* ``mean``:     out[i, u] <- mean_j ref[j, u]          (mean over the reference samples j,
                                                        per position for a channel)
* ``resample``: out[i, u] <- ref[d(i), u]             (the output on a donor sample d(i) drawn
                                                        uniformly from the reference set with a
                                                        seeded generator, the same donor for every
                                                        unit of the set, so joint statistics hold)

The reference set is normally the training data (the callbacks use it); the test set is
evaluated. Per-class accuracy after an ablation: acc[S, c] = #{i: y_i = c, pred_i = c} / #{i: y_i = c};
the ablation matrix is drop[u, c] = acc_before[c] - acc[{u}, c] (a fraction; x100 for points).

Batched (:class:`AblationEvaluator`): the net is split at the layer (``prefix``, ``suffix``), the
prefix runs once over the test set, and the suffix runs on many ablated copies of the cached
layer output at once. When the suffix starts with a linear layer ``z = W h + b`` and the layer
is fully connected, the linear layer is not recomputed per ablation: ablating the set S changes
its pre-activation by a low-rank term, ``z_S = z + sum_{u in S} (r_u - h_u) W[:, u]`` (r_u the
replacement: 0, the mean, or the donor's value; for one unit the rank-1 update ``-h_u W[:, u]``
of zero ablation), so only the rest of the suffix runs on the ablated copies. Samples whose two
largest logits are closer than float rounding could tell apart are recomputed through the full
suffix, so the predictions are those of the full recomputation. Direct (:func:`ablation_matrix_direct`): one forward hook and one full
forward pass over the test set per unit, as hook-based attribution libraries loop.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import torch
from torch import nn

from knowloc.errors import ConfigValueError
from knowloc.neurons.options import ABLATIONS
from knowloc.neurons.trace import Trace, split_sequential
from knowloc.seeds import seed_stream


def _check_method(method: str) -> None:
    if method not in ABLATIONS:
        raise ConfigValueError("method", method, ABLATIONS)


def apply_ablation(out: torch.Tensor, masks: torch.Tensor, method: str = "zero",
                   mean: torch.Tensor | None = None, donors: torch.Tensor | None = None) -> torch.Tensor:
    """``(S, N, *feat)``: ``out`` ``(N, U, *rest)`` with, in copy s, the units ``masks[s]`` ablated.

    ``masks`` is a bool ``(S, U)``; ``mean`` ``(U, *rest)`` for ``mean``; ``donors`` ``(N, U, *rest)``
    (the layer output on each sample's donor) for ``resample``.
    """
    _check_method(method)
    m = masks.to(torch.bool).view(masks.shape[0], 1, masks.shape[1], *([1] * (out.ndim - 2)))
    if method == "zero":
        repl = torch.zeros((), dtype=out.dtype)
    elif method == "mean":
        if mean is None:
            raise ValueError("mean ablation needs the reference mean")
        repl = mean.to(out.dtype).unsqueeze(0)
    else:
        if donors is None:
            raise ValueError("resample ablation needs donor outputs")
        repl = donors.to(out.dtype)
    return torch.where(m, repl, out.unsqueeze(0))


def ablate(net: nn.Module, layer: str, units: Iterable[int], method: str = "zero", mean: torch.Tensor | None = None,
           donors: torch.Tensor | None = None) -> Trace:
    """Context manager ablating ``units`` of ``layer`` (any named module) in every forward pass:

    >>> with ablate(net, "act3", [3, 7]):
    ...     logits = net(x)

    ``mean``/``donors`` as from :func:`reference_for` (donors: one row per sample of the batch).
    """
    units = list(units)

    def edit(out):
        mask = torch.zeros(1, out.shape[1], dtype=torch.bool)
        mask[0, units] = True
        return apply_ablation(out, mask, method, mean, donors)[0]

    return Trace(net, layer, edit_output=edit, retain_output=False)


def _chunks(n: int, size: int) -> Iterable[slice]:
    for start in range(0, n, size):
        yield slice(start, min(n, start + size))


@torch.no_grad()
def layer_output(net: nn.Module, layer: str, x: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The output of ``layer`` on ``x`` (computed in batches of ``batch_size``)."""
    outs = []
    for sl in _chunks(len(x), batch_size):
        with Trace(net, layer) as t:
            net(x[sl])
        outs.append(t.output)
    return torch.cat(outs)


@torch.no_grad()
def reference_for(net: nn.Module, layer: str, method: str, reference_x: torch.Tensor | None, n_eval: int,
                  seed: int = 0, batch_size: int = 1000) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """``(mean, donors)`` for ``method``: the reference mean output ``(U, *rest)`` or the donor
    outputs ``(n_eval, U, *rest)`` (donor of sample i drawn with ``torch.Generator().manual_seed(seed)``)."""
    _check_method(method)
    if method == "zero":
        return None, None
    if reference_x is None or len(reference_x) == 0:
        raise ValueError(f"{method} ablation needs reference inputs")
    ref = layer_output(net, layer, reference_x, batch_size)
    if method == "mean":
        return ref.mean(0), None
    g = seed_stream(seed, "ablation/resample")
    return None, ref[torch.randint(len(ref), (n_eval,), generator=g)]


def collect(loader, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y)`` of a loader's batches, concatenated (the first ``limit`` samples when given)."""
    xs, ys, n = [], [], 0
    for x, y in loader:
        xs.append(x)
        ys.append(y)
        n += len(y)
        if limit is not None and n >= limit:
            break
    x, y = torch.cat(xs), torch.cat(ys)
    return (x[:limit], y[:limit]) if limit is not None else (x, y)


def reference_inputs(dm, reference_size: int | None = None) -> torch.Tensor:
    """Reference inputs of mean / resample ablation: the datamodule's whole training split
    (data-set order) when ``reference_size`` is None, else the first ``reference_size`` samples
    of its train loader."""
    split = getattr(dm, "train_split", None)
    if reference_size is None and split is not None and hasattr(split, "x"):
        return split.x
    return collect(dm.train_dataloader(), reference_size)[0]


def class_accuracy(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(S, C)`` per-class accuracy of predictions ``(S, N)`` (NaN for a class with no sample)."""
    onehot = nn.functional.one_hot(y, num_classes).to(torch.float64)
    correct = (pred == y.unsqueeze(0)).to(torch.float64)
    counts = onehot.sum(0)
    return (correct @ onehot) / counts.where(counts > 0, torch.nan)


def true_class_margin(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``logit_y - max_{c != y} logit_c`` for logits ``(..., N, C)`` and labels ``(N,)``."""
    idx = y.view(*([1] * (logits.ndim - 2)), -1, 1).expand(*logits.shape[:-1], 1)
    true = logits.gather(-1, idx).squeeze(-1)
    other = logits.scatter(-1, idx, float("-inf")).max(-1).values
    return true - other


class AblationEvaluator:
    """Per-class test accuracy of many unit ablations of one layer, batched.

    The layer output ``h = prefix(x)`` is computed once (in batches of ``batch_size``); each call
    of :meth:`class_accuracy` runs ``suffix`` on ablated copies of ``h``, ``S_b`` copies at a time
    with ``S_b·N·|feat| <= budget`` elements.
    """

    def __init__(self, net: nn.Module, layer: str, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                 method: str = "zero", reference_x: torch.Tensor | None = None, seed: int = 0,
                 batch_size: int = 1000, budget: int = 1 << 20):
        _check_method(method)
        self.net, self.layer, self.method, self.num_classes = net, layer, method, int(num_classes)
        self.prefix, self.suffix = split_sequential(net, layer)
        self.batch_size, self.budget = int(batch_size), int(budget)
        p = next(net.parameters(), None)  # inputs follow the net's device (and floating dtype)
        if p is not None:
            x = x.to(p.device, p.dtype if x.is_floating_point() else x.dtype)
            if reference_x is not None:
                reference_x = reference_x.to(p.device, p.dtype if reference_x.is_floating_point() else reference_x.dtype)
        self.y = y.long().to(x.device)
        with torch.no_grad():
            self.h = torch.cat([self.prefix(x[sl]) for sl in _chunks(len(x), self.batch_size)])
        self.mean, self.donors = reference_for(net, layer, method, reference_x, len(x), seed, self.batch_size)
        self.num_units = int(self.h.shape[1])
        self._low_rank_setup()
        self.pred_before = self.predictions(torch.zeros(1, self.num_units, dtype=torch.bool, device=self.h.device))[0]
        self.acc_before = class_accuracy(self.pred_before[None], self.y, self.num_classes)[0]

    # -- the low-rank way (the suffix starts with a linear layer) ----------------------------------
    #: a set of at most this fraction of the units takes the low-rank update (else the full suffix)
    LOW_RANK_FRACTION = 0.25
    #: near ties: top-2 logit gap <= NEAR_TIE * eps(dtype) * (|top logit| + 1) is recomputed in full
    NEAR_TIE = 4096

    @torch.no_grad()
    def _low_rank_setup(self) -> None:
        """``z = W h + b`` once, and ``diff = r - h`` (N, U), the change of each unit's value."""
        self.linear = None
        first = self.suffix[0] if len(self.suffix) else None
        if self.h.ndim != 2 or not isinstance(first, nn.Linear):
            return
        self.linear, self.rest = first, self.suffix[1:]
        self.z = torch.cat([first(self.h[sl]) for sl in _chunks(len(self.h), self.batch_size)])
        if self.method == "zero":
            self.diff = -self.h
        elif self.method == "mean":
            self.diff = self.mean.to(self.h.dtype).unsqueeze(0) - self.h
        else:
            self.diff = self.donors.to(self.h.dtype) - self.h
        self.diff_t = self.diff.t().contiguous()  # (U, N)
        self.weight_t = first.weight.detach().t().contiguous()  # (U, O): column u of W is row u here
        self.base_logits = self.rest(self.z)  # (N, C): nothing ablated

    def _rank1_rows(self, masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Single-unit masks: ``(s, i, logits (P, C))`` for the pairs (copy s, sample i) whose
        unit value changes (``diff != 0``; a relu unit is often 0 already, and then the copy's
        logits are the unablated ones), with ``z_s = z + diff[:, u] W[:, u]`` (rank 1)."""
        u = masks.to(torch.int8).argmax(1)
        d = self.diff_t[u] * masks.any(1).to(self.z.dtype).unsqueeze(1)  # (S, N)
        s, i = torch.nonzero(d, as_tuple=True)
        rows = torch.addcmul(self.z[i], d[s, i].unsqueeze(1), self.weight_t[u[s]])
        return s, i, self.rest(rows)

    def _low_rank_logits(self, masks: torch.Tensor, k: int) -> torch.Tensor:
        """Logits (S, N, C) with ``z_S = z + sum_{u in S} diff[:, u] W[:, u]`` (k = max |S|)."""
        S = masks.shape[0]
        if k == 0:
            return self.base_logits.unsqueeze(0).expand(S, -1, -1)
        if k == 1:
            s, i, rows = self._rank1_rows(masks)
            logits = self.base_logits.unsqueeze(0).repeat(S, 1, 1)
            logits[s, i] = rows
            return logits
        idx = masks.to(torch.int8).topk(k, dim=1)  # rank <= k: (S, N, k) x (S, k, O), padded slots weigh 0
        u, on = idx.indices, idx.values.to(self.z.dtype)
        d = self.diff_t[u] * on.unsqueeze(2)  # (S, k, N)
        zs = torch.baddbmm(self.z.unsqueeze(0).expand(S, -1, -1), d.transpose(1, 2), self.weight_t[u])
        n = self.h.shape[0]
        return self.rest(zs.reshape(S * n, -1)).view(S, n, -1)

    def _predict_rows(self, logits: torch.Tensor, s: torch.Tensor, i: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Predictions of rows ``logits`` (P, C) of pairs (copy s, sample i); where the top-2 gap is
        within rounding, from the full suffix on the ablated layer output."""
        if logits.shape[-1] < 2:
            return logits.argmax(-1)
        top, where = logits.topk(2, dim=-1)
        pred = where[:, 0].clone()  # exact ties are near ties: recomputed below with argmax
        eps = torch.finfo(logits.dtype).eps
        near = torch.nonzero((top[:, 0] - top[:, 1]) <= self.NEAR_TIE * eps * (top[:, 0].abs() + 1)).flatten()
        if len(near):
            sn, i_n = s[near], i[near]
            if self.method == "zero":
                repl = torch.zeros((), dtype=self.h.dtype, device=self.h.device)
            elif self.method == "mean":
                repl = self.mean.to(self.h.dtype).unsqueeze(0)
            else:
                repl = self.donors[i_n].to(self.h.dtype)
            pred[near] = self.suffix(torch.where(masks[sn], repl, self.h[i_n])).argmax(-1)
        return pred

    @torch.no_grad()
    def evaluate(self, masks: torch.Tensor, margins: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(pred, margin)``, both ``(S, N)``, with the units ``masks[s]`` (bool ``(S, U)``) ablated;
        margin_i = logit_{y_i} - max_{c != y_i} logit_c (> 0 iff sample i is classified right);
        ``margins=False`` skips them (None)."""
        masks = masks.to(device=self.h.device, dtype=torch.bool)
        k = int(masks.sum(1).max()) if masks.numel() else 0
        if self.linear is not None and k <= self.LOW_RANK_FRACTION * self.num_units:
            n, out = self.h.shape[0], self.z.shape[1]
            if not hasattr(self, "base_pred"):
                zero = torch.zeros(n, dtype=torch.long, device=self.h.device)
                self.base_pred = self._predict_rows(self.base_logits, zero, torch.arange(n, device=self.h.device),
                                                    masks.new_zeros(1, self.num_units))
            per = max(1, self.budget // max(1, n * out))
            preds, margin = [], []
            for sl in _chunks(masks.shape[0], per):
                m = masks[sl]
                S = m.shape[0]
                if k == 1 and not margins:  # only the changed pairs need a new prediction
                    s, i, rows = self._rank1_rows(m)
                    pred = self.base_pred.unsqueeze(0).repeat(S, 1)
                    pred[s, i] = self._predict_rows(rows, s, i, m)
                else:
                    logits = self._low_rank_logits(m, k)
                    s = torch.arange(S, device=m.device).repeat_interleave(n)
                    i = torch.arange(n, device=m.device).repeat(S)
                    pred = self._predict_rows(logits.reshape(S * n, -1), s, i, m).view(S, n)
                    if margins:
                        margin.append(true_class_margin(logits, self.y))
                preds.append(pred)
            return torch.cat(preds), (torch.cat(margin) if margins else None)
        n, feat = self.h.shape[0], self.h[0].numel()
        per = max(1, self.budget // max(1, n * feat))
        preds, margin = [], []
        for sl in _chunks(masks.shape[0], per):
            ablated = apply_ablation(self.h, masks[sl], self.method, self.mean, self.donors)
            logits = self.suffix(ablated.reshape(-1, *self.h.shape[1:])).view(ablated.shape[0], n, -1)
            preds.append(logits.argmax(-1))
            if margins:
                margin.append(true_class_margin(logits, self.y))
        return torch.cat(preds), (torch.cat(margin) if margins else None)

    def predictions(self, masks: torch.Tensor) -> torch.Tensor:
        """``(S, N)`` predicted classes with the units ``masks[s]`` (bool ``(S, U)``) ablated."""
        return self.evaluate(masks, margins=False)[0]

    def class_accuracy(self, masks: torch.Tensor) -> torch.Tensor:
        """``(S, C)`` per-class accuracy with the units ``masks[s]`` ablated."""
        return class_accuracy(self.predictions(masks), self.y, self.num_classes)

    def matrix(self) -> torch.Tensor:
        """``(U, C)`` accuracy after ablating each single unit."""
        return self.class_accuracy(torch.eye(self.num_units, dtype=torch.bool, device=self.h.device))

    def masks_of(self, sets: Sequence[Iterable[int]]) -> torch.Tensor:
        masks = torch.zeros(len(sets), self.num_units, dtype=torch.bool, device=self.h.device)
        for i, s in enumerate(sets):
            masks[i, list(s)] = True
        return masks


@torch.no_grad()
def ablation_matrix_direct(net: nn.Module, layer: str, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                           method: str = "zero", mean: torch.Tensor | None = None,
                           donors: torch.Tensor | None = None,
                           batch_size: int = 1000) -> tuple[torch.Tensor, torch.Tensor]:
    """The baseline: for each unit, one forward hook and one full forward pass over ``x``.

    Returns ``(acc (U, C), pred (U, N))``; ``mean``/``donors`` as from :func:`reference_for`.
    """
    num_units = int(layer_output(net, layer, x[:1]).shape[1])
    preds = torch.empty(num_units, len(x), dtype=torch.long)
    for u in range(num_units):
        mask = torch.zeros(1, num_units, dtype=torch.bool)
        mask[0, u] = True
        rows = {"sl": slice(0, 0)}

        def edit(out):
            d = donors[rows["sl"]] if donors is not None else None
            return apply_ablation(out, mask, method, mean, d)[0]

        with Trace(net, layer, edit_output=edit, retain_output=False):
            for sl in _chunks(len(x), batch_size):
                rows["sl"] = sl
                preds[u, sl] = net(x[sl]).argmax(-1)
    return class_accuracy(preds, y.long(), num_classes), preds
