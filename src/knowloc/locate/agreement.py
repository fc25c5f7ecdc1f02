"""Agreement between two methods' unit scores for one class, then averaged over classes.

* Spearman: Pearson correlation of the ranks (average ranks for ties) of the two score vectors
  over the units where both are finite; NaN when either has no spread.
* Top-k overlap: |top_k(a) ∩ top_k(b)| / k, top_k from :func:`knowloc.locate.signals.ranking`.

A method agrees with itself: Spearman 1 (when its scores vary) and overlap 1.
"""

from __future__ import annotations

import numpy as np

from knowloc.locate.signals import ranking


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    ra, rb = stats.rankdata(a[ok]), stats.rankdata(b[ok])
    return float(np.corrcoef(ra, rb)[0, 1])


def overlap(order_a: np.ndarray, order_b: np.ndarray, k: int) -> float:
    k = min(int(k), len(order_a))
    return len(set(order_a[:k].tolist()) & set(order_b[:k].tolist())) / k


def agreement_rows(scores: dict[str, np.ndarray], classes: list[int], ks=(5, 10, 20)) -> list[dict]:
    """One row per (method_a, method_b, class) with ``spearman`` and ``overlap@k``."""
    orders = {m: ranking(s) for m, s in scores.items()}
    rows = []
    for a in scores:
        for b in scores:
            for c in classes:
                row = {"method_a": a, "method_b": b, "class": c,
                       "spearman": spearman(scores[a][:, c], scores[b][:, c])}
                row.update({f"overlap@{k}": overlap(orders[a][c], orders[b][c], k) for k in ks})
                rows.append(row)
    return rows


def agreement_matrix(rows: list[dict], methods: list[str], key: str) -> np.ndarray:
    """``(M, M)`` mean over classes of ``key`` (NaN-aware)."""
    out = np.full((len(methods), len(methods)), np.nan)
    for i, a in enumerate(methods):
        for j, b in enumerate(methods):
            v = [r[key] for r in rows if r["method_a"] == a and r["method_b"] == b and np.isfinite(r[key])]
            if v:
                out[i, j] = float(np.mean(v))
    return out
