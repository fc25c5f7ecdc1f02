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
"""

from __future__ import annotations

import numpy as np
import torch


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
    acc = evaluator.class_accuracy(masks).double().numpy().reshape(len(keys), K, C)
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
