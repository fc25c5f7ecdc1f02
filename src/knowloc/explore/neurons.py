"""The neurons page: pick a layer and a unit, see its class row of every statistic, its images, its top
training examples and what ablating it does.

Reads what :class:`~knowloc.callbacks.NeuronStats` and :class:`~knowloc.callbacks.AblationAnalysis`
write, where :mod:`knowloc.neurons.artefacts` declares it: the statistics (``STATS``: mean_act,
mean_grad, mean_abs_grad, fire_rate, anomaly_score [unit, class], counts, steps, top-k indices and
values, weighted images), the anomaly ranking (``ANOMALIES``), the ablation matrix (``MATRIX``:
acc_before, acc_after, drop = before - after, counts, method, split) and the knockout set
(``KNOCKOUT``).

The page shows a layer when either family wrote it. Images are embedded as one PNG per kind, a
sprite of unit (row) x class (column) tiles: signed, red > 0 and blue < 0, each tile scaled by its own
max |value| (as the run's image grids). Top examples are the data-set images of ``topk_*_index`` when the run's data set can be
read locally (the embedded MNIST subset always can, checked against the recorded sha256).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knowloc.explore.embed import nums, read_csv, read_json, read_npz, sprite
from knowloc.explore.target import Run
from knowloc.neurons import artefacts

STATS = artefacts.UNIT_CLASS_STATS
IMAGES = ("grad_image", "act_image", "grad_image_rectified", "act_image_rectified")
#: rectified images (two more per unit and class) only for layers up to this many units
MAX_UNITS_RECTIFIED = 128
#: tiles per row of the top-example sprite
EXAMPLE_COLUMNS = 64


def _str(z, key, default=None):
    return str(z[key]) if key in z else default


def _stats(path: Path, examples: set[int]) -> dict:
    z = read_npz(path)
    U, C = z["mean_act"].shape
    out = {"units": int(U), "classes": int(C), "steps": int(z["steps"]) if "steps" in z else None,
           "counts": nums(z["counts"]) if "counts" in z else None,
           "stats": {k: nums(z[k]) for k in STATS if k in z}, "images": {}, "topk": {}}
    for kind in IMAGES:
        if kind in z and (not kind.endswith("rectified") or U <= MAX_UNITS_RECTIFIED):
            out["images"][kind] = sprite(z[kind], "signed")
    for kind in ("grad", "act"):
        if f"topk_{kind}_index" in z:
            idx = z[f"topk_{kind}_index"]
            out["topk"][kind] = {"index": idx.tolist(), "value": nums(z[f"topk_{kind}_value"])}
            examples.update(int(i) for i in idx.reshape(-1) if i >= 0)
    return out


def _ablation(path: Path) -> dict:
    z = read_npz(path)
    return {"method": _str(z, "method"), "split": _str(z, "split"), "acc_before": nums(z["acc_before"]),
            "acc_after": nums(z["acc_after"]), "drop": nums(z["drop"]),
            "counts": z["counts"].tolist() if "counts" in z else None}


def _example_images(run: Run, indices: set[int]) -> tuple[dict | None, str | None]:
    """A sprite of the run's data-set images at ``indices`` (``index``: data-set index of each tile,
    in order), or (None, why not)."""
    if not indices:
        return None, None
    data = run.summary.get("data") or {}
    name = data.get("name") or (run.summary.get("config", {}).get("data") or {}).get("name")
    if not name:
        return None, "the run record does not name its data set"
    try:
        from knowloc.data import load_source

        root = (run.summary.get("config", {}).get("data") or {}).get("root")
        src = load_source(name, root, download=False)
    except Exception as e:  # not on this machine: show indices only
        return None, f"data set {name!r} is not readable here ({type(e).__name__}: {e}); showing indices only"
    recorded, actual = data.get("sha256"), src.info.get("sha256")
    if recorded and actual and recorded != actual:
        return None, f"data set {name!r} differs from the run's (sha256 {actual[:12]} != {recorded[:12]}); showing indices only"
    images = src.images.numpy()
    keep = [i for i in sorted(indices) if 0 <= i < len(images)]
    out = sprite(images[keep], "raw", columns=EXAMPLE_COLUMNS)
    out["index"] = keep
    return out, None


def section(run: Run) -> dict | None:
    layers = artefacts.layers(run.path)
    if not layers:
        return None
    examples: set[int] = set()
    out_layers = {}
    knockout = None
    ko_path = artefacts.KNOCKOUT.at(run.path)
    if ko_path.is_file():
        knockout = read_json(ko_path)
    for name in layers:
        stats_path = artefacts.STATS.at(run.path, layer=name)
        abl_path = artefacts.MATRIX.at(run.path, layer=name)
        layer = _stats(stats_path, examples) if stats_path.is_file() else {}
        if abl_path.is_file():
            layer["ablation"] = _ablation(abl_path)
            U, C = np.asarray(layer["ablation"]["drop"], dtype=float).shape
            layer.setdefault("units", U)
            layer.setdefault("classes", C)
        anomalies = artefacts.ANOMALIES.at(run.path, layer=name)
        if anomalies.is_file():
            header, rows = read_csv(anomalies)
            layer["anomalies"] = {"header": header, "rows": rows}
        if knockout and knockout.get("layer") == name:
            layer["knockout"] = {k: knockout.get(k) for k in (
                "target_class", "method", "units", "met", "message", "size", "acc_before", "acc_after")}
        out_layers[name] = layer
    pictures, note = _example_images(run, examples)
    return {"id": "neurons", "title": "Neurons", "type": "neurons", "layers": out_layers,
            "examples": pictures, "examples_note": note}
