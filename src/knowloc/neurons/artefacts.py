"""Every file the neurons family writes into a run folder: :data:`ARTEFACTS` (path and meaning of
each; ``{layer}`` is a layer name, e.g. ``act3``). ``NeuronStats`` writes through
:func:`write_stats`, ``AblationAnalysis`` through :func:`write_matrix` and :func:`write_knockout`;
the explorer, the result tables and the tests find and read them through :func:`layers` and the
``read_*`` functions. Figures and tables also go to W&B under their key (the path without its
suffix; tables under ``<key>_table``).

Contents (U units, C classes, k top images, image shape (ch, H, W)):

* ``STATS`` (npz, ``NeuronStats``): ``layer`` (str), ``steps`` (training steps accumulated),
  ``counts`` [C] (class samples seen, once per epoch), ``mean_act``, ``mean_grad``,
  ``mean_abs_grad``, ``fire_rate``, ``anomaly_score`` [U, C]; ``topk_grad_index``/``_value``
  [U, C, k] (largest |dℓ/da|), ``topk_act_index``/``_value`` [U, C, k] (largest a),
  ``topk_specific_index``/``_value`` [U, C, k] (largest unit-specific gradient
  |g_iu| / mean_u' |g_iu'|) — indices are data-set indices (positions in the source's order,
  e.g. in ``mnist5k.npz``), -1 where empty; ``grad_image``, ``act_image``,
  ``grad_image_rectified``, ``act_image_rectified`` [U, C, ch, H, W] (unless ``images=false``).
* ``UNIT_CLASS`` (csv): unit, class, mean_act, mean_grad, mean_abs_grad, fire_rate, anomaly_score.
* ``ANOMALIES`` (csv): the ranking (unit, class, score, mean_grad, mean_abs_grad, mean_act,
  fire_rate, top_specific_images, top_grad_images, top_act_images, top_images as space-separated
  data-set indices, layer).
* ``GRAD_IMAGES``, ``ACT_IMAGES`` (and ``_RECTIFIED``), ``HEATMAPS``, ``ANOMALY_FIGURE``: figures.
* ``MATRIX_TABLE`` (csv, ``AblationAnalysis``): unit, drop/<c> for each class c, drop/all —
  accuracy drop as a fraction (acc_before - acc_after) when that single unit is ablated.
* ``MATRIX`` (npz): layer, method, split, acc_before [C], acc_after [U, C], drop [U, C], counts [C]
  (evaluated samples per class), reference_n (reference samples: the whole training split by
  default), reference_mean [U, ...] (mean ablation: the replacement values). ``MATRIX_FIGURE``:
  heat map (points).
* ``KNOCKOUT`` (json): layer, method, target_class, target_acc, max_other_drop, beam_width,
  max_size, met, size, units (in the order added), acc_before [C], acc_after [C],
  target_acc_after, max_other_drop_after, curve (per size: size, units, acc [C], target_acc,
  max_other_drop, correct [C], within_bound), sets_evaluated, n_test, seconds, message (says
  plainly when not met); class_counts [C], correct_before [C], correct_after [C],
  max_correct_target and max_lost_other [C]: the constraints as counts of images (``met`` is
  decided on these).
* ``KNOCKOUT_CURVE`` (csv) / ``KNOCKOUT_FIGURE``: the curve as a table (size, units, target_acc,
  max_other_drop, acc/<c>) and a figure.

Results (``summary.json`` metrics and the W&B summary): ``neurons/<layer>/top_anomaly_score``,
``neurons/<layer>/dead_units``, ``neurons/<layer>/steps``; ``ablation/acc_before/<c>``,
``ablation/matrix/max_drop/<c>``, ``ablation/matrix/max_drop``, ``ablation/matrix/seconds``,
``ablation/knockout/{size,met,target_acc_after,max_other_drop,seconds}``, ``ablation/class_acc_after/<c>``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from knowloc.artifacts import Artefact

# -- NeuronStats (during training) -------------------------------------------------------------
STATS = Artefact("neurons/{layer}_stats.npz", "per unit x class statistics, top-k image indices, weighted images")
UNIT_CLASS = Artefact("neurons/{layer}_unit_class.csv", "the statistics as a long table, one row per unit and class")
ANOMALIES = Artefact("neurons/{layer}_anomalies.csv", "the anomaly ranking, most anomalous (unit, class) first")
ANOMALY_FIGURE = Artefact("neurons/{layer}_anomalies.png", "the top anomalies with their top training images")
HEATMAPS = Artefact("neurons/{layer}_heatmaps.png", "unit x class heat maps: mean gradient, |gradient|, activation, score")
GRAD_IMAGES = Artefact("neurons/{layer}_grad_images.png", "class-mean images weighted by the gradient, unit x class")
GRAD_IMAGES_RECTIFIED = Artefact("neurons/{layer}_grad_images_rectified.png",
                                 "the same, over samples where the unit fires only")
ACT_IMAGES = Artefact("neurons/{layer}_act_images.png", "class-mean images weighted by the activation, unit x class")
ACT_IMAGES_RECTIFIED = Artefact("neurons/{layer}_act_images_rectified.png",
                                "the same, over samples where the unit fires only")
# -- AblationAnalysis (after training) ---------------------------------------------------------
MATRIX = Artefact("ablation/{layer}_matrix.npz", "accuracy per class before and after ablating each unit alone")
MATRIX_TABLE = Artefact("ablation/{layer}_matrix.csv", "accuracy drop per unit and class (fractions), and overall")
MATRIX_FIGURE = Artefact("ablation/{layer}_matrix.png", "heat map of the drop (points)")
KNOCKOUT = Artefact("ablation/knockout.json", "the knockout set of the target class, its curve and constraints")
KNOCKOUT_CURVE = Artefact("ablation/knockout_curve.csv", "per knockout size: units, per-class accuracy")
KNOCKOUT_FIGURE = Artefact("ablation/knockout_curve.png", "per-class accuracy as the knockout set grows")

#: what ``NeuronStats`` writes per layer (the image grids unless ``images=false``)
STATS_FILES = (STATS, UNIT_CLASS, ANOMALIES, ANOMALY_FIGURE, HEATMAPS, GRAD_IMAGES, GRAD_IMAGES_RECTIFIED,
               ACT_IMAGES, ACT_IMAGES_RECTIFIED)
#: what ``AblationAnalysis`` writes (the knockout files when ``target_class`` is set)
ABLATION_FILES = (MATRIX, MATRIX_TABLE, MATRIX_FIGURE, KNOCKOUT, KNOCKOUT_CURVE, KNOCKOUT_FIGURE)
ARTEFACTS = STATS_FILES + ABLATION_FILES
#: the weighted-image figures by summary array (``grad_image``, ``act_image_rectified``, ...)
IMAGE_FIGURES = {"grad_image": GRAD_IMAGES, "grad_image_rectified": GRAD_IMAGES_RECTIFIED,
                 "act_image": ACT_IMAGES, "act_image_rectified": ACT_IMAGES_RECTIFIED}
#: the long table's statistics (columns after unit, class)
UNIT_CLASS_STATS = ("mean_act", "mean_grad", "mean_abs_grad", "fire_rate", "anomaly_score")
#: the ranking's image lists, written as space-separated indices
IMAGE_LISTS = ("top_images", "top_specific_images", "top_grad_images", "top_act_images")


def key(art: Artefact, layer: str | None = None) -> str:
    """The W&B key (and name for ``save_figure``/``save_table``) of ``art`` for ``layer``."""
    return art.name(layer=layer).rsplit(".", 1)[0] if layer is not None else art.key


def layer_of(art: Artefact, run_dir: str | Path, path: Path) -> str | None:
    """The ``{layer}`` of a file of ``art`` in ``run_dir`` (None if ``path`` is not one)."""
    head, tail = art.path.split("{layer}")
    m = re.fullmatch(re.escape(head) + r"([^/]+)" + re.escape(tail), Path(path).relative_to(run_dir).as_posix())
    return m.group(1) if m else None


def layers(run_dir: str | Path) -> list[str]:
    """Every layer with a statistics file or an ablation matrix in ``run_dir``."""
    found = {layer_of(a, run_dir, p) for a in (STATS, MATRIX) for p in a.matches(run_dir)}
    return sorted(x for x in found if x is not None)


def files(run_dir: str | Path) -> list[Path]:
    """Every file of :data:`ARTEFACTS` in ``run_dir``, sorted."""
    return sorted({p for art in ARTEFACTS for p in art.matches(run_dir)})


# -- writers -----------------------------------------------------------------------------------
def write_stats(trainer, layer: str, s: dict, options, image_source=None) -> dict:
    """The files of one layer of ``NeuronStats`` from its summary ``s``
    (:meth:`~knowloc.neurons.statistics.UnitClassStats.summary`) and
    :class:`~knowloc.neurons.options.NeuronStatsOptions`; ``image_source(indices)`` gives the
    training images of the anomaly figure by data-set index. Returns the scalar results."""
    import pandas as pd

    from knowloc import artifacts
    from knowloc.neurons import plots
    from knowloc.neurons.statistics import anomaly_ranking

    path = STATS.at(artifacts.run_dir(trainer), layer=layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, layer=np.array(layer), **s)
    U, C = s["mean_act"].shape
    long = pd.DataFrame({"unit": np.repeat(np.arange(U), C), "class": np.tile(np.arange(C), U),
                         **{k: s[k].reshape(-1) for k in UNIT_CLASS_STATS}})
    artifacts.save_table(trainer, key(UNIT_CLASS, layer), long)
    rows = anomaly_ranking(s, options.n_anomalies, options.top_images)
    table = pd.DataFrame([{**r, "layer": layer, **{k: " ".join(map(str, r[k])) for k in IMAGE_LISTS}} for r in rows])
    artifacts.save_table(trainer, key(ANOMALIES, layer), table)
    title = f"{layer}: class-mean images weighted by "
    if "grad_image" in s:
        for kind, what, signed in (("grad_image", "the gradient dℓ/da (Σ g·x / Σ|g|)", True),
                                   ("act_image", "the activation (Σ a·x / Σ|a|)", True)):
            for suffix, note in (("", ""), ("_rectified", ", samples where the unit fires only")):
                fig = plots.image_grid(s[kind + suffix], title + what + note, signed, options.max_units_plotted)
                artifacts.save_figure(trainer, key(IMAGE_FIGURES[kind + suffix], layer), fig)
    fig = plots.heatmaps([(s["mean_grad"], "mean gradient dℓ/da (signed)"),
                          (s["mean_abs_grad"], "mean |dℓ/da|"), (s["mean_act"], "mean activation a"),
                          (s["anomaly_score"], "anomaly score")], f"{layer}: unit x class ({int(s['steps'])} steps)")
    artifacts.save_figure(trainer, key(HEATMAPS, layer), fig)
    pictures = image_source({i for r in rows[:10] for i in r["top_images"]}) if image_source else {}
    if rows:
        artifacts.save_figure(trainer, key(ANOMALY_FIGURE, layer),
                              plots.anomaly_figure(rows[:10], pictures, layer, options.anomaly_images))
    results = {f"neurons/{layer}/top_anomaly_score": float(rows[0]["score"]) if rows else float("nan"),
               f"neurons/{layer}/dead_units": int((np.nan_to_num(s["fire_rate"]).max(1) == 0).sum()),
               f"neurons/{layer}/steps": int(s["steps"])}
    artifacts.log_results(trainer, results)
    return results


def write_matrix(trainer, ev, matrix, options, reference_n: int, seconds: float) -> dict:
    """The ablation matrix files of ``AblationAnalysis``: ``ev`` the
    :class:`~knowloc.neurons.ablation.AblationEvaluator`, ``matrix`` its per-class accuracy
    after each single-unit ablation [U, C], ``options`` the
    :class:`~knowloc.neurons.options.AblationOptions`. drop[u, c] = acc_before[c] - acc_after[u, c];
    drop/all = acc_all_before - Σ_c n_c acc_after[u, c] / Σ_c n_c. Returns the scalar results."""
    import pandas as pd

    from knowloc import artifacts
    from knowloc.neurons import plots

    layer, method, split = options.layer, options.method, options.split
    before = ev.acc_before.cpu().numpy()
    after = matrix.cpu().numpy()
    drop = before[None] - after
    counts = np.bincount(ev.y.cpu().numpy(), minlength=ev.num_classes)
    all_before = float(np.nansum(before * counts) / counts.sum())
    all_after = np.nansum(after * counts[None], 1) / counts.sum()
    path = MATRIX.at(artifacts.run_dir(trainer), layer=layer)
    path.parent.mkdir(parents=True, exist_ok=True)
    extra = {"reference_mean": ev.mean.numpy()} if ev.mean is not None else {}
    np.savez_compressed(path, layer=np.array(layer), method=np.array(method), acc_before=before, acc_after=after,
                        drop=drop, counts=counts, split=np.array(split), reference_n=np.int64(reference_n), **extra)
    table = pd.DataFrame({"unit": np.arange(len(drop)), **{f"drop/{c}": drop[:, c] for c in range(drop.shape[1])},
                          "drop/all": all_before - all_after})
    artifacts.save_table(trainer, key(MATRIX_TABLE, layer), table)
    fig = plots.heatmaps([(100 * drop, f"{split} accuracy drop (points) when the unit is ablated ({method})")],
                         f"{layer}: ablation matrix, {len(drop)} units x {drop.shape[1]} classes, n={len(ev.y)}")
    artifacts.save_figure(trainer, key(MATRIX_FIGURE, layer), fig)
    results = {f"ablation/acc_before/{c}": float(before[c]) for c in range(len(before))}
    results.update({f"ablation/matrix/max_drop/{c}": float(np.nanmax(drop[:, c])) for c in range(drop.shape[1])})
    results["ablation/matrix/max_drop"] = float(np.nanmax(drop))
    results["ablation/matrix/seconds"] = round(seconds, 3)
    artifacts.log_results(trainer, results)
    return results


def write_knockout(trainer, res: dict) -> dict:
    """The knockout files from :func:`~knowloc.neurons.knockout.knockout_search`'s result (with
    ``seconds``). Returns the scalar results."""
    import pandas as pd

    from knowloc import artifacts
    from knowloc.neurons import plots
    from knowloc.records import write_json

    write_json(KNOCKOUT.at(artifacts.run_dir(trainer)), res)
    curve = pd.DataFrame([{"size": c["size"], "units": " ".join(map(str, c["units"])),
                           "target_acc": c["target_acc"], "max_other_drop": c["max_other_drop"],
                           **{f"acc/{k}": a for k, a in enumerate(c["acc"])}} for c in res["curve"]])
    artifacts.save_table(trainer, KNOCKOUT_CURVE.key, curve)
    artifacts.save_figure(trainer, KNOCKOUT_FIGURE.key, plots.knockout_curve(res))
    results = {"ablation/knockout/size": res["size"], "ablation/knockout/met": int(res["met"]),
               "ablation/knockout/target_acc_after": res["target_acc_after"],
               "ablation/knockout/max_other_drop": res["max_other_drop_after"],
               "ablation/knockout/seconds": res["seconds"]}
    results.update({f"ablation/class_acc_after/{c}": a for c, a in enumerate(res["acc_after"])})
    artifacts.log_results(trainer, results)
    return results


# -- readers -----------------------------------------------------------------------------------
def _npz(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def read_stats(run_dir: str | Path, layer: str) -> dict[str, np.ndarray]:
    """The arrays of :data:`STATS` of ``layer``."""
    return _npz(STATS.at(run_dir, layer=layer))


def read_matrix(run_dir: str | Path, layer: str) -> dict[str, np.ndarray]:
    """The arrays of :data:`MATRIX` of ``layer``."""
    return _npz(MATRIX.at(run_dir, layer=layer))


def read_knockout(run_dir: str | Path) -> dict:
    """:data:`KNOCKOUT` as a dict."""
    import json

    return json.loads(KNOCKOUT.at(run_dir).read_text())


def read_table(art: Artefact, run_dir: str | Path, layer: str | None = None):
    """A CSV artefact (``UNIT_CLASS``, ``ANOMALIES``, ``MATRIX_TABLE``, ``KNOCKOUT_CURVE``) as a
    pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(art.at(run_dir, **({"layer": layer} if layer is not None else {})))
