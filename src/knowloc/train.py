"""The Hydra task: compose -> validate -> seed -> instantiate -> [stages] -> fit -> test -> record
-> [child records].

Every experiment family is a LightningModule plus callbacks chosen by config, so this one
function runs them all. The run's folder (Hydra's output folder) receives ``summary.json``,
``metrics/metrics.csv``, checkpoints and every artefact; the W&B run (if any) is finished here.
Named stages before the fit (``stages:`` in the config) hand their product to the model
(:mod:`knowloc.stages`); a module's child runs get their records at the end (:mod:`knowloc.children`).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from knowloc import children, slurm, stages
from knowloc.errors import DivergenceError, UserError, user_error_in
from knowloc.records import RunRecord, device_info
from knowloc.validation import validate

log = logging.getLogger("knowloc")

#: Jobs of this process that failed (divergence); the CLI exits non-zero when any did.
FAILED_JOBS: list[str] = []


def _hydra_context() -> tuple[Path | None, dict, list[str], bool]:
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode

        hc = HydraConfig.get()
        choices = {k: v for k, v in hc.runtime.choices.items() if not k.startswith("hydra")}
        return Path(hc.runtime.output_dir), choices, list(hc.overrides.task), hc.mode == RunMode.MULTIRUN
    except ValueError:
        return None, {}, [], False


class _DropTips(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()  # Ctrl-C: knowloc prints its own line (interrupted_line)
        return "Tip:" not in msg and "Detected KeyboardInterrupt" not in msg


def quiet_logs(multirun: bool) -> None:
    """Lightning's messages once (not again through Hydra's root handler), without
    advertisements; in multirun jobs warnings only."""
    import warnings

    warnings.filterwarnings("ignore", message=".*treespec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*tensorboardX.*")
    warnings.filterwarnings("ignore", message=".*`srun` command is available.*")  # Slurm installed, not used
    warnings.filterwarnings("ignore", message=".*Checkpoint directory .* exists and is not empty.*")  # resume
    for name in ("lightning.pytorch", "lightning.fabric"):
        lg = logging.getLogger(name)
        lg.propagate = False
        # Lightning adds a stderr handler of its own when it is imported before any logging is set
        # up (e.g. by the preflight); without it the messages go where they go when Hydra sets up
        # logging first: warnings only, whatever the import order
        for h in list(lg.handlers):
            if type(h) is logging.StreamHandler and getattr(h, "stream", None) in (sys.stderr, sys.stdout):
                lg.removeHandler(h)
        if not any(isinstance(f, _DropTips) for f in lg.filters):
            lg.addFilter(_DropTips())
        for h in lg.handlers:
            if not any(isinstance(f, _DropTips) for f in h.filters):
                h.addFilter(_DropTips())
        lg.setLevel(logging.WARNING if multirun else logging.INFO)


def _final_metrics(trainer) -> dict:
    out = {}
    for k, v in (trainer.callback_metrics if trainer is not None else {}).items():
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            out[k] = v.item()
    return out


def instantiate_all(node: DictConfig | None) -> list:
    """Instantiate every entry of a group like ``callbacks`` that has a ``_target_``."""
    from hydra.utils import instantiate

    if not node:
        return []
    return [instantiate(c) for c in node.values() if isinstance(c, DictConfig) and "_target_" in c]


def instantiate_loggers(node: DictConfig | None, resolved: dict, resume=None, wandb_id: str | None = None) -> list:
    """The loggers of the ``logger`` group; W&B gets the resolved config as its run config (passed
    non-recursively, so the ``_target_`` nodes inside it are not instantiated a second time).
    Resuming in the same folder (``resume``: :class:`knowloc.resume.Resume`) continues the W&B run
    (same id) and keeps the CSV rows logged before the checkpoint; ``wandb_id`` (a Slurm job's id,
    kept over requeues) names the W&B run, resumed if a run with that id exists."""
    from hydra.utils import instantiate

    same = resume is not None and resume.same_folder
    loggers = []
    for name, lg in (node or {}).items():
        if isinstance(lg, DictConfig) and "_target_" in lg:
            extra = {}
            if name == "wandb":
                extra = {"run_config": resolved, "_recursive_": False}
                run_id = wandb_id or (resume.wandb_id if same else None)
                if run_id:
                    extra["run_id"] = run_id
            elif name == "csv" and same:
                extra = {"resume_step": resume.global_step}
            loggers.append(instantiate(lg, **extra))
    return loggers


def check_before_training(datamodule, model, callbacks: list) -> None:
    """What can fail before training fails here, before any logger (a W&B run) or trainer exists:
    an image data module builds its splits (an empty class fails), and each callback with a
    ``check(pl_module)`` method checks itself against the model (layer names)."""
    from knowloc.data.image import ImageDataModule

    if isinstance(datamodule, ImageDataModule):
        datamodule.setup("fit")
    for cb in callbacks:
        if callable(getattr(cb, "check", None)):
            cb.check(model)


_HYDRA_FILES = {".hydra", "summary.json"}


def discard_unstarted(run_dir: Path) -> None:
    """Remove a run folder that holds only what Hydra and the record wrote before a user error
    (``.hydra/``, the job log, ``summary.json``): nothing ran, so no half-written run is left."""
    import shutil

    try:
        entries = list(run_dir.iterdir())
    except OSError:
        return
    if entries and all(p.name in _HYDRA_FILES or p.suffix == ".log" for p in entries):
        shutil.rmtree(run_dir, ignore_errors=True)


def run(cfg: DictConfig) -> dict:
    """Run one job; returns its record (the content of ``summary.json``)."""
    import lightning as L
    from hydra.utils import instantiate

    from knowloc.resume import interrupted_line
    from knowloc.resume import prepare as prepare_resume
    from knowloc.tracking import finish_wandb, wandb_run_id

    hydra_dir, choices, overrides, multirun = _hydra_context()
    run_dir = hydra_dir or Path(cfg.paths.output_dir)
    try:
        validate(cfg)
        named = stages.declared(cfg)  # the named stages, the main fit last; [] for a run that is one fit
        resume = prepare_resume(cfg, run_dir)
    except UserError:
        discard_unstarted(run_dir)
        raise
    quiet_logs(multirun)
    threads_before = torch.get_num_threads()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    torch_threads = torch.get_num_threads()
    resolved = OmegaConf.to_container(cfg, resolve=True)
    info = slurm.job_info()  # a requeued (or resubmitted) Slurm job continues its own record
    previous = slurm.previous_record(run_dir, overrides) if info else None
    if resume is None and previous is not None:
        from knowloc.resume import continue_slurm_job

        resume = continue_slurm_job(run_dir, previous)
    record = RunRecord(run_dir, resolved, int(cfg.seed), choices, overrides)
    wandb_id = None
    if info is not None:
        wandb_id = slurm.wandb_run_id(previous) if "wandb" in (cfg.get("logger") or {}) else None
        record.data.update(slurm=info, wandb_id=wandb_id)
        record.save()
    record.data["torch_threads"] = torch_threads  # the thread count the job ran with
    trainer = model = fit_started = None
    started = False
    status, error, exit_code = "failed", None, 1
    try:
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)
        datamodule = instantiate(cfg.data)
        products = {}  # the stages before the fit, in order; each one's product is an argument of the model
        for stage in named[:-1]:
            products[stage.argument] = stages.run_before_fit(stage, cfg, record, run_dir)
        model = instantiate(cfg.model, **products)
        callbacks = instantiate_all(cfg.get("callbacks"))
        check_before_training(datamodule, model, callbacks)
        loggers = instantiate_loggers(cfg.get("logger"), {**resolved, "choices": choices, "overrides": overrides},
                                      resume, wandb_id)
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                              default_root_dir=str(run_dir),
                              enable_progress_bar=bool(cfg.trainer.get("enable_progress_bar", True)) and not multirun)
        record.data["device"] = device_info(trainer)
        if resume is not None and record.data.get("slurm"):
            record.data["slurm"]["continued_from"] = str(resume.path)
        if hasattr(datamodule, "describe"):
            record.data["data"] = datamodule.describe()
            record.save()
        stages.log_to_wandb(trainer, record)
        fit_started = stages.begin(record, named[-1].name) if named else None
        started = True
        trainer.fit(model, datamodule=datamodule, ckpt_path=str(resume.path) if resume else None)
        if trainer.interrupted:
            status, exit_code = "interrupted", 130
        else:
            if cfg.get("test", True) and hasattr(datamodule, "test_dataloader"):
                trainer.test(model, datamodule=datamodule, verbose=False)
            status, exit_code = "finished", 0
    except (DivergenceError, stages.StageError) as e:
        status, error, exit_code = "failed", str(e), e.exit_code
        print(f"knowloc: error: {e} (run folder {run_dir})", file=sys.stderr)
        FAILED_JOBS.append(str(run_dir))
    except UserError as e:
        status, error, exit_code = "failed", str(e), e.exit_code
        raise
    except (KeyboardInterrupt, SystemExit) as e:  # Ctrl-C (Lightning exits after a graceful shutdown)
        status, error, exit_code = "interrupted", type(e).__name__, 130
        print(interrupted_line(trainer, run_dir, overrides), file=sys.stderr)
        raise SystemExit(130) from None
    except BaseException as e:
        cause = user_error_in(e)
        if cause is not None:  # e.g. a UserError raised by a constructor Hydra instantiated
            status, error, exit_code = "failed", str(cause), cause.exit_code
            raise cause from None
        status, error = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        torch.set_num_threads(threads_before)
        try:
            record.data["wandb_dir"] = finish_wandb(exit_code=0 if status == "finished" else 1)
        except Exception as e:  # Slurm's SIGTERM (requeue, scancel) also ends W&B's service process
            if status != "interrupted":
                raise
            log.warning("knowloc: W&B run not finished cleanly on interrupt: %s", e)
        record.data["wandb_id"] = wandb_run_id(record.data.get("wandb_dir")) or record.data.get("wandb_id")
        if fit_started is not None:
            stages.end(record, named[-1].name, fit_started, status, _final_metrics(trainer), error)
        record.finish(status, _final_metrics(trainer), error)
        if status == "finished" and callable(getattr(model, "child_runs", None)):
            children.write(record, model.child_runs())
        if status == "failed" and not started and error is not None and exit_code == UserError.exit_code:
            discard_unstarted(run_dir)
    if status == "finished" and not multirun:
        _report(record.data, run_dir)
    return record.data


def _report(data: dict, run_dir: Path) -> None:
    m = data["metrics"]
    if "test/acc" in m:
        print(f"test accuracy: {100 * float(m['test/acc']):.2f}%")
    print(f"output folder: {run_dir}")
    if data.get("wandb_dir"):
        mode = os.environ.get("WANDB_MODE", "offline")
        print(f"W&B run folder ({mode}): {data['wandb_dir']}")
        if mode == "offline":
            print(f"sync it with: wandb sync {data['wandb_dir']}")
