"""Experiment trackers: W&B (offline unless ``WANDB_MODE`` says otherwise) and local CSV metrics.

Each Hydra job is its own W&B run, grouped by sweep, and finished when the job ends
(:func:`finish_wandb`), so runs never leak between jobs of one process.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import CSVLogger, Logger


def sweep_group() -> str | None:
    """``sweep-<sweep dir>`` in a Hydra multirun, else None."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        if hc.mode == RunMode.MULTIRUN:
            return "sweep-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", str(hc.sweep.dir).strip("/"))[-100:]
    except Exception:
        return None
    return None


def run_labels() -> tuple[str | None, dict[str, Any]]:
    """(W&B run name, swept values) of this Hydra job: in a multirun the swept overrides
    (``activation=relu seed=1``) and ``{key: value}`` with YAML types; in a single run all its
    overrides and {}; (None, {}) without Hydra or overrides."""
    import yaml

    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
    except Exception:
        return None, {}
    task = [o for o in hc.overrides.task if "=" in o and not o.lstrip("+~").startswith("hydra")]
    if hc.mode != RunMode.MULTIRUN:
        return (" ".join(task)[:128] or None), {}
    from knowloc.sweep_progress import swept_keys

    keys = swept_keys(hc.sweep.dir)
    chosen = [o for o in task if keys is None or o.split("=", 1)[0].lstrip("+~") in keys]
    values = {}
    for o in chosen:
        k, v = o.split("=", 1)
        try:
            values[k.lstrip("+~")] = yaml.safe_load(v)
        except yaml.YAMLError:
            values[k.lstrip("+~")] = v
    return (" ".join(chosen)[:128] or None), values


def wandb_logger(save_dir: str, project: str = "knowloc", group: str | None = None,
                 job_type: str | None = None, tags: list[str] | None = None, name: str | None = None,
                 entity: str | None = None, run_config: dict | None = None, log_model: bool = False,
                 run_id: str | None = None) -> Logger:
    """A Lightning ``WandbLogger``; offline unless the user sets ``WANDB_MODE``. ``run_id``
    continues that W&B run (W&B's resume mode ``allow``: same id, history appended)."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    from lightning.pytorch.loggers import WandbLogger

    from omegaconf import OmegaConf

    if OmegaConf.is_config(run_config):
        run_config = OmegaConf.to_container(run_config, resolve=True)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    label, swept = run_labels()
    name = name or label
    if swept and isinstance(run_config, dict):  # plain values a W&B panel can group by
        run_config = {**run_config, "swept": swept}
    logger = WandbLogger(project=project, group=group or sweep_group(), job_type=job_type,
                         tags=list(tags or []), name=name, entity=entity, save_dir=str(save_dir),
                         config=run_config, log_model=log_model, reinit="finish_previous",
                         **({"id": run_id, "resume": "allow"} if run_id else {}))
    # Lightning always passes `anonymous`, which this wandb only warns about (it has no effect)
    getattr(logger, "_wandb_init", {}).pop("anonymous", None)
    return logger


class ResumedCSVLogger(CSVLogger):
    """A CSVLogger that keeps the rows of ``metrics.csv`` logged before step ``resume_step`` (the
    global step of the checkpoint a run resumes from); later rows are logged again by the resumed
    run. Lightning's CSV writer would otherwise delete the file."""

    def __init__(self, *args, resume_step: int, **kwargs):
        super().__init__(*args, **kwargs)
        self._resume_step = resume_step

    @property
    def experiment(self):
        if self._experiment is not None:
            return self._experiment
        import csv
        import warnings

        path = Path(self.log_dir) / "metrics.csv"
        rows = []
        if path.is_file():
            with open(path, newline="") as f:
                for row in csv.DictReader(f):
                    if row.get("step") not in (None, "") and int(float(row["step"])) < self._resume_step:
                        rows.append({k: (int(float(v)) if k in ("step", "epoch") else float(v))
                                     for k, v in row.items() if v not in (None, "")})
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
            writer = super().experiment
        if rows:
            writer.metrics = rows + writer.metrics
            writer.save()
        return writer


def csv_logger(save_dir: str, resume_step: int | None = None) -> Logger:
    """Metrics history as ``<run>/metrics/metrics.csv``; ``resume_step``: continue that file,
    keeping its rows before the step (see :class:`ResumedCSVLogger`)."""
    if resume_step is not None:
        return ResumedCSVLogger(save_dir=str(save_dir), name="metrics", version="", resume_step=resume_step)
    return CSVLogger(save_dir=str(save_dir), name="metrics", version="")


def wandb_run_of(trainer) -> Any:
    """The W&B run of a trainer, or None when W&B is not used."""
    from lightning.pytorch.loggers import WandbLogger

    for lg in getattr(trainer, "loggers", []) or []:
        if isinstance(lg, WandbLogger):
            return lg.experiment
    return None


def wandb_run_id(folder: str | Path | None) -> str | None:
    """The run id of a local W&B run folder (``offline-run-<date>_<time>-<id>`` or ``run-...-<id>``)."""
    if not folder:
        return None
    return Path(folder).name.rsplit("-", 1)[-1] or None


def finish_wandb(exit_code: int = 0) -> str | None:
    """Finish the active W&B run (if any); returns its local folder."""
    try:
        import wandb
    except ImportError:  # pragma: no cover
        return None
    run = wandb.run
    if run is None:
        return None
    folder = str(Path(run.dir).parent)
    wandb.finish(exit_code=exit_code)
    return folder
