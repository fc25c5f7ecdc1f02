"""``LocalizationReport``: at the end of training, r (update tallies) vs d (fork differences) per
parameter tensor, written to the run folder and to W&B (see :mod:`knowloc.localization.analysis`).

Reads the tallies through :class:`knowloc.callbacks.UpdateTally`'s public ``tally`` and the fork
weights through :class:`knowloc.localization.module.LocalizationModule`'s ``forks`` stack.

One model (a single run): the files of :data:`knowloc.localization.artefacts.ARTEFACTS` (figures,
correlations, per-parameter table and arrays), and results ``localization/pearson/fc1.weight`` ...
in the record. Several stacked models (``activations`` x ``seeds``): one child run per model in
``<run>/runs/<activation>_seed<seed>/`` (its files and results here; its ``summary.json`` written
by the task, :mod:`knowloc.children`, so ``knowloc compare <run>/runs --by activation`` works), and
the models table over all models (the children's metrics in W&B: one row per child).
"""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch

from knowloc.artifacts import child_dir, log_results, run_dir
from knowloc.callbacks.update_tally import UpdateTally
from knowloc.localization import artefacts


class LocalizationReport(L.Callback):
    """``figures``: write the figures (for stacked runs, ``figures_per_model`` also per model);
    ``arrays_per_model``: stacked runs also write each model's per-parameter table and arrays
    (2.5 MB and ~1.5 s per model; otherwise its correlations and pixel map only: rerun a model
    alone, same weights, for its arrays); ``table_rows``: rows of the per-parameter table sent to
    W&B (the run folder's per-parameter table has all of them)."""

    def __init__(self, figures: bool = True, figures_per_model: bool = False, arrays_per_model: bool = False,
                 table_rows: int = 1000):
        self.figures, self.figures_per_model, self.table_rows = figures, figures_per_model, int(table_rows)
        self.arrays_per_model = arrays_per_model

    def on_train_end(self, trainer, pl_module) -> None:
        from knowloc.localization.analysis import analyze, results

        tallies = [cb for cb in trainer.callbacks if isinstance(cb, UpdateTally)]
        if not tallies or not tallies[0].tally or not bool(pl_module.forked):
            return
        tally = {k: v.cpu() for k, v in tallies[0].tally.items()}  # kept on the device until written out
        F = len(pl_module.fork_specs)
        fork_w = {k: v.view(-1, F, *v.shape[1:]).cpu() for k, v in pl_module.forks.stack().tensors().items()}
        fork_groups = [f.group for f in pl_module.fork_specs]
        models = pl_module.models
        stacked = len(models) > 1
        rows = []
        for m, (act, seed) in enumerate(models):
            failed = bool(pl_module.failed[m])
            res = {} if failed else analyze({k: v[m] for k, v in tally.items()},
                                            {k: v[m] for k, v in fork_w.items()}, fork_groups)
            scalars = results(res["stats"]) if res else {}
            scalars["phase1/test_acc"] = float(pl_module.phase1_test_acc[m])
            if tallies[0].steps is not None:
                for g in range(tallies[0].steps.shape[1]):
                    scalars[f"localization/tally_steps/group{g}"] = int(tallies[0].steps[m, g])
            rows.append({"activation": act, "seed": seed, "status": "failed" if failed else "finished",
                         **{k: v for k, v in scalars.items() if "/pearson/" in k or "/spearman/" in k or "test_acc" in k}})
            if not stacked:
                self._write(trainer, run_dir(trainer), res, {k: v[m] for k, v in tally.items()},
                            {k: v[m] for k, v in fork_w.items()}, fork_groups, wandb=True)
                log_results(trainer, scalars)
            else:
                self._model_record(trainer, pl_module, m, scalars, res, failed,
                                   {k: v[m] for k, v in tally.items()}, {k: v[m] for k, v in fork_w.items()},
                                   fork_groups)
        if stacked:
            artefacts.write_models(trainer, rows)
            log_results(trainer, {"localization/n_models": len(models),
                                  "localization/n_failed": int(pl_module.failed.sum())})
        log_results(trainer, {"localization/engine_s": pl_module.engine_seconds,
                              "localization/model_steps": pl_module.model_steps})
        engine = {}  # which device ran the engine, and how each phase's chunks were split
        for (phase, models, steps, _), plan in sorted(pl_module.launch.items(), key=lambda kv: -kv[0][2]):
            engine.setdefault("localization/engine/device", plan.device)
            engine.setdefault("localization/engine/launch_budget_bytes", plan.budget)
            engine.setdefault(f"localization/engine/{phase}/models", models)
            engine.setdefault(f"localization/engine/{phase}/models_per_launch", plan.models)
            engine.setdefault(f"localization/engine/{phase}/steps_per_launch", plan.steps)
        log_results(trainer, engine)

    # -- writing ------------------------------------------------------------------------------------
    def _write(self, trainer, folder: Path, res: dict, tally, forks, fork_groups, wandb: bool) -> None:
        """One model's files into ``folder`` (:func:`knowloc.localization.artefacts.write`)."""
        artefacts.write(trainer, folder, res, tally, forks, fork_groups, wandb, figures=self.figures,
                        figures_per_model=self.figures_per_model, arrays_per_model=self.arrays_per_model,
                        table_rows=self.table_rows)

    def _model_record(self, trainer, pl_module, m, scalars, res, failed, tally, forks, fork_groups):
        """One stacked model's files and results in its child run's folder (its record is written by
        the task from ``pl_module.child_runs()``, :mod:`knowloc.children`)."""
        name = pl_module.child_name(m)
        if not failed:
            self._write(trainer, child_dir(trainer, name), res, tally, forks, fork_groups, wandb=False)
        log_results(trainer, {k: v for k, v in scalars.items() if not (isinstance(v, float) and math.isnan(v))},
                    child=name)
