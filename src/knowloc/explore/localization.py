"""The localization page: r (update tally share) vs d (fork difference share) per parameter tensor,
hover shows the parameter; the pixel correlation map; where r and d disagree most.

Reads what :class:`~knowloc.callbacks.LocalizationReport` writes, through the declarations of
:mod:`knowloc.localization.artefacts` (what each file holds is listed there): the arrays
(``"<tensor>/r"``, ``"<tensor>/d"`` of the tensor's shape, r = A / (A + B), d = D_A / (D_A + D_B);
``"pixel_map"``), the correlations (one row per tensor) and, for stacked runs, the models table
(each model's own record is in runs/<act>_seed<seed>/).

A tensor with more than :data:`MAX_POINTS` parameters is shown as an evenly spaced sample of them
(the page says so); the correlations are always those the run computed over all of them with a
finite r and d: r is NaN where A + B = 0 (a parameter no update touched), d where D_A + D_B = 0;
the page says how many are excluded so.
"""

from __future__ import annotations

import numpy as np

from knowloc.explore.embed import nums, read_csv, read_npz
from knowloc.explore.target import Run
from knowloc.localization import artefacts

MAX_POINTS = 120_000
#: parameters listed in the "r and d disagree" table of each tensor
N_DISAGREE = 25


def _tensor(r: np.ndarray, d: np.ndarray) -> dict:
    shape = list(r.shape)
    flat_r, flat_d = r.reshape(-1), d.reshape(-1)
    n = flat_r.size
    keep = np.arange(n) if n <= MAX_POINTS else np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))
    gap = np.abs(flat_r - flat_d)
    gap = np.where(np.isfinite(gap), gap, -1)
    worst = [int(i) for i in np.argsort(-gap, kind="stable")[:N_DISAGREE] if gap[i] >= 0]
    finite = int(np.isfinite(flat_r + flat_d).sum())  # the statistics use these (NaN r or d excluded)
    return {"shape": shape, "n": int(n), "n_finite": finite, "flat_index": keep.tolist() if n > MAX_POINTS else None,
            "r": nums(flat_r[keep]), "d": nums(flat_d[keep]),
            "disagree": [{"flat": i, "index": list(np.unravel_index(i, r.shape)) if r.ndim else [],
                          "r": float(flat_r[i]), "d": float(flat_d[i])} for i in worst]}


def section(run: Run) -> dict | None:
    npz, models = artefacts.ARRAYS.at(run.path), artefacts.MODELS.at(run.path)
    if not artefacts.present(run.path):
        return None
    out: dict = {"id": "localization", "title": "Localization", "type": "localization", "tensors": {},
                 "pixel_map": None, "correlations": None, "models": None}
    if npz.is_file():
        z = read_npz(npz)
        names = sorted({k.rsplit("/", 1)[0] for k in z if k.endswith("/r")}, key=lambda k: z[f"{k}/r"].size)
        for name in names:
            out["tensors"][name] = _tensor(np.asarray(z[f"{name}/r"], dtype=float), np.asarray(z[f"{name}/d"], dtype=float))
        if "pixel_map" in z:
            pm = np.asarray(z["pixel_map"], dtype=float)
            side = int(round(pm.size ** 0.5))
            out["pixel_map"] = nums(pm.reshape(side, side) if side * side == pm.size else pm.reshape(1, -1))
    corr = artefacts.CORRELATIONS.at(run.path)
    if corr.is_file():
        header, rows = read_csv(corr)
        out["correlations"] = {"header": header, "rows": rows}
    if models.is_file():
        header, rows = read_csv(models)
        out["models"] = {"header": header, "rows": rows}
    return out
