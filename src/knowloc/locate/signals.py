"""The per-unit scores of every method, as ``(U, C)`` arrays (unit u, class c; higher = class c
lives more in u). Formulas in :mod:`knowloc.locate.options`.

* :func:`unit_statistics`: one pass over the training set with the trained net, per-sample
  gradients of each sample's own loss, accumulated in :class:`knowloc.neurons.UnitClassStats`
  (mean activation, mean |dl/da|, activation-weighted class images for the explorer).
* :func:`attribution_scores`: captum's ``LayerConductance`` or ``LayerIntegratedGradients``
  (baseline: a zero input) towards logit c, averaged over the first ``samples`` class-c samples.
* :func:`ablation_scores`: the single-unit ablation matrix of
  :class:`knowloc.neurons.AblationEvaluator`.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from knowloc.neurons.statistics import UnitClassStats
from knowloc.neurons.trace import Trace, get_layer, unit_grads, unit_values
from knowloc.seeds import numpy_stream


def share_over_classes(m: np.ndarray) -> np.ndarray:
    """``m[u, c] / sum_c' m[u, c']`` (NaN where the row sums to 0): A / (A + B) with B = the other classes."""
    s = m.sum(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(s > 0, m / np.where(s > 0, s, 1.0), np.nan)


def contrast(m: np.ndarray) -> np.ndarray:
    """``m[u, c] - mean over c' != c of m[u, c']``."""
    C = m.shape[1]
    return m - (m.sum(1, keepdims=True) - m) / max(1, C - 1)


def unit_statistics(net: nn.Module, layer: str, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                    batch_size: int = 500, images: bool = True) -> dict:
    """``UnitClassStats.summary()`` of ``layer`` over (x, y): every sample counted once, the
    gradient of its own cross-entropy (sum over the batch, so per sample)."""
    stats = None
    was = net.training
    net.eval()
    try:
        for start in range(0, len(y), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            with Trace(net, layer, detach=False) as t:
                out = net(xb)
                a = t.output
                a.retain_grad()
                nn.functional.cross_entropy(out, yb, reduction="sum").backward()
            if stats is None:
                stats = UnitClassStats(a.shape[1], num_classes, tuple(xb.shape[1:]) if images else None, k=1)
            stats.update(unit_values(a.detach()), unit_grads(a.grad), yb, xb if images else None)
    finally:
        net.zero_grad(set_to_none=True)
        net.train(was)
    return stats.summary()


def attribution_scores(net: nn.Module, layer: str, x: torch.Tensor, y: torch.Tensor, num_classes: int,
                       method: str = "conductance", steps: int = 16, samples: int = 100) -> np.ndarray:
    """``(U, C)``: mean over the first ``samples`` class-c samples of captum's attribution of unit u
    (spatial sum for a channel) towards logit c; NaN for a class without samples."""
    from captum.attr import LayerConductance, LayerIntegratedGradients

    module = get_layer(net, layer)
    algo = (LayerConductance if method == "conductance" else LayerIntegratedGradients)(net, module)
    was = net.training
    net.eval()
    cols = []
    try:
        for c in range(num_classes):
            xc = x[y == c][:samples]
            if len(xc) == 0:
                cols.append(None)
                continue
            attr = algo.attribute(xc, baselines=torch.zeros_like(xc), target=c, n_steps=int(steps),
                                  internal_batch_size=max(len(xc), 1) * int(steps))
            attr = attr if attr.ndim == 2 else attr.flatten(2).sum(2)
            cols.append(attr.detach().double().mean(0).numpy())
    finally:
        net.zero_grad(set_to_none=True)
        net.train(was)
    U = next(len(c) for c in cols if c is not None)
    return np.stack([c if c is not None else np.full(U, np.nan) for c in cols], 1)


def ablation_scores(evaluator) -> tuple[np.ndarray, np.ndarray]:
    """``(drop (U, C), acc_after (U, C))``: drop[u, c] = acc_before[c] - acc[{u}, c]."""
    after = evaluator.matrix().numpy()
    return evaluator.acc_before.numpy()[None] - after, after


def random_scores(num_units: int, num_classes: int, seed: int) -> np.ndarray:
    """``(U, C)``: an independent seeded random permutation of the units per class."""
    g = numpy_stream(seed, "locate/random")
    return np.stack([g.permutation(num_units).astype(np.float64) for _ in range(num_classes)], 1)


def ranking(scores: np.ndarray) -> np.ndarray:
    """``(C, U)`` unit order per class, highest score first (NaN last, ties by unit index)."""
    s = np.where(np.isfinite(scores), scores, -np.inf)
    return np.stack([np.argsort(-s[:, c], kind="stable") for c in range(s.shape[1])])
