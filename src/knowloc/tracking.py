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


def wandb_logger(save_dir: str, project: str = "knowloc", group: str | None = None,
                 job_type: str | None = None, tags: list[str] | None = None, name: str | None = None,
                 entity: str | None = None, run_config: dict | None = None, log_model: bool = False,
                 id: str | None = None, resume: str | None = None) -> Logger:
    """A Lightning ``WandbLogger``; offline unless the user sets ``WANDB_MODE``; ``id`` and
    ``resume`` (``"allow"``) continue a W&B run, e.g. that of a requeued Slurm job."""
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("WANDB_SILENT", "true")
    from lightning.pytorch.loggers import WandbLogger

    from omegaconf import OmegaConf

    if OmegaConf.is_config(run_config):
        run_config = OmegaConf.to_container(run_config, resolve=True)
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    logger = WandbLogger(project=project, group=group or sweep_group(), job_type=job_type,
                         tags=list(tags or []), name=name, entity=entity, save_dir=str(save_dir),
                         config=run_config, log_model=log_model, reinit="finish_previous",
                         **({"id": id, "resume": resume} if id else {}))
    # Lightning always passes `anonymous`, which this wandb only warns about (it has no effect)
    getattr(logger, "_wandb_init", {}).pop("anonymous", None)
    return logger


def csv_logger(save_dir: str) -> Logger:
    """Metrics history as ``<run>/metrics/metrics.csv``."""
    return CSVLogger(save_dir=str(save_dir), name="metrics", version="")


def wandb_run_of(trainer) -> Any:
    """The W&B run of a trainer, or None when W&B is not used."""
    from lightning.pytorch.loggers import WandbLogger

    for lg in getattr(trainer, "loggers", []) or []:
        if isinstance(lg, WandbLogger):
            return lg.experiment
    return None


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
