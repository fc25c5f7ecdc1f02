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
