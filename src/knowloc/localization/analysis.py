"""Does the size of each parameter's updates due to a class predict where knowledge of that class
lives? Per parameter tensor: r (update tally share) vs d (fork difference share).

    r_g = T_g / sum_h T_h          T_g: tally of group g (UpdateTally), e.g. r = A / (A + B)
    D_g = mean over pairs (i, j) of forks dropping a sub-class of g of |theta_i - theta_j|
          e.g. D_A = |theta(1 vs 6/8) - theta(7 vs 6/8)|
    d_g = D_g / sum_h D_h          e.g. d = D_A / (D_A + D_B)

Statistics of r_0 vs d_0 over the parameters of a tensor (NaN entries dropped): Pearson with the
Fisher-z 95% interval ``tanh(atanh(rho) +- z_{.975} / sqrt(n - 3))``; Spearman with the
Fieller-Hartley-Pearson interval (standard error ``sqrt(1.06 / (n - 3))``); Welch's t-test of d
between parameters whose updates came mostly from group 0 (r > 1/2) and the others (r < 1/2);
the seed write-up's test (:func:`welch_by_d`): Welch's t-test of r between the floor(n/2)
parameters with the largest d and the floor(n/2) with the smallest (the middle one of an odd n
left out), per tensor and for the pooled biases (row ``biases``: every ``*.bias`` tensor together).
The pixel map: for each input pixel j, the Pearson correlation over hidden units of r vs d of the
weights leaving pixel j (``fc1.weight[:, j]``).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

Z975 = 1.959963984540054


def share(t: torch.Tensor) -> torch.Tensor:
    """``t[g] / sum_h t[h]`` along dim 0 (NaN where the sum is 0)."""
    t = t.double()
    s = t.sum(0, keepdim=True)
    return torch.where(s > 0, t / s.clamp_min(1e-300), torch.full_like(t, float("nan")))


def fork_distance(forks: torch.Tensor, fork_groups: Sequence[int], n_groups: int) -> torch.Tensor:
    """``D`` (G, *shape) from the forks' weights (F, *shape): per group, the mean over pairs of
    its forks of ``|theta_i - theta_j|`` (NaN for a group with fewer than two forks)."""
    out = []
    for g in range(n_groups):
        idx = [i for i, fg in enumerate(fork_groups) if fg == g]
        pairs = [(i, j) for a, i in enumerate(idx) for j in idx[a + 1:]]
        if not pairs:
            out.append(torch.full(forks.shape[1:], float("nan"), dtype=torch.float64))
            continue
        out.append(torch.stack([(forks[i].double() - forks[j].double()).abs() for i, j in pairs]).mean(0))
    return torch.stack(out)


def _correlation_ci(a: np.ndarray, b: np.ndarray, ranks: bool, var_factor: float) -> tuple[float, float, float, int]:
    """(rho, low, high, n) over the finite pairs: rho = corr(a, b) (of their ranks when ``ranks``),
    interval tanh(atanh(rho) ± z_0.975 · sqrt(var_factor / (n - 3)))."""
    from scipy import stats

    ok = np.isfinite(a) & np.isfinite(b)
    a, b = a[ok], b[ok]
    n = len(a)
    if n < 4 or a.std() == 0 or b.std() == 0:
        return math.nan, math.nan, math.nan, n
    if ranks:
        a, b = stats.rankdata(a), stats.rankdata(b)
    rho = float(np.corrcoef(a, b)[0, 1])
    z, half = math.atanh(min(max(rho, -0.9999999), 0.9999999)), Z975 * math.sqrt(var_factor / (n - 3))
    return rho, math.tanh(z - half), math.tanh(z + half), n


def pearson_ci(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, int]:
    """(rho, low, high, n): Pearson correlation with the Fisher-z 95% interval (se 1/sqrt(n-3))."""
    return _correlation_ci(a, b, ranks=False, var_factor=1.0)


def spearman_ci(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, int]:
    """(rho_s, low, high, n): Spearman correlation, interval with standard error sqrt(1.06/(n-3))."""
    return _correlation_ci(a, b, ranks=True, var_factor=1.06)


def welch(r: np.ndarray, d: np.ndarray) -> tuple[float, float, float, float]:
    """(t, p, mean d where r > 1/2, mean d where r < 1/2): Welch's t-test of d between the two sets."""
    from scipy import stats

    ok = np.isfinite(r) & np.isfinite(d)
    hi, lo = d[ok & (r > 0.5)], d[ok & (r < 0.5)]
    if len(hi) < 2 or len(lo) < 2:
        return math.nan, math.nan, float(hi.mean()) if len(hi) else math.nan, float(lo.mean()) if len(lo) else math.nan
    t, p = stats.ttest_ind(hi, lo, equal_var=False)
    return float(t), float(p), float(hi.mean()), float(lo.mean())


def welch_by_d(r: np.ndarray, d: np.ndarray) -> tuple[float, float, float, float]:
    """(t, p, mean r of the top half by d, mean r of the bottom half): Welch's t-test of r between
    the floor(n/2) finite (r, d) pairs with the largest d and the floor(n/2) with the smallest
    (ties in d broken by position, stable sort)."""
    from scipy import stats

    ok = np.isfinite(r) & np.isfinite(d)
    r, d = r[ok], d[ok]
    half = len(r) // 2
    if half < 2:
        return math.nan, math.nan, math.nan, math.nan
    order = np.argsort(d, kind="stable")
    low, top = r[order[:half]], r[order[-half:]]
    t, p = stats.ttest_ind(top, low, equal_var=False)
    return float(t), float(p), float(top.mean()), float(low.mean())


def _stats_row(name: str, r: np.ndarray, d: np.ndarray) -> dict:
    p, plo, phi, n = pearson_ci(r, d)
    s, slo, shi, _ = spearman_ci(r, d)
    wt, wp, dhi, dlo = welch(r, d)
    ht, hp, rtop, rlow = welch_by_d(r, d)
    return {"param": name, "n": n, "pearson": p, "pearson_low": plo, "pearson_high": phi,
            "spearman": s, "spearman_low": slo, "spearman_high": shi,
            "welch_t": wt, "welch_p": wp, "d_mean_r_above_half": dhi, "d_mean_r_below_half": dlo,
            "welch_r_by_d_t": ht, "welch_r_by_d_p": hp, "r_mean_top_half_d": rtop, "r_mean_bottom_half_d": rlow,
            "r_mean": float(np.nanmean(r)) if np.isfinite(r).any() else math.nan,
            "d_mean": float(np.nanmean(d)) if np.isfinite(d).any() else math.nan}


def pixel_map(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Per input pixel j: Pearson over hidden units of r[:, j] vs d[:, j] (r, d: (H, D)); NaN
    where a column has fewer than 4 finite pairs or no spread."""
    ok = np.isfinite(r) & np.isfinite(d)
    n = ok.sum(0)
    rz, dz = np.where(ok, r, 0.0), np.where(ok, d, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mr, md = rz.sum(0) / n, dz.sum(0) / n
        cr, cd = np.where(ok, r - mr, 0.0), np.where(ok, d - md, 0.0)
        rho = (cr * cd).sum(0) / np.sqrt((cr ** 2).sum(0) * (cd ** 2).sum(0))
    return np.where((n >= 4) & np.isfinite(rho), rho, np.nan)


def analyze(tally: dict[str, torch.Tensor], forks: dict[str, torch.Tensor], fork_groups: Sequence[int],
            group: int = 0) -> dict:
    """``{"r": {param: array}, "d": ..., "stats": [row per param], "pixel_map": (D,) array}`` for
    one model: ``tally[param]`` (G, *shape), ``forks[param]`` (F, *shape)."""
    out: dict = {"r": {}, "d": {}, "stats": []}
    for name, t in tally.items():
        G = t.shape[0]
        r = share(t)[group].numpy()
        d = share(fork_distance(forks[name], fork_groups, G))[group].numpy()
        out["r"][name], out["d"][name] = r, d
        out["stats"].append(_stats_row(name, r.ravel(), d.ravel()))
    biases = [k for k in out["r"] if k.endswith(".bias")]
    if len(biases) > 1:  # the pooled biases (statistics only; no scatter panel)
        out["stats"].append(_stats_row("biases", np.concatenate([out["r"][k].ravel() for k in biases]),
                                       np.concatenate([out["d"][k].ravel() for k in biases])))
    if "fc1.weight" in out["r"]:
        out["pixel_map"] = pixel_map(out["r"]["fc1.weight"], out["d"]["fc1.weight"])
    return out


def results(stats: list[dict], prefix: str = "localization") -> dict[str, float]:
    """Scalar results with stable names: ``localization/pearson/fc1.weight``, ``.../pearson_low/...``."""
    out = {}
    for row in stats:
        for k, v in row.items():
            if k != "param":
                out[f"{prefix}/{k}/{row['param']}"] = v
    return out


# -- figures ---------------------------------------------------------------------------------------
def scatter_figure(r: dict[str, np.ndarray], d: dict[str, np.ndarray], stats: list[dict], small: bool):
    """r vs d per tensor; small markers show the per-hidden-unit clusters of fc1.weight (colour =
    hidden unit)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(r)
    fig, axes = plt.subplots(1, len(names), figsize=(3.4 * len(names), 3.4), squeeze=False)
    by = {s["param"]: s for s in stats}
    for ax, name in zip(axes[0], names):
        rr, dd = r[name], d[name]
        size = (0.3 if rr.size > 5000 else 3) if small else 12
        if small and rr.ndim == 2:
            colour = np.broadcast_to(np.arange(rr.shape[0])[:, None], rr.shape).ravel()
            ax.scatter(rr.ravel(), dd.ravel(), s=size, c=colour, cmap="hsv", alpha=0.6, linewidths=0)
        else:
            ax.scatter(rr.ravel(), dd.ravel(), s=size, alpha=0.5 if small else 0.35, linewidths=0)
        s = by[name]
        ax.set_title(f"{name}\nPearson {s['pearson']:.3f} [{s['pearson_low']:.3f}, {s['pearson_high']:.3f}]",
                     fontsize=9)
        ax.set_xlabel("r = A / (A + B)")
        ax.set_xlim(-0.02, 1.02)
        ax.set_ylim(-0.02, 1.02)
        ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls=":")
    axes[0][0].set_ylabel("d = D_A / (D_A + D_B)")
    fig.tight_layout()
    return fig


def pixel_map_figure(rho: np.ndarray, title: str = "r-vs-d correlation of the weights leaving each pixel"):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    side = int(round(math.sqrt(len(rho))))
    img = rho.reshape(side, side) if side * side == len(rho) else rho.reshape(1, -1)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    im = ax.imshow(img, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(im, ax=ax, fraction=0.046, label="Pearson r vs d")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return fig
