"""Build a run's snapshot views after the fact, from its store alone (no W&B, no model).

For a run trained with ``filter_images=false`` or ``change_curves=false``, or to redraw with
another colour range::

    >>> from knowloc.snapshots.views import write_views
    >>> write_views("outputs/runs/<run>", range_quantile=1.0)

writes the same files the ``WeightSnapshots`` callback writes (``snapshots/filters/<layer>/NNNN.png``,
``snapshots/filters/<layer>.gif``, ``snapshots/changes.csv``, ``snapshots/changes.png``). Note the
change measures are then computed from the stored tensors (float16 if the store is float16).
"""

from __future__ import annotations

from pathlib import Path

from knowloc.snapshots.changes import MEASURES, changes_from_store, plot_changes
from knowloc.snapshots.filters import render, write_gif, write_png
from knowloc.snapshots.store import SnapshotStore


def caption_of(layer: str, entry: dict) -> str:
    return f"{layer}  snapshot {entry['i']}  epoch {entry['epoch']:g}  step {entry['step']}"


def write_views(run_dir: str | Path, range_quantile: float = 0.99, seconds_per_frame: float = 0.5) -> list[Path]:
    """Filter PNGs and a GIF per conv layer, and the change table and plot; returns the paths."""
    import matplotlib.pyplot as plt
    import pandas as pd

    store = SnapshotStore(run_dir)
    out: list[Path] = []
    for layer in store.layers:
        if len(store.index["layers"][layer].get("weight", [])) != 4:
            continue  # conv layers only
        frames = [write_png(render(w, caption_of(layer, e), range_quantile),
                            store.dir / "filters" / layer / f"{e['i']:04d}.png") for e, w in store.series(layer)]
        out += frames
        out.append(write_gif(frames, store.dir / "filters" / f"{layer}.gif", seconds_per_frame))
    rows = changes_from_store(store)
    table = pd.DataFrame(rows, columns=["i", "epoch", "step", "layer", *MEASURES]).sort_values(["i", "layer"], kind="stable")
    table.to_csv(store.dir / "changes.csv", index=False)
    fig = plot_changes(rows)
    fig.savefig(store.dir / "changes.png", dpi=110)
    plt.close(fig)
    return out + [store.dir / "changes.csv", store.dir / "changes.png"]
