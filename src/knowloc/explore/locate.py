"""The locate page: pick a class and a method, see its top units (score, ablation drop, the
unit's activation-weighted image of the class) and its causal curve beside the other methods'.

Reads only through :mod:`knowloc.locate.artefacts` (the overview, scores, curves, causal and
agreement tables, and the unit images).
"""

from __future__ import annotations

import numpy as np

from knowloc.explore.embed import num, nums, sprite
from knowloc.explore.target import Run
from knowloc.locate import artefacts

#: top units listed per class and method
TOP = 20


def section(run: Run) -> dict | None:
    if not artefacts.present(run.path):
        return None
    data = artefacts.read(run.path)
    summary, scores, curves = data["summary"], data["scores"], data["curves"]
    methods = [m for m in summary["methods"]]
    classes = [int(c) for c in summary["classes"]]
    out = {"id": "locate", "title": "Locate", "type": "locate", "layer": summary["layer"],
           "methods": methods, "classes": classes, "summary": summary,
           "scores": {m: nums(artefacts.score_matrix(scores, m)) for m in methods},
           "curves": {}, "causal": [], "agreement": {}, "images": None}
    for (m, c), g in curves.groupby(["method", "class"], sort=False):
        g = g.sort_values("k")
        out["curves"].setdefault(m, {})[str(int(c))] = {
            "k": g["k"].astype(int).tolist(), "selectivity": nums(g["selectivity"]),
            "acc_target": nums(g["acc_target"]), "acc_others": nums(g["acc_others"])}
    for _, r in data["causal"].iterrows():
        out["causal"].append({"method": r["method"], "class": int(r["class"]), "area": num(r["area"]),
                              "knockout_k": None if not np.isfinite(r["knockout_k"]) else int(r["knockout_k"])})
    mean = data["agreement"][data["agreement"]["class"] == -1]
    for key in [c for c in mean.columns if c == "spearman" or c.startswith("overlap@")]:
        mat = np.full((len(methods), len(methods)), np.nan)
        for _, r in mean.iterrows():
            if r["method_a"] in methods and r["method_b"] in methods:
                mat[methods.index(r["method_a"]), methods.index(r["method_b"])] = r[key]
        out["agreement"][key] = nums(mat)
    if data["act_image"] is not None:
        out["images"] = sprite(data["act_image"], "signed")
    return out
