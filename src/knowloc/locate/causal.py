"""Causal validation: ablate each method's top-k units (k = 1 ... K) and measure what is lost.

For method m, class c, its unit order o (highest score first) and S_k = {o_1, ..., o_k}, all
M x C x K sets evaluated in one batched call of :meth:`knowloc.neurons.AblationEvaluator.class_accuracy`:

    drop_c(k)      = acc_c(before) - acc_c(S_k)
    drop_other(k)  = mean over c' != c of (acc_c'(before) - acc_c'(S_k))
    selectivity(k) = drop_c(k) - drop_other(k)
    area           = (1/K) sum_{k=1..K} selectivity(k)          (in [-1, 1])
    knockout k     = the smallest k with acc_c(S_k) < target_acc and
                     max over c' != c of (acc_c'(before) - acc_c'(S_k)) < max_other_drop
                     (the criteria of ``experiment=ablation``; none: not met up to K)

When the net after the layer starts with a Linear ``z = W h + b`` (MLP, LeNet-5's fc2) and the
layer's output is a vector, the sets are nested, so z(S_k) = z(S_{k-1}) + W[:, o_k] (r_{o_k} - h_{o_k})
with r the replacement value (0, the reference mean, or the donor's value): one rank-1 update per
k instead of a pass over the ablated copy (:func:`topk_accuracy`; the same numbers as the evaluator).
"""

from __future__ import annotations

import numpy as np
import torch


def topk_accuracy(ev, orders: list[np.ndarray], masks: torch.Tensor) -> torch.Tensor:
    """``(len(orders) * K, C)`` per-class accuracy after ablating the first k units of each order
    (k = 1 ... K); the rank-1 path of the module doc when it applies, else ``ev.class_accuracy(masks)``."""
    from torch import nn

    from knowloc.neurons.ablation import class_accuracy

    first = ev.suffix[0] if len(ev.suffix) else None
    if not isinstance(first, nn.Linear) or ev.h.ndim != 2:
        return ev.class_accuracy(masks).double()
    h = ev.h
    if ev.method == "zero":
        repl = torch.zeros_like(h)
    elif ev.method == "mean":
        repl = ev.mean.to(h.dtype).expand_as(h)
    else:
        repl = ev.donors.to(h.dtype)
    delta = repl - h  # (N, U)
    rest = ev.suffix[1:]
    W = first.weight.detach()
    preds = []
    with torch.no_grad():
        z0 = first(h)
        for order in orders:
            o = torch.as_tensor(np.ascontiguousarray(order))
            z = z0 + torch.cumsum(delta[:, o].T.unsqueeze(2) * W[:, o].T.unsqueeze(1), 0)  # (K, N, H)
            preds.append(rest(z.reshape(-1, z.shape[-1])).argmax(-1).view(len(o), -1))
    return class_accuracy(torch.cat(preds), ev.y, ev.num_classes)


def causal_curves(evaluator, orders: dict[str, np.ndarray], classes: list[int], max_k: int,
                  target_acc: float = 0.2, max_other_drop: float = 0.05) -> tuple[list[dict], list[dict]]:
    """``(curve rows, summary rows)``: one curve row per (method, class, k), one summary row per
    (method, class) with ``area`` and ``knockout_k`` (None when not met)."""
    U, C = evaluator.num_units, evaluator.num_classes
    K = min(int(max_k), U)
    before = evaluator.acc_before.double().numpy()
    keys = [(m, c) for m in orders for c in classes]
    masks = torch.zeros(len(keys) * K, U, dtype=torch.bool)
    for i, (m, c) in enumerate(keys):
        order = torch.as_tensor(orders[m][c][:K].copy())
        for k in range(K):
            masks[i * K + k, order[: k + 1]] = True
    acc = topk_accuracy(evaluator, [orders[m][c][:K] for m, c in keys], masks).numpy().reshape(len(keys), K, C)
    rows, summary = [], []
    for i, (m, c) in enumerate(keys):
        others = [o for o in range(C) if o != c and np.isfinite(before[o])]
        drop = before[None] - acc[i]  # (K, C)
        sel = drop[:, c] - (drop[:, others].mean(1) if others else 0.0)
        worst = drop[:, others].max(1) if others else np.zeros(K)
        met = np.nonzero((acc[i][:, c] < target_acc) & (worst < max_other_drop))[0]
        for k in range(K):
            rows.append({"method": m, "class": c, "k": k + 1, "unit": int(orders[m][c][k]),
                         "acc_target": acc[i, k, c], "acc_others": float(acc[i, k, others].mean()) if others else np.nan,
                         "drop_target": drop[k, c], "drop_others": float(drop[k, others].mean()) if others else 0.0,
                         "max_other_drop": float(worst[k]), "selectivity": float(sel[k])})
        summary.append({"method": m, "class": c, "area": float(np.mean(sel)),
                        "knockout_k": int(met[0]) + 1 if len(met) else None,
                        "drop_target_k1": float(drop[0, c])})
    return rows, summary
