"""Every file the locate family writes, under ``<run>/locate/``: :data:`ARTEFACTS` (path and
meaning of each). The callback and the command write through :func:`write`, the explorer page and
the tests read through :func:`read`.

Columns: ``scores``: layer, class, unit, one column per method; ``agreement``: method_a, method_b,
class, spearman, overlap@k; ``curves``: method, class, k, unit (k-th added), acc_target,
acc_others, drop_target, drop_others, max_other_drop, selectivity; ``causal``: method, class, area
(mean selectivity over k), knockout_k (empty: not met), drop_target_k1; ``overview``: layer,
classes, methods {area, top1_hit, knockout_met, knockout_k_mean, spearman_vs_ablation, seconds},
best_method, message, acc_before, seconds.

Results (``summary.json`` metrics and the W&B summary): ``locate/area/<method>``,
``locate/spearman_vs_ablation/<method>``, ``locate/knockout_met/<method>``, ``locate/top1_hit/<method>``, ``locate/seconds/<step>``,
``locate/best_method`` (a method name) and ``locate/best_area``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knowloc.artifacts import Artefact

FOLDER = "locate"
SCORES = Artefact("locate/scores.csv", "per-unit scores: layer, class, unit, one column per method")
AGREEMENT = Artefact("locate/agreement.csv", "Spearman and top-k overlap of every pair of methods, per class (-1: mean)")
AGREEMENT_FIGURE = Artefact("locate/agreement.png", "the mean Spearman and top-k overlap matrices")
CURVES = Artefact("locate/curves.csv", "accuracy and selectivity as the top-k units of each method are ablated")
CURVES_FIGURE = Artefact("locate/curves.png", "selectivity and class-c accuracy vs k, every method")
CAUSAL = Artefact("locate/causal.csv", "per method and class: selectivity area, knockout k, drop at k = 1")
OVERVIEW = Artefact("locate/overview.json", "the summary: per-method area, top-1 hit, knockout, best method")
IMAGES = Artefact("locate/unit_images.npz", "act_image[unit, class]: activation-weighted class-mean images")
ARTEFACTS = (SCORES, AGREEMENT, AGREEMENT_FIGURE, CURVES, CURVES_FIGURE, CAUSAL, OVERVIEW, IMAGES)


def present(run_dir: Path) -> bool:
    return OVERVIEW.exists(run_dir)


def _tables(res):
    import pandas as pd

    U = next(iter(res.scores.values())).shape[0]
    scores = pd.DataFrame([{"layer": res.layer, "class": c, "unit": u,
                            **{m: float(res.scores[m][u, c]) for m in res.methods}}
                           for c in res.classes for u in range(U)])
    agree = pd.DataFrame(res.agreement)
    if len(agree):
        mean = agree.drop(columns="class").groupby(["method_a", "method_b"], sort=False).mean().reset_index()
        mean.insert(2, "class", -1)
        agree = pd.concat([mean, agree], ignore_index=True)
    return scores, agree, pd.DataFrame(res.curves), pd.DataFrame(res.causal)


def results(res) -> dict:
    out = {}
    for m, s in res.summary["methods"].items():
        out[f"locate/area/{m}"] = s["area"]
        out[f"locate/knockout_met/{m}"] = s["knockout_met"]
        if s.get("top1_hit") is not None:
            out[f"locate/top1_hit/{m}"] = s["top1_hit"]
        if s["spearman_vs_ablation"] is not None:
            out[f"locate/spearman_vs_ablation/{m}"] = s["spearman_vs_ablation"]
    out.update({f"locate/seconds/{k}": round(v, 3) for k, v in res.seconds.items()})
    best = res.summary.get("best_method")
    if best is not None:
        out["locate/best_method"] = best
        out["locate/best_area"] = res.summary["methods"][best]["area"]
    return out


def write(trainer, res) -> dict:
    """Write every file of the table above (and the W&B tables/images/summary) for a
    :class:`~knowloc.locate.pipeline.LocateResult`; returns the scalar results."""
    from knowloc import artifacts
    from knowloc.locate import figures
    from knowloc.records import write_json

    folder = artifacts.run_dir(trainer) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    scores, agree, curves, causal = _tables(res)
    artifacts.save_table(trainer, SCORES.key, scores)
    artifacts.save_table(trainer, AGREEMENT.key, agree)
    artifacts.save_table(trainer, CURVES.key, curves)
    artifacts.save_table(trainer, CAUSAL.key, causal)
    artifacts.save_figure(trainer, AGREEMENT_FIGURE.key, figures.agreement_figure(agree, res.methods))
    artifacts.save_figure(trainer, CURVES_FIGURE.key, figures.curves_figure(curves, res.methods, res.layer))
    write_json(OVERVIEW.at(folder.parent), {**res.summary, "weight_layer": res.weight_layer,
                                          "num_classes": res.num_classes, "acc_before": res.acc_before.tolist(),
                                          "seconds": res.seconds})
    if res.act_image is not None:
        np.savez_compressed(IMAGES.at(folder.parent), act_image=res.act_image.astype(np.float32))
    out = results(res)
    artifacts.log_results(trainer, out)
    return out


def read(run_dir: Path) -> dict:
    """The locate files of a run: ``summary`` (dict), ``scores``/``agreement``/``curves``/``causal``
    (pandas DataFrames), ``act_image`` (array or None)."""
    import json

    import pandas as pd

    run_dir = Path(run_dir)
    out = {"summary": json.loads(OVERVIEW.at(run_dir).read_text())}
    for key, art in (("scores", SCORES), ("agreement", AGREEMENT), ("curves", CURVES), ("causal", CAUSAL)):
        out[key] = pd.read_csv(art.at(run_dir))
    img = IMAGES.at(run_dir)
    out["act_image"] = np.load(img)["act_image"] if img.is_file() else None
    return out


def score_matrix(scores, method: str) -> np.ndarray:
    """``(U, C)`` of one method from the scores table (NaN for classes not located)."""
    U, C = int(scores["unit"].max()) + 1, int(scores["class"].max()) + 1
    out = np.full((U, C), np.nan)
    out[scores["unit"].to_numpy(), scores["class"].to_numpy()] = scores[method].to_numpy()
    return out
