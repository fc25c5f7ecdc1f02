"""Small statistics shared by the analyses: mean with a t confidence interval over seeds."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, low, high, std) with the two-sided t interval: mean ± t_{(1+level)/2, n-1} · s/√n.

    With one value the interval is (nan, nan): one seed gives no interval.
    """
    from scipy import stats

    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    n = len(x)
    if n == 0:
        return (math.nan,) * 4
    m = float(x.mean())
    if n == 1:
        return m, math.nan, math.nan, math.nan
    s = float(x.std(ddof=1))
    half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * s / math.sqrt(n)
    return m, m - half, m + half, s


#: ``auto`` intervals: the scale a metric's name implies (values outside the range fall back to t)
LOGIT, FISHER_Z, T = "logit t", "Fisher-z t", "t"
EPS = 1e-3


def interval_method(metric: str, values: Sequence[float], method: str = "auto") -> str:
    """The interval for ``metric``: ``logit t`` for accuracies and other fractions in [0, 1]
    (names with ``acc``/``frac``/``rate``), ``Fisher-z t`` for correlations in [-1, 1] (``pearson``,
    ``spearman``, ``corr``), else a plain ``t`` interval."""
    if method != "auto":
        return {"logit": LOGIT, "fisher": FISHER_Z, "t": T}[method]
    name = metric.lower()
    x = [v for v in values if v is not None and math.isfinite(v)]
    if any(w in name for w in ("acc", "frac", "rate")) and all(0 <= v <= 1 for v in x):
        return LOGIT
    if any(w in name for w in ("pearson", "spearman", "corr")) and all(-1 <= v <= 1 for v in x):
        return FISHER_Z
    return T


def ranged_mean_ci(values: Sequence[float], level: float = 0.95, method: str = T
                   ) -> tuple[float, float, float, float]:
    """(mean, low, high, std): the arithmetic mean and std of the values, and a t interval taken
    on a scale that keeps it in range, mapped back:

    - ``logit t``: z_i = logit(clip(x_i, ε, 1-ε)), ε = 1e-3; interval = expit(z̄ ± t·s_z/√n) ⊂ (0, 1);
    - ``Fisher-z t``: z_i = atanh(clip(x_i, -1+ε, 1-ε)); interval = tanh(z̄ ± t·s_z/√n) ⊂ (-1, 1);
    - ``t``: x̄ ± t_{(1+level)/2, n-1}·s/√n (:func:`mean_ci`).

    One value gives no interval (nan, nan).
    """
    m, lo, hi, sd = mean_ci(values, level)
    if method == T or math.isnan(lo):
        return m, lo, hi, sd
    x = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if method == LOGIT:
        p = np.clip(x, EPS, 1 - EPS)
        z, back = np.log(p / (1 - p)), (lambda t: 1 / (1 + math.exp(-t)))
    elif method == FISHER_Z:
        z, back = np.arctanh(np.clip(x, -1 + EPS, 1 - EPS)), math.tanh
    else:
        raise ValueError(f"unknown interval method {method!r}")
    _, zlo, zhi, _ = mean_ci(z.tolist(), level)
    return m, back(zlo), back(zhi), sd


def paired_t(diffs: Sequence[float], level: float = 0.95) -> dict:
    """Paired comparison from per-pair differences d_i = x_variant,i - x_baseline,i:
    mean d̄, interval d̄ ± t_{(1+level)/2, n-1}·s_d/√n, t = d̄/(s_d/√n) and the two-sided
    p = 2·P(T_{n-1} > |t|). With s_d = 0 (all differences equal): t = ±inf, p = 0 (or 1 if d̄ = 0)."""
    from scipy import stats

    d = np.asarray(diffs, dtype=float)
    n = len(d)
    out = {"n_pairs": n, "mean_diff": float(d.mean()) if n else math.nan, "ci_low": math.nan,
           "ci_high": math.nan, "std_diff": math.nan, "t": math.nan, "p": math.nan}
    if n < 2:
        return out
    m, lo, hi, sd = mean_ci(d.tolist(), level)
    se = sd / math.sqrt(n)
    if se == 0:
        t, p = (0.0, 1.0) if m == 0 else (math.copysign(math.inf, m), 0.0)
    else:
        t = m / se
        p = float(2 * stats.t.sf(abs(t), n - 1))
    out.update(ci_low=lo, ci_high=hi, std_diff=sd, t=t, p=p)
    return out


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjustment: with p_(1) <= ... <= p_(m),
    p̃_(i) = max_{j <= i} min(1, (m - j + 1)·p_(j)); NaNs stay NaN and do not count in m."""
    idx = [i for i, p in enumerate(pvalues) if p is not None and math.isfinite(p)]
    out = [math.nan] * len(pvalues)
    m, running = len(idx), 0.0
    for rank, i in enumerate(sorted(idx, key=lambda i: pvalues[i])):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        out[i] = running
    return out
