"""The locate figures: agreement matrices and causal curves (matplotlib, Agg)."""

from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def agreement_figure(agree, methods: list[str]):
    """Mean over classes (rows with class -1): Spearman and the top-k overlaps, one panel each."""
    plt = _plt()
    mean = agree[agree["class"] == -1]
    keys = ["spearman"] + [c for c in agree.columns if c.startswith("overlap@")]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.4), squeeze=False)
    M = len(methods)
    for ax, key in zip(axes[0], keys):
        mat = np.full((M, M), np.nan)
        for _, r in mean.iterrows():
            mat[methods.index(r["method_a"]), methods.index(r["method_b"])] = r[key]
        im = ax.imshow(mat, cmap="RdBu_r" if key == "spearman" else "viridis",
                       vmin=-1 if key == "spearman" else 0, vmax=1)
        for i in range(M):
            for j in range(M):
                if np.isfinite(mat[i, j]):
                    ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=6)
        ax.set_xticks(range(M), methods, rotation=60, fontsize=7)
        ax.set_yticks(range(M), methods, fontsize=7)
        ax.set_title(key, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.suptitle("agreement between methods (mean over classes)", fontsize=9)
    fig.tight_layout()
    return fig


def curves_figure(curves, methods: list[str], layer: str):
    """Selectivity(k) and the class-c accuracy after ablating the top-k units, mean over classes."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for m in methods:
        g = curves[curves["method"] == m].groupby("k")
        ls = ":" if m == "random" else ("--" if m == "ablation" else "-")
        axes[0].plot(g["selectivity"].mean().index, g["selectivity"].mean().values, ls=ls, label=m)
        axes[1].plot(g["acc_target"].mean().index, g["acc_target"].mean().values, ls=ls, label=m)
    axes[0].set_ylabel("selectivity = drop on c - mean drop on others")
    axes[1].set_ylabel("accuracy on class c")
    for ax in axes:
        ax.set_xlabel("k (top-k units ablated)")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7)
    fig.suptitle(f"{layer}: ablating each method's top-k units (mean over classes)", fontsize=9)
    fig.tight_layout()
    return fig
