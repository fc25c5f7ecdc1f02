"""Resuming a run: which checkpoint, whether it can be read, whether anything is left to train,
and what continues (the rows of ``metrics/metrics.csv`` before the checkpoint's step, the W&B run);
after Ctrl-C, the one line that says where the run stopped and the command that resumes it.

``resume=true`` continues the run in ``hydra.run.dir`` from ``checkpoints/last.ckpt``;
``resume=PATH`` takes a run folder or a ``.ckpt`` file. Every check here runs before the run's
record, loggers or trainer exist, so a refused resume leaves the run folder as it was.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from knowloc.errors import UserError


@dataclass
class Resume:
    """A checkpoint to resume from: its path, global step, and (same folder only) the W&B run id."""

    path: Path
    global_step: int
    same_folder: bool
    wandb_id: str | None


def checkpoint_path(resume: Any, run_dir: Path) -> Path | None:
    """``resume=true``: ``<run_dir>/checkpoints/last.ckpt``; ``resume=PATH``: a run folder or a
    checkpoint file; None for a fresh run."""
    if resume in (None, False, "false", "False"):
        return None
    if resume is True:
        path = Path(run_dir) / "checkpoints" / "last.ckpt"
    else:
        path = Path(str(resume)).expanduser()
        if path.is_dir():
            path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise UserError(f"resume={resume!r}: no checkpoint at {path} (resume=true continues the run in "
                        f"hydra.run.dir; resume=PATH takes a run folder or a .ckpt file)")
    return path


def read_checkpoint(resume: Any, path: Path) -> dict:
    """The checkpoint's content, loaded as Lightning loads it (``torch.load`` on the CPU); a file
    that is not a Lightning checkpoint is a one-line error."""
    import torch

    try:
        ckpt = torch.load(path, map_location="cpu")
    except Exception as e:  # pickle, zip and torch errors of a damaged or foreign file
        # (torch's own message is many lines of advice about weights_only, not about the file)
        raise UserError(f"resume={resume!r}: {path} is not a readable checkpoint (damaged or not a "
                        f"Lightning .ckpt; torch.load: {type(e).__name__})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "global_step" not in ckpt:
        raise UserError(f"resume={resume!r}: {path} is not a Lightning checkpoint (no state_dict/global_step)")
    return ckpt


def _summary(run_folder: Path) -> dict:
    try:
        return json.loads((run_folder / "summary.json").read_text())
    except (OSError, ValueError):
        return {}


def _limits(config: dict) -> tuple:
    trainer = (config or {}).get("trainer", {}) or {}
    return trainer.get("max_epochs"), trainer.get("max_steps", -1)


def prepare(cfg, run_dir: Path) -> Resume | None:
    """Check ``cfg.resume`` for the job in ``run_dir``. A run whose record says ``finished`` is
    refused unless ``trainer.max_epochs``/``max_steps`` now ask for more training (nothing would
    be trained, and its test metrics would be recomputed over the same record)."""
    from omegaconf import OmegaConf

    from knowloc.tracking import wandb_run_id

    resume = cfg.get("resume")
    path = checkpoint_path(resume, run_dir)
    if path is None:
        return None
    ckpt = read_checkpoint(resume, path)
    source = path.parent.parent
    before = _summary(source)
    now = _limits(OmegaConf.to_container(cfg, resolve=True))
    if before.get("status") == "finished" and _limits(before.get("config", {})) == now:
        raise UserError(f"resume={resume!r}: the run in {source} already finished (trainer.max_epochs="
                        f"{now[0]}, trainer.max_steps={now[1]}); nothing to resume. Raise trainer.max_epochs "
                        f"to train it further")
    same = source.resolve() == Path(run_dir).resolve()
    return Resume(path, int(ckpt["global_step"]), same, wandb_run_id(before.get("wandb_dir")) if same else None)


def resume_command(run_dir: Path, overrides: list[str]) -> str:
    """The command line that resumes the run in ``run_dir``."""
    import shlex

    prog = sys.argv[0] if sys.argv and Path(sys.argv[0]).name == "knowloc" else "knowloc"
    keep = [o for o in overrides if not o.startswith(("resume=", "hydra.run.dir="))]
    return " ".join(shlex.quote(a) for a in [prog, *keep, f"hydra.run.dir={run_dir}", "resume=true"])


def interrupted_line(trainer, run_dir: Path, overrides: list[str]) -> str:
    """One line: where the run stopped, its folder, and how to resume it."""
    where = (f"at epoch {trainer.current_epoch}, step {trainer.global_step}" if trainer is not None
             else "before training")
    if (run_dir / "checkpoints" / "last.ckpt").is_file():
        return f"knowloc: interrupted {where}; run folder {run_dir}; resume with: {resume_command(run_dir, overrides)}"
    return f"knowloc: interrupted {where}; run folder {run_dir}; no checkpoint yet, so run it again to start over"


def continue_slurm_job(run_dir: Path, previous: dict | None) -> Resume | None:
    """A requeued (or resubmitted) Slurm job continues from its own ``checkpoints/last.ckpt``, with the
    W&B run id its earlier start recorded (:mod:`knowloc.slurm`); None when there is nothing to continue."""
    from knowloc import slurm

    path = slurm.continue_from(run_dir, previous)
    if path is None:
        return None
    ckpt = read_checkpoint("slurm requeue", Path(path))
    return Resume(Path(path), int(ckpt["global_step"]), True, (previous or {}).get("wandb_id"))
