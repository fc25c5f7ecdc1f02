"""The snapshots page: a slider over a run's weight snapshots showing each conv layer's filter
pictures in the views of :mod:`knowloc.snapshots.views` (W_t, W_t - W_0, W_t - W_{t-1}) with their
ranges, one filter over training on the same range, and the weight-change curves with the current
snapshot marked on them.

Reads what :class:`~knowloc.callbacks.WeightSnapshots` writes, through
:mod:`knowloc.snapshots.artefacts`: the index (``INDEX``), the pictures of each conv layer and view
(``PICTURE``, ``PICTURE_FROM_INIT``, ``PICTURE_FROM_PREV``), their ranges and captions
(``VIEWS_RECORD``) and the change measures (``CHANGES``).

Filter grids are embedded as PNG data URIs; with more than :data:`MAX_FRAMES` snapshots (or
:data:`MAX_BYTES` of images) an evenly spaced subset (always the first and the last) is embedded and
the page says so.
"""

from __future__ import annotations

import numpy as np

from knowloc.explore.embed import file_uri, num, nums, read_csv, read_json, signed8_scaled, sprite
from knowloc.explore.target import Run
from knowloc.snapshots import artefacts
from knowloc.snapshots.options import VIEWS

MAX_FRAMES = 60
MAX_BYTES = 10_000_000
CHANGE_VIEWS = tuple(v for v in VIEWS if v != "weights")  # from_init, from_prev


def _frames(n: int, frame_bytes: int) -> list[int]:
    """Positions of the snapshots embedded: all, or an evenly spaced subset (first and last kept) of at
    most MAX_FRAMES snapshots and MAX_BYTES of filter images."""
    most = max(2, min(MAX_FRAMES, MAX_BYTES // max(1, frame_bytes)))
    if n <= most:
        return list(range(n))
    return sorted({int(round(x)) for x in np.linspace(0, n - 1, most)})


def section(run: Run) -> dict | None:
    index_path = artefacts.INDEX.at(run.path)
    if not index_path.is_file():
        return None
    index = read_json(index_path)
    snaps = index.get("snapshots") or []
    layers_drawn = artefacts.picture_layers(run.path)
    dirs = [artefacts.picture_dir(run.path, layer, v) for layer in layers_drawn for v in ("weights", *CHANGE_VIEWS)]
    frame_bytes = sum(max((f.stat().st_size for f in d.glob("*.png")), default=0) for d in dirs if d.is_dir())
    kept = _frames(len(snaps), frame_bytes)

    def frames_in(layer: str, view: str) -> dict:
        pngs = ((str(snaps[k]["i"]), artefacts.picture(run.path, layer, view, int(snaps[k]["i"]))) for k in kept)
        return {i: file_uri(png) for i, png in pngs if png.is_file()}

    filters = {layer: f for layer in layers_drawn if (f := frames_in(layer, "weights"))}
    change_frames = {layer: {v: frames_in(layer, v) for v in CHANGE_VIEWS
                             if artefacts.picture_dir(run.path, layer, v).is_dir()} for layer in layers_drawn}
    change_frames = {k: v for k, v in change_frames.items() if v}
    info_path = artefacts.VIEWS_RECORD.at(run.path)
    views_info = _views_info(read_json(info_path), snaps, kept) if info_path.is_file() else {}
    changes = None
    cpath = artefacts.CHANGES.at(run.path)
    if cpath.is_file():
        header, rows = read_csv(cpath)
        changes = {"header": header, "rows": [[num(v) if h != "layer" else v for h, v in zip(header, r)] for r in rows]}
    layers = {name: {p: list(shape) for p, shape in params.items()} for name, params in (index.get("layers") or {}).items()}
    freeze = {k: v for k, v in run.summary.get("metrics", {}).items() if k.startswith("freeze/")}
    filter_views, views_error = {}, None
    try:
        filter_views = _filter_views(run, kept, views_info) if snaps else {}
    except Exception as e:  # a missing or damaged snapshot file: the rest of the page still shows
        views_error = f"the stored weights cannot be read ({type(e).__name__}: {e})"
    return {"id": "snapshots", "title": "Snapshots", "type": "snapshots", "dtype": index.get("dtype"),
            "layers": layers, "snapshots": [{k: s.get(k) for k in ("i", "epoch", "step", "tag")} for s in snaps],
            "kept": [snaps[k]["i"] for k in kept], "filters": filters, "change_frames": change_frames,
            "views_info": views_info, "changes": changes, "freeze": freeze,
            "filter_views": filter_views, "filter_views_error": views_error}


def _views_info(record: dict, snaps: list[dict], kept: list[int]) -> dict:
    """views.json for the embedded snapshots: per layer colour_scale, range_quantile, order, moves and
    per view ``{"scale": {i: s}, "caption": {i: text}}``."""
    out = {}
    for layer, r in record.items():
        pos = {i: k for k, i in enumerate(r.get("snapshots", []))}
        views = {}
        for v, d in (r.get("views") or {}).items():
            at = [(str(snaps[k]["i"]), pos.get(snaps[k]["i"])) for k in kept]
            views[v] = {"scale": {i: num(d["scale"][p]) for i, p in at if p is not None},
                        "caption": {i: d["caption"][p] for i, p in at if p is not None}}
        out[layer] = {"colour_scale": r.get("colour_scale"), "range_quantile": r.get("range_quantile"),
                      "order": r.get("order"), "moves": nums([np.nan if m is None else m for m in r.get("moves", [])]),
                      "views": views}
    return out


def _filter_views(run: Run, kept: list[int], views_info: dict | None = None) -> dict:
    """Per conv layer, every filter at every embedded snapshot, from the stored weights.

    Tile [k, f] of ``sprite`` is filter f at the k-th embedded snapshot, of ``change_sprite`` its
    change W_f,t - W_f,0: input channels side by side (a one-pixel gap between them), coloured on the
    ranges of the layer's pictures (``views.json``: ``scale`` of the W_t view, ``change_scale`` of the
    W_t - W_0 view; without it the same formula, s = max over the embedded snapshots t of the
    0.99-quantile of |X_t|), so a tile's colours match the pictures' and compare across snapshots.
    ``rel_dist_init[f][k]`` = ||W_f,t - W_f,0||_2 / ||W_f,0||_2 with W_f,0 the filter at initialisation.
    """
    from knowloc.snapshots import SnapshotStore
    from knowloc.snapshots.filters import symmetric_range

    store = SnapshotStore(run.path)
    out = {}
    for layer, params in (store.index.get("layers") or {}).items():
        shape = params.get("weight")
        if not shape or len(shape) != 4:
            continue
        w = np.stack([store.load(k, layer).double().numpy() for k in kept])  # (K, F, Cin, kh, kw)
        K, F, Cin, kh, kw = w.shape
        d = w - w[:1]
        info = ((views_info or {}).get(layer) or {}).get("views") or {}

        def run_scale(view: str, x: np.ndarray) -> float:
            scales = list((info.get(view) or {}).get("scale", {}).values())
            return float(scales[0]) if scales else max(symmetric_range(t, 0.99) for t in x)

        scale, change_scale = run_scale("weights", w), run_scale("from_init", d)

        def tiles(x: np.ndarray, s: float) -> np.ndarray:
            t = np.zeros((K, F, kh, Cin * (kw + 1) - 1), dtype=np.uint8)  # 0: the gap (drawn grey)
            for c in range(Cin):
                t[..., c * (kw + 1): c * (kw + 1) + kw] = signed8_scaled(x[:, :, c], s if s > 0 else 1.0)
            return t

        flat = w.reshape(K, F, -1)
        norm0 = np.linalg.norm(flat[0], axis=1)
        dist = np.linalg.norm(flat - flat[:1], axis=2) / np.where(norm0 > 0, norm0, np.nan)
        out[layer] = {"shape": list(shape), "sprite": sprite(tiles(w, scale), "signed8"), "scale": num(scale),
                      "change_sprite": sprite(tiles(d, change_scale), "signed8"), "change_scale": num(change_scale),
                      "rel_dist_init": nums(dist.T)}
    return out
