"""Figures of the neuron statistics and the ablation analyses (matplotlib, Agg)."""

from __future__ import annotations

from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _gray(img: np.ndarray) -> np.ndarray:
    """``(ch, H, W)`` or ``(H, W)`` -> ``(H, W)`` (channel mean)."""
    img = np.asarray(img, dtype=np.float64)
    return img.mean(0) if img.ndim == 3 else img.reshape(img.shape[-2:])


def image_grid(images: np.ndarray, title: str, signed: bool, max_units: int = 128,
               class_names: Sequence[str] | None = None):
    """Units (rows) x classes (columns) mosaic of class-mean images ``(U, C, *image)``.

    Each tile is scaled by its own largest |value| (shape, not size, is compared across tiles;
    the heat maps show sizes); NaN tiles (no sample) are blank. ``signed``: red > 0, blue < 0.
    """
    U, C = images.shape[:2]
    U = min(U, max_units)
    tiles = [[_gray(images[u, c]) for c in range(C)] for u in range(U)]
    H, W = tiles[0][0].shape
    pad = 2
    mosaic = np.full((U * (H + pad), C * (W + pad)), np.nan)
    for u in range(U):
        for c in range(C):
            t = tiles[u][c]
            m = np.nanmax(np.abs(t)) if np.isfinite(t).any() else 0
            if m > 0:
                mosaic[u * (H + pad): u * (H + pad) + H, c * (W + pad): c * (W + pad) + W] = t / m
    fig, ax = plt.subplots(figsize=(0.45 * C + 1.2, 0.45 * U + 0.8))
    cmap = plt.get_cmap("RdBu_r" if signed else "gray").with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=-1 if signed else 0, vmax=1, interpolation="nearest")
    ax.set_xticks([c * (W + pad) + W / 2 for c in range(C)])
    ax.set_xticklabels(class_names or [str(c) for c in range(C)], fontsize=7)
    step = max(1, U // 32)
    ax.set_yticks([u * (H + pad) + H / 2 for u in range(0, U, step)])
    ax.set_yticklabels([str(u) for u in range(0, U, step)], fontsize=6)
    ax.set_xlabel("class")
    ax.set_ylabel("unit")
    ax.set_title(title, fontsize=8)
    return fig


def heatmaps(panels: Sequence[tuple[np.ndarray, str]], suptitle: str, xlabel: str = "unit", ylabel: str = "class"):
    """Side-by-side-stacked heat maps of ``(U, C)`` matrices shown as class (rows) x unit (columns),
    each with a symmetric diverging colour scale and its own colour bar."""
    U = panels[0][0].shape[0]
    fig, axes = plt.subplots(len(panels), 1, figsize=(min(24, 2 + 0.12 * U), 1.6 + 1.9 * len(panels)), squeeze=False)
    for ax, (mat, title) in zip(axes[:, 0], panels):
        m = np.nan_to_num(np.asarray(mat, dtype=np.float64)).T
        lim = np.abs(m).max() or 1.0
        im = ax.imshow(m, aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_yticks(range(m.shape[0]))
        fig.colorbar(im, ax=ax, fraction=0.02, pad=0.01)
    fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def anomaly_figure(rows: list[dict], images: dict[int, np.ndarray], layer: str, k: int = 6):
    """One row per anomalous (unit, class): its statistics and its top images (``top_images``: by
    default the unit-specific ones, largest |g_iu| / mean_u' |g_iu'|; one mosaic; the numbers under
    the images are data-set indices)."""
    n = max(1, len(rows))
    H, W = next(iter(images.values())).shape[-2:] if images else (28, 28)
    pad = 4
    mosaic = np.full((n * (H + pad), k * (W + pad)), np.nan)
    fig, ax = plt.subplots(figsize=(0.75 * k + 2.2, 0.8 * n + 0.6))
    for r, row in enumerate(rows):
        for j, i in enumerate(row.get("top_images", row["top_grad_images"])[:k]):
            if i in images:
                t = _gray(images[i])
                mosaic[r * (H + pad): r * (H + pad) + H, j * (W + pad): j * (W + pad) + W] = t / (np.abs(t).max() or 1)
                ax.text(j * (W + pad) + W / 2, r * (H + pad) + H + pad / 2, str(i), ha="center", va="center", fontsize=5)
        ax.text(-3, r * (H + pad) + H / 2, f"unit {row['unit']} class {row['class']}\nscore {row['score']:.2f}\n"
                f"g {row['mean_grad']:.2g} a {row['mean_act']:.2g}", ha="right", va="center", fontsize=6)
    cmap = plt.get_cmap("gray").with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.axis("off")
    ax.set_title(f"{layer}: anomalies (strong class gradient, weak/opposite activation)\n"
                 f"with their top training images (data-set index)", fontsize=7)
    return fig


def knockout_curve(result: dict):
    """Per-class accuracy of the best set at each size (target class bold)."""
    curve = result["curve"]
    sizes = [c["size"] for c in curve]
    acc = np.array([c["acc"] for c in curve]) * 100
    t = result["target_class"]
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for c in range(acc.shape[1]):
        ax.plot(sizes, acc[:, c], marker="o", ms=3, lw=2.5 if c == t else 0.9, alpha=1 if c == t else 0.6,
                label=f"class {c}" + (" (target)" if c == t else ""), color="black" if c == t else None)
    ax.axhline(100 * result["target_acc"], ls="--", color="red", lw=0.8, label="target")
    ax.set_xlabel("units ablated (set size)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"knockout of class {t}, {result['layer']} ({result['method']}): "
                 f"{'met' if result['met'] else 'NOT met'}", fontsize=9)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig
