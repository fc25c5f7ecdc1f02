"""The snapshots page: a slider over a run's weight snapshots showing each conv layer's filter grid,
with the weight-change curves and the current snapshot marked on them.

Reads what :class:`~knowloc.callbacks.WeightSnapshots` writes (see :mod:`knowloc.snapshots`)::

    snapshots/index.json                 layers {name: {param: shape}}, snapshots [{i, epoch, step, tag, file}]
    snapshots/filters/<layer>/NNNN.png   filter grid of a conv layer at snapshot NNNN
    snapshots/changes.csv                i, epoch, step, layer, rel_dist_init, rel_dist_prev, cos_init,
                                         sign_flip_init, sign_flip_prev

Filter grids are embedded as PNG data URIs; with more than :data:`MAX_FRAMES` snapshots (or
:data:`MAX_BYTES` of images) an evenly spaced subset (always the first and the last) is embedded and
the page says so.
"""

from __future__ import annotations

import numpy as np

from knowloc.explore.embed import file_uri, num, nums, read_csv, read_json, signed8_scaled, sprite
from knowloc.explore.target import Run

FOLDER = "snapshots"
MAX_FRAMES = 60
MAX_BYTES = 10_000_000


def _frames(n: int, frame_bytes: int) -> list[int]:
    """Positions of the snapshots embedded: all, or an evenly spaced subset (first and last kept) of at
    most MAX_FRAMES snapshots and MAX_BYTES of filter images."""
    most = max(2, min(MAX_FRAMES, MAX_BYTES // max(1, frame_bytes)))
    if n <= most:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, most)})


def section(run: Run) -> dict | None:
    folder = run.path / FOLDER
    index_path = folder / "index.json"
    if not index_path.is_file():
        return None
    index = read_json(index_path)
    snaps = index.get("snapshots") or []
    fdir = folder / "filters"
    layer_dirs = sorted(p for p in fdir.iterdir() if p.is_dir()) if fdir.is_dir() else []
    frame_bytes = sum(max((f.stat().st_size for f in d.glob("*.png")), default=0) for d in layer_dirs)
    kept = _frames(len(snaps), frame_bytes)
    filters = {}
    if layer_dirs:
        for layer_dir in layer_dirs:
            frames = {}
            for k in kept:
                png = layer_dir / f"{int(snaps[k]['i']):04d}.png"
                if png.is_file():
                    frames[str(snaps[k]["i"])] = file_uri(png)
            if frames:
                filters[layer_dir.name] = frames
    changes = None
    cpath = folder / "changes.csv"
    if cpath.is_file():
        header, rows = read_csv(cpath)
        changes = {"header": header, "rows": [[num(v) if h != "layer" else v for h, v in zip(header, r)] for r in rows]}
    layers = {name: {p: list(shape) for p, shape in params.items()} for name, params in (index.get("layers") or {}).items()}
    freeze = {k: v for k, v in run.summary.get("metrics", {}).items() if k.startswith("freeze/")}
    filter_views, views_error = {}, None
    try:
        filter_views = _filter_views(run, kept) if snaps else {}
    except Exception as e:  # a missing or damaged snapshot file: the rest of the page still shows
        views_error = f"the stored weights cannot be read ({type(e).__name__}: {e})"
    return {"id": "snapshots", "title": "Snapshots", "type": "snapshots", "dtype": index.get("dtype"),
            "layers": layers, "snapshots": [{k: s.get(k) for k in ("i", "epoch", "step", "tag")} for s in snaps],
            "kept": [snaps[k]["i"] for k in kept], "filters": filters, "changes": changes, "freeze": freeze,
            "filter_views": filter_views, "filter_views_error": views_error}


def _filter_views(run: Run, kept: list[int]) -> dict:
    """Per conv layer, every filter at every embedded snapshot, from the stored weights.

    Tile [k, f] of the sprite is filter f at the k-th embedded snapshot: its input channels side by
    side (a one-pixel gap between them), coloured on one scale per filter, s_f = max over the
    embedded snapshots of |W_f| (so a filter's tiles compare by colour). ``rel_dist_init[f][k]`` =
    ||W_f,t - W_f,0||_2 / ||W_f,0||_2 with W_f,0 the filter at the first snapshot (initialisation).
    """
    from knowloc.snapshots import SnapshotStore

    store = SnapshotStore(run.path)
    out = {}
    for layer, params in (store.index.get("layers") or {}).items():
        shape = params.get("weight")
        if not shape or len(shape) != 4:
            continue
        w = np.stack([store.load(k, layer).double().numpy() for k in kept])  # (K, F, Cin, kh, kw)
        K, F, Cin, kh, kw = w.shape
        scale = np.abs(w).reshape(K, F, -1).max(axis=(0, 2))
        scale = np.where(scale > 0, scale, 1.0)
        tiles = np.zeros((K, F, kh, Cin * (kw + 1) - 1), dtype=np.uint8)  # 0: the gap (drawn grey)
        for c in range(Cin):
            tiles[..., c * (kw + 1): c * (kw + 1) + kw] = signed8_scaled(
                w[:, :, c] / scale[None, :, None, None], 1.0)
        flat = w.reshape(K, F, -1)
        norm0 = np.linalg.norm(flat[0], axis=1)
        dist = np.linalg.norm(flat - flat[:1], axis=2) / np.where(norm0 > 0, norm0, np.nan)
        out[layer] = {"shape": list(shape), "sprite": sprite(tiles, "signed8"), "scale": nums(scale),
                      "rel_dist_init": nums(dist.T)}
    return out
