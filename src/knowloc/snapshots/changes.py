"""How much a layer's weights moved: change measures between snapshots, and their plot.

For a layer's weight W_t at snapshot t, its initialisation W_0 and the previous snapshot W_{t-1}
(all flattened, computed in float64):

    rel_dist_init = ||W_t - W_0||_2 / ||W_0||_2
    rel_dist_prev = ||W_t - W_{t-1}||_2 / ||W_{t-1}||_2          (0 at t = 0)
    cos_init      = <W_t, W_0> / (||W_t||_2 ||W_0||_2)
    sign_flip_init = #{j : sign(W_t[j]) != sign(W_0[j])} / #W    (fraction; sign(0) = 0)
    sign_flip_prev = #{j : sign(W_t[j]) != sign(W_{t-1}[j])} / #W

A norm of 0 in a denominator gives NaN (a zero-initialised layer has no relative distance).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

MEASURES = ("rel_dist_init", "rel_dist_prev", "cos_init", "sign_flip_init", "sign_flip_prev")


def flat64(x) -> np.ndarray:
    """A flat float64 NumPy copy of a tensor or array (never a view of a live weight; a CPU
    float32/float64 tensor is converted by NumPy, without a torch kernel)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = (x.float() if x.dtype in (torch.float16, torch.bfloat16) else x).numpy()
    return np.array(x, dtype=np.float64).ravel()


def _ratio(a: float, b: float) -> float:
    return float(a) / float(b) if b > 0 else math.nan


def _norm(x: np.ndarray) -> float:
    return math.sqrt(float((x * x).sum()))


def change(w, w0, prev=None) -> dict[str, float]:
    """The measures of :data:`MEASURES` for one layer (see the module docstring); tensors or arrays.

    Computed with NumPy (no BLAS, no OpenMP), so the snapshot worker thread never starts a thread
    team of its own next to the training's."""
    w, w0 = flat64(w), flat64(w0)
    prev = w0 if prev is None else flat64(prev)
    n0 = _norm(w0)
    sw = np.sign(w)
    return {
        "rel_dist_init": _ratio(_norm(w - w0), n0),
        "rel_dist_prev": _ratio(_norm(w - prev), _norm(prev)),
        "cos_init": _ratio((w * w0).sum(), _norm(w) * n0),
        "sign_flip_init": float((sw != np.sign(w0)).mean()),
        "sign_flip_prev": float((sw != np.sign(prev)).mean()),
    }


def changes_from_store(store, layers: Sequence[str] | None = None) -> list[dict]:
    """Rows ``{i, epoch, step, layer, <measures>}`` recomputed from a :class:`SnapshotStore`."""
    rows = []
    for layer in layers or store.layers:
        w0 = prev = None
        for e, w in store.series(layer):
            w0 = w if w0 is None else w0
            rows.append({"i": e["i"], "epoch": e["epoch"], "step": e["step"], "layer": layer,
                         **change(w, w0, prev)})
            prev = w
    return rows


def plot_changes(rows: Sequence[dict]):
    """A 2x2 figure of the measures vs epoch, one colour per layer; the sign-flip panel draws flips
    vs init solid and vs the previous snapshot dashed. One legend below the panels (none covers a curve)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    panels = [("rel_dist_init", "relative L2 distance from init"), ("rel_dist_prev", "relative L2 distance from previous"),
              ("cos_init", "cosine similarity to init"), (("sign_flip_init", "sign_flip_prev"), "fraction of signs flipped")]
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, (keys, title) in zip(axes.flat, panels):
        keys = (keys,) if isinstance(keys, str) else keys
        for li, layer in enumerate(layers):
            rs = [r for r in rows if r["layer"] == layer]
            for ki, k in enumerate(keys):
                ax.plot([r["epoch"] for r in rs], [r[k] for r in rs], marker=".", color=colors[li % len(colors)],
                        linestyle="-" if ki == 0 else "--")
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    handles = [Line2D([], [], color=colors[li % len(colors)], marker=".", label=layer) for li, layer in enumerate(layers)]
    handles += [Line2D([], [], color="0.3", linestyle="-", label="signs: vs init"),
                Line2D([], [], color="0.3", linestyle="--", label="signs: vs previous")]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=9, frameon=False)
    fig.suptitle("weight change per layer over training")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.91, wspace=0.2, hspace=0.25)
    return fig
