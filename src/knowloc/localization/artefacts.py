"""Every file the localization family writes, under ``<run>/localization/``: :data:`ARTEFACTS`
(path and meaning of each). :class:`knowloc.callbacks.LocalizationReport` writes through
:func:`write` (one model's files, into any folder: the run's, or a stacked model's own record
``<run>/runs/<activation>_seed<seed>/``) and :func:`write_models`; the explorer page, the results
and the tests read through :func:`read_correlations`, :func:`read_arrays`, :func:`read_models`.

r and d per parameter (:mod:`knowloc.localization.analysis`): r = A / (A + B) (update tally
share of group 0), d = D_A / (D_A + D_B) (fork difference share). Columns: ``correlations``: one
row per tensor (and ``biases``, pooled): param, n, pearson (+ ``_low``/``_high``, Fisher-z 95%),
spearman (+ interval), welch_t, welch_p, d_mean_r_above_half, d_mean_r_below_half, welch_r_by_d_t,
welch_r_by_d_p, r_mean_top_half_d, r_mean_bottom_half_d, r_mean, d_mean; ``parameters``: param,
unit, input (-1 for a bias), r, d, tally_<g>, fork_distance_<g>; ``models``: activation, seed,
status, pearson/spearman results, phase1/test_acc. Arrays (``params.npz``): ``<tensor>/r``,
``<tensor>/d`` (the tensor's shape), ``<tensor>/tally`` (G, *shape), ``<tensor>/fork_distance``
(G, *shape), ``pixel_map`` (D,): per input pixel, Pearson over hidden units of r vs d of
``fc1.weight[:, pixel]``. A stacked model without ``arrays_per_model`` keeps ``pixel_map`` only.

Results (``summary.json`` metrics and the W&B summary): ``localization/<statistic>/<param>``
(:func:`knowloc.localization.analysis.results`), ``localization/tally_steps/group<g>``,
``phase1/test_acc``, ``localization/engine_s``, ``localization/model_steps``,
``localization/engine/...``; stacked runs ``localization/n_models``, ``localization/n_failed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from knowloc.artifacts import Artefact

CORRELATIONS = Artefact("localization/correlations.csv",
                        "per tensor: Pearson and Spearman of r vs d with 95% intervals, Welch tests, means")
PARAMETERS = Artefact("localization/parameters.csv",
                      "per parameter: r, d, the tally and fork distance of every group")
ARRAYS = Artefact("localization/params.npz",
                  "r, d, tallies and fork distances of every tensor (its shape), and the pixel map")
SCATTER_LARGE = Artefact("localization/scatter_large.png", "r vs d per tensor, large markers")
SCATTER_SMALL = Artefact("localization/scatter_small.png",
                         "r vs d per tensor, small markers coloured by hidden unit (fc1.weight)")
PIXEL_MAP = Artefact("localization/pixel_map.png", "per input pixel: the r-vs-d correlation of its weights")
MODELS = Artefact("localization/models.csv", "stacked runs: one row per model (status, correlations, accuracy)")
ARTEFACTS = (CORRELATIONS, PARAMETERS, ARRAYS, SCATTER_LARGE, SCATTER_SMALL, PIXEL_MAP, MODELS)


def present(run_dir: Path) -> bool:
    """Whether ``run_dir`` holds a localization report (one model's arrays or a stack's models)."""
    return ARRAYS.exists(run_dir) or MODELS.exists(run_dir)


def _parameters(res: dict, tally: dict, forks: dict, fork_groups) -> tuple[dict, "object"]:
    """The arrays of :data:`ARRAYS` and the table of :data:`PARAMETERS` of one model."""
    import pandas as pd

    from knowloc.localization.analysis import fork_distance

    arrays, frames = {}, []
    for name in sorted(res["r"], key=lambda k: res["r"][k].size):  # small tensors first
        G = tally[name].shape[0]
        D = fork_distance(forks[name], fork_groups, G)
        arrays[f"{name}/r"], arrays[f"{name}/d"] = res["r"][name], res["d"][name]
        arrays[f"{name}/tally"], arrays[f"{name}/fork_distance"] = tally[name].numpy(), D.numpy()
        shape = res["r"][name].shape
        idx = np.indices(shape).reshape(len(shape), -1)
        frame = {"param": name, "unit": idx[0],
                 "input": idx[1] if len(shape) > 1 else np.full(idx.shape[1], -1),
                 "r": res["r"][name].ravel(), "d": res["d"][name].ravel()}
        for g in range(G):
            frame[f"tally_{g}"] = tally[name][g].numpy().ravel()
            frame[f"fork_distance_{g}"] = D[g].numpy().ravel()
        frames.append(pd.DataFrame(frame))
    if "pixel_map" in res:
        arrays["pixel_map"] = res["pixel_map"]
    return arrays, pd.concat(frames, ignore_index=True)


def write(trainer, folder: Path, res: dict, tally: dict, forks: dict, fork_groups, wandb: bool,
          figures: bool = True, figures_per_model: bool = False, arrays_per_model: bool = False,
          table_rows: int = 1000) -> None:
    """One model's files (:data:`CORRELATIONS`, :data:`ARRAYS`, :data:`PARAMETERS`, the figures)
    into ``folder``, from :func:`knowloc.localization.analysis.analyze`'s ``res``, its ``tally``
    ``{param: (G, *shape)}`` and fork weights ``{param: (F, *shape)}``.

    ``wandb``: the run's own model (``folder`` is the run folder): tables and figures also go to
    W&B (:func:`knowloc.artifacts.save_table`/``save_figure``; the W&B parameter table holds the
    first ``table_rows`` rows). Otherwise a stacked model: its statistics, and its pixel map only
    unless ``arrays_per_model``; its figures only with ``figures_per_model``."""
    import pandas as pd

    from knowloc import artifacts
    from knowloc.localization.analysis import pixel_map_figure, scatter_figure

    CORRELATIONS.at(folder).parent.mkdir(parents=True, exist_ok=True)
    stats = pd.DataFrame(res["stats"])
    stats.to_csv(CORRELATIONS.at(folder), index=False)
    if not wandb and not arrays_per_model:  # a stacked model: statistics and pixel map only
        if "pixel_map" in res:
            np.savez_compressed(ARRAYS.at(folder), pixel_map=res["pixel_map"])
    else:
        arrays, table = _parameters(res, tally, forks, fork_groups)
        np.savez_compressed(ARRAYS.at(folder), **arrays)
        if wandb:
            artifacts.save_table(trainer, PARAMETERS.key, table, wandb_rows=table_rows)
        else:
            table.to_csv(PARAMETERS.at(folder), index=False)
    if wandb:
        artifacts.save_table(trainer, CORRELATIONS.key, stats)
    if figures and (wandb or figures_per_model):
        figs = {SCATTER_LARGE: scatter_figure(res["r"], res["d"], res["stats"], small=False),
                SCATTER_SMALL: scatter_figure(res["r"], res["d"], res["stats"], small=True)}
        if "pixel_map" in res:
            figs[PIXEL_MAP] = pixel_map_figure(res["pixel_map"])
        for art, fig in figs.items():
            if wandb:
                artifacts.save_figure(trainer, art.key, fig)
            else:
                import matplotlib.pyplot as plt

                fig.savefig(art.at(folder), dpi=110, bbox_inches="tight")
                plt.close(fig)


def write_models(trainer, rows: list[dict]) -> None:
    """:data:`MODELS` (and its W&B table) of a stacked run: one row per model."""
    import pandas as pd

    from knowloc.artifacts import save_table

    save_table(trainer, MODELS.key, pd.DataFrame(rows))


def read_correlations(run_dir: Path):
    """:data:`CORRELATIONS` of a run (or of a stacked model's record) as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(CORRELATIONS.at(run_dir))


def read_parameters(run_dir: Path):
    """:data:`PARAMETERS` as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(PARAMETERS.at(run_dir))


def read_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    """Every array of :data:`ARRAYS` (``"fc1.weight/r"``, ..., ``"pixel_map"``)."""
    with np.load(ARRAYS.at(run_dir)) as z:
        return {k: z[k] for k in z.files}


def read_models(run_dir: Path):
    """:data:`MODELS` of a stacked run as a pandas DataFrame."""
    import pandas as pd

    return pd.read_csv(MODELS.at(run_dir))
