"""Figures of ``knowloc compare``: bars with interval whiskers (one ``--by`` key or paired
differences) and a heat map of means (a grid of two ``--by`` keys)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bars(df, by: Sequence[str], value: str, ylabel: str, title: str, path: Path) -> None:
    """One bar per row: ``value`` with whiskers to ``ci_low``/``ci_high`` (none where there is no interval)."""
    import numpy as np

    plt = _plt()
    labels = [" / ".join(str(r[b]) for b in by) for _, r in df.iterrows()]
    means = df[value].to_numpy(float)
    lo = np.nan_to_num(means - df["ci_low"].to_numpy(float))
    hi = np.nan_to_num(df["ci_high"].to_numpy(float) - means)
    n_col = "n_pairs" if "n_pairs" in df else "n"
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(labels) + 2), 3.6))
    ax.bar(range(len(labels)), np.nan_to_num(means), color="#88aadd", yerr=[lo, hi], capsize=4)
    for i, (_, r) in enumerate(df.iterrows()):
        ax.text(i, 0, f"{n_col}={r[n_col]}", ha="center", va="bottom", fontsize=8)
    ax.axhline(0, color="#444", lw=0.6)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def heatmap(means, labels, title: str, path: Path) -> None:
    """``means``: rows x columns DataFrame of means; ``labels``: the same shape, text per cell."""
    import numpy as np

    plt = _plt()
    z = means.to_numpy(float)
    fig, ax = plt.subplots(figsize=(1.8 * z.shape[1] + 2.5, 0.7 * z.shape[0] + 1.8))
    im = ax.imshow(np.ma.masked_invalid(z), cmap="viridis", aspect="auto")
    for i in range(z.shape[0]):
        for j in range(z.shape[1]):
            ax.text(j, i, labels.iat[i, j].replace(" [", "\n["), ha="center", va="center", fontsize=7,
                    color="white" if np.isfinite(z[i, j]) and z[i, j] < np.nanmean(z) else "black")
    ax.set_xticks(range(z.shape[1]), [str(c) for c in means.columns], rotation=30, ha="right")
    ax.set_yticks(range(z.shape[0]), [str(r) for r in means.index])
    ax.set_xlabel(means.columns.name)
    ax.set_ylabel(means.index.name)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
