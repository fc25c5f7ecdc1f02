"""A job's Slurm identity, and what a requeued job continues from.

A sweep with ``hydra/launcher=slurm`` runs every job as a Slurm job through submitit. When Slurm
preempts a job, or sends the signal before its time limit (``--signal=USR2@<signal_delay_s>``),
submitit calls the launcher's ``checkpoint()``, which resubmits the same job (same overrides, same
run folder) and runs ``scontrol requeue``; an administrator's ``scontrol requeue`` does the same
from outside. Either way the job starts again with ``SLURM_RESTART_COUNT`` = restarts so far, and
:func:`continue_from` makes it continue from the run folder's ``checkpoints/last.ckpt``
(written at every epoch end), with the W&B run id of :func:`wandb_run_id` and the same record.
The same holds for a cancelled sweep submitted again with the same command and sweep folder.

The record of a Slurm job holds ``slurm`` = :func:`job_info` (job id, restarts, node, log files),
so a sweep summary can say which Slurm job failed and where its log is (:func:`describe`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

SUMMARY = "summary.json"


def restarts() -> int:
    """How often Slurm has restarted this job (0 on the first start, and outside Slurm)."""
    try:
        return int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0)
    except ValueError:
        return 0


def log_paths() -> tuple[str | None, str | None]:
    """This job's stdout and stderr files: submitit's ``<folder>/<job id>_<task>_log.out/.err``."""
    if "SUBMITIT_FOLDER" not in os.environ:
        return None, None
    try:
        import submitit

        paths = submitit.JobEnvironment().paths
        return str(paths.stdout), str(paths.stderr)
    except Exception:  # not a submitit job after all
        return None, None


def job_info() -> dict[str, Any] | None:
    """``{"job_id": "12_3", "raw_job_id": "15", "restarts": 0, "node", "partition", "log", "err_log",
    "submit_dir"}`` for a Slurm job (``job_id`` as squeue/scontrol name it: ``<array>_<task>`` for
    an array task); None outside Slurm."""
    raw = os.environ.get("SLURM_JOB_ID")
    if not raw:
        return None
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    out, err = log_paths()
    return {"job_id": f"{array}_{task}" if array and task else raw, "raw_job_id": raw,
            "restarts": restarts(), "node": os.environ.get("SLURMD_NODENAME"),
            "partition": os.environ.get("SLURM_JOB_PARTITION"), "log": out, "err_log": err,
            "submit_dir": os.environ.get("SLURM_SUBMIT_DIR")}


def previous_record(run_dir: str | Path, overrides: list[str]) -> dict | None:
    """The record an earlier start of the same Slurm job left in its run folder, else None.

    The same job: a record with a ``slurm`` entry and the same overrides, written by an earlier
    start (a requeue) or by the same sweep submitted again into the same folder (resuming a
    cancelled sweep). Only for restarted jobs and jobs of the submitit launcher: a command typed
    twice inside ``salloc`` into one folder starts afresh."""
    path = Path(run_dir) / SUMMARY
    if not path.is_file() or (restarts() == 0 and "SUBMITIT_FOLDER" not in os.environ):
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    same = data.get("slurm") and list(data.get("overrides") or []) == list(overrides)
    return data if same else None


def continue_from(run_dir: str | Path, previous: dict | None) -> str | None:
    """``<run>/checkpoints/last.ckpt`` when an earlier start of this job (``previous``) saved one.

    last.ckpt is written at epoch ends only, so the job repeats the cut epoch from its start, with
    the same data order (seeded per epoch) and the restored optimizer state: its final weights and
    metrics are those of an uninterrupted run. A job that had finished is only tested again."""
    path = Path(run_dir) / "checkpoints" / "last.ckpt"
    return str(path) if previous is not None and path.is_file() else None


def wandb_run_id(previous: dict | None) -> str:
    """The W&B run id for this start: the one the earlier start recorded, else a new one."""
    if previous and previous.get("wandb_id"):
        return str(previous["wandb_id"])
    import secrets
    import string

    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(8))


def describe(record: dict) -> str:
    """``slurm job 12_3 (restarted 1x), log /sweep/.submitit/12_3/12_3_0_log.out`` or ``""``."""
    info = record.get("slurm") or {}
    if not info:
        return ""
    again = f" (restarted {info['restarts']}x)" if info.get("restarts") else ""
    return f"slurm job {info.get('job_id')}{again}, log {info.get('log') or '?'}"
