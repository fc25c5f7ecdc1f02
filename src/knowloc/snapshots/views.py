"""Pictures of a run's conv filters over its snapshots, built from the store alone.

Three views per conv layer (:data:`knowloc.snapshots.options.VIEWS`), each a PNG per snapshot, two
also a GIF (colour map and layout of :mod:`knowloc.snapshots.filters`; the files are declared in
:mod:`knowloc.snapshots.artefacts`)::

    weights    X_t = W_t              PICTURE            ANIMATION
    from_init  X_t = W_t - W_0        PICTURE_FROM_INIT  ANIMATION_FROM_INIT
    from_prev  X_t = W_t - W_{t-1}    PICTURE_FROM_PREV  (no GIF: a flicker; X_0 = 0)

Colour range (``colour_scale``), symmetric, with Q_q the ``range_quantile`` quantile over a layer's
weights: ``run`` (default): one range per layer and view for the whole run,
s = max_t Q_q(|X_t|), so frames compare by colour (a filter that grows gets redder and bluer, one that
stays put keeps its pixels); ``snapshot``: s_t = Q_q(|X_t|) per frame. Each caption states the range.

``weights`` shows the filters in their order; the change views sort them by how much they moved
over the run, most first: by m_f = ||W_f,T - W_f,0||_2 / ||W_f,0||_2 at the last snapshot T (ties and
NaN keep filter order, NaN last). ``VIEWS_RECORD`` records, per layer, the order, m_f and
every frame's range; ``MOVES`` lists layer, rank, filter, rel_dist_init (= m_f).

GIFs keep at most :data:`GIF_FRAMES` evenly spaced frames (first and last always). For a run trained
with ``filter_images=false`` or ``change_curves=false``, or to redraw with another range::

    >>> from knowloc.snapshots.views import write_views
    >>> write_views("outputs/runs/<run>", range_quantile=1.0, colour_scale="snapshot")

writes the files above and ``CHANGES`` and ``CHANGES_FIGURE`` (then computed from the stored
tensors: float16 if the store is float16).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from knowloc.snapshots import artefacts
from knowloc.snapshots.changes import changes_from_store
from knowloc.snapshots.filters import FilterLayout, caption_width, symmetric_range, write_gif, write_png
from knowloc.snapshots.options import GIF_FRAMES, GIF_VIEWS, VIEWS, check_snapshots
from knowloc.snapshots.store import SnapshotStore


def caption_of(layer: str, entry: dict) -> str:
    return f"{layer}  snapshot {entry['i']}  epoch {entry['epoch']:g}  step {entry['step']}"


def conv_layers(store: SnapshotStore) -> list[str]:
    return [n for n, p in store.index["layers"].items() if len(p.get("weight", [])) == 4]


def _view(view: str, w: np.ndarray, w0: np.ndarray, prev: np.ndarray) -> np.ndarray:
    return w if view == "weights" else w - (w0 if view == "from_init" else prev)


def _series(store: SnapshotStore, layer: str):
    """(entry, W_t, W_0, W_{t-1}) in float64, one snapshot at a time (W_{-1} = W_0)."""
    w0 = prev = None
    for e, w in store.series(layer):
        w = w.numpy().astype(np.float64)
        w0 = w if w0 is None else w0
        yield e, w, w0, w if prev is None else prev
        prev = w


def moves(w0: np.ndarray, wT: np.ndarray) -> np.ndarray:
    """m_f = ||W_f,T - W_f,0||_2 / ||W_f,0||_2 per output filter (NaN when ||W_f,0|| = 0)."""
    F = w0.shape[0]
    n0 = np.linalg.norm(w0.reshape(F, -1), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.linalg.norm((wT - w0).reshape(F, -1), axis=1) / np.where(n0 > 0, n0, np.nan)


def most_moved_first(m: np.ndarray) -> np.ndarray:
    """Filter indices by m descending; ties keep filter order, NaN last."""
    key = np.where(np.isnan(m), -np.inf, m)
    return np.argsort(-key, kind="stable")


def plan_layer(store: SnapshotStore, layer: str, range_quantile: float = 0.99, colour_scale: str = "run") -> dict:
    """Ranges, filter order and captions of one conv layer's views: ``{"order", "moves", "views":
    {view: {"scale": [s_t], "captions": [[line, line], ...]}}}`` (one pass over the store)."""
    check_snapshots(colour_scale=colour_scale)
    own = {v: [] for v in VIEWS}
    wT = w0 = None
    for e, w, w0, prev in _series(store, layer):
        for v in VIEWS:
            own[v].append(symmetric_range(_view(v, w, w0, prev), range_quantile))
        wT = w
    m = moves(w0, wT)
    scales = {v: ([max(s)] * len(s) if colour_scale == "run" else s) for v, s in own.items()}
    how = ("run range: max over snapshots of the {q:g}-quantile of |{x}|" if colour_scale == "run"
           else "this snapshot's range: {q:g}-quantile of |{x}|")
    views = {v: {"scale": scales[v],
                 "captions": [[f"{layer}  {x}  snapshot {e['i']}  epoch {e['epoch']:g}  step {e['step']}",
                               f"±{s:.3g}  ({how.format(q=range_quantile, x=x)})"
                               + ("; filters by change, most first" if v != "weights" else "")]
                              for e, s in zip(store.entries, scales[v])]} for v, x in VIEWS.items()}
    return {"order": most_moved_first(m).tolist(), "moves": m.tolist(), "views": views}


def draw_view(store: SnapshotStore, layer: str, plan: dict, view: str, seconds_per_frame: float = 0.5) -> dict:
    """One view of one layer: a PNG per snapshot (stale frames removed) and, for :data:`GIF_VIEWS`,
    the GIF; returns ``{"frames": [paths], "gif": path or None}``."""
    root = store.run_dir
    p = plan["views"][view]
    layout = FilterLayout(store.index["layers"][layer]["weight"], order=None if view == "weights" else plan["order"],
                          min_width=max(caption_width(c) for c in p["captions"]))
    n = len(store)
    keep = set(np.linspace(0, n - 1, min(n, GIF_FRAMES)).round().astype(int).tolist()) if view in GIF_VIEWS else set()
    frames, gif = [], []
    for t, (e, w, w0, prev) in enumerate(_series(store, layer)):
        frame = layout.frame(_view(view, w, w0, prev), p["scale"][t], p["captions"][t])
        frames.append(write_png(frame, artefacts.picture(root, layer, view, e["i"])))
        if t in keep:
            gif.append(frame)
    names = {f.name for f in frames}
    for stale in artefacts.picture_dir(root, layer, view).glob("*.png"):  # frames of snapshots no longer in the store
        if stale.name not in names:
            stale.unlink()
    path = artefacts.animation(root, layer, view)
    if view in GIF_VIEWS:
        write_gif(gif, path, seconds_per_frame)
    else:
        path.unlink(missing_ok=True)
    return {"frames": frames, "gif": path if view in GIF_VIEWS else None}


def draw_filters(store: SnapshotStore, range_quantile: float = 0.99, colour_scale: str = "run",
                 seconds_per_frame: float = 0.5, layers=None, threads: int = 2) -> dict:
    """Every view of every conv layer (or ``layers``), drawn by ``threads`` threads (PNG and GIF
    encoding release the GIL), then ``filters/views.json`` and ``filters/moves.csv``. Returns
    ``{layer: {"order", "moves", "views": {view: {"scale", "captions", "frames", "gif"}}}}``."""
    from concurrent.futures import ThreadPoolExecutor

    layers = conv_layers(store) if layers is None else list(layers)
    if not layers or not len(store):
        return {}
    plans = {layer: plan_layer(store, layer, range_quantile, colour_scale) for layer in layers}
    with ThreadPoolExecutor(max(1, threads), thread_name_prefix="filter-views") as pool:
        jobs = {(layer, v): pool.submit(draw_view, store, layer, plans[layer], v, seconds_per_frame)
                for layer in layers for v in VIEWS}
        for (layer, v), job in jobs.items():
            plans[layer]["views"][v].update(job.result())
    record = {layer: {"colour_scale": colour_scale, "range_quantile": range_quantile, "order": d["order"],
                      "moves": [None if np.isnan(x) else x for x in d["moves"]],
                      "snapshots": [e["i"] for e in store.entries],
                      "views": {v: {"scale": p["scale"], "caption": ["; ".join(c) for c in p["captions"]],
                                    "gif": p["gif"].name if p["gif"] else None} for v, p in d["views"].items()}}
              for layer, d in plans.items()}
    artefacts.VIEWS_RECORD.at(store.run_dir).write_text(json.dumps(record, indent=1))
    with open(artefacts.MOVES.at(store.run_dir), "w") as f:
        f.write("layer,rank,filter,rel_dist_init\n")
        for layer, d in plans.items():
            for rank, fi in enumerate(d["order"]):
                f.write(f"{layer},{rank},{fi},{d['moves'][fi]!r}\n")
    return plans


def write_views(run_dir: str | Path, range_quantile: float = 0.99, seconds_per_frame: float = 0.5,
                colour_scale: str = "run") -> list[Path]:
    """Filter PNGs and GIFs of every view and conv layer, and the change table and plot; returns the paths."""
    store = SnapshotStore(run_dir)
    out: list[Path] = []
    for d in draw_filters(store, range_quantile, colour_scale, seconds_per_frame).values():
        for v in d["views"].values():
            out += v["frames"] + ([v["gif"]] if v["gif"] else [])
    return out + artefacts.write_changes(store.run_dir, changes_from_store(store))
