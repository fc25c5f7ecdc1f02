"""The Hydra task: compose -> validate -> seed -> instantiate -> fit -> test -> record.

Every experiment family is a LightningModule plus callbacks chosen by config, so this one
function runs them all. The run's folder (Hydra's output folder) receives ``summary.json``,
``metrics/metrics.csv``, checkpoints and every artefact; the W&B run (if any) is finished here.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf

from knowloc.errors import DivergenceError, UserError
from knowloc.records import RunRecord
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
        return "Tip:" not in record.getMessage()


def quiet_logs(multirun: bool) -> None:
    """Lightning's messages once (not again through Hydra's root handler), without
    advertisements; in multirun jobs warnings only."""
    import warnings

    warnings.filterwarnings("ignore", message=".*treespec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=".*tensorboardX.*")
    for name in ("lightning.pytorch", "lightning.fabric"):
        lg = logging.getLogger(name)
        lg.propagate = False
        if not any(isinstance(f, _DropTips) for f in lg.filters):
            lg.addFilter(_DropTips())
        for h in lg.handlers:
            if not any(isinstance(f, _DropTips) for f in h.filters):
                h.addFilter(_DropTips())
        lg.setLevel(logging.WARNING if multirun else logging.INFO)


def _resume_path(resume: Any, run_dir: Path) -> str | None:
    """``resume=true``: this run folder's ``checkpoints/last.ckpt``; ``resume=PATH``: a run folder
    or a checkpoint file."""
    if resume in (None, False, "false", "False"):
        return None
    if resume is True:
        path = run_dir / "checkpoints" / "last.ckpt"
    else:
        path = Path(str(resume))
        if path.is_dir():
            path = path / "checkpoints" / "last.ckpt"
    if not path.is_file():
        raise UserError(f"resume={resume!r}: no checkpoint at {path} (resume=true continues the run in "
                        f"hydra.run.dir; resume=PATH takes a run folder or a .ckpt file)")
    return str(path)


def _user_error_in(exc: BaseException) -> UserError | None:
    """The UserError behind a wrapped exception (Hydra's InstantiationException), if any."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, UserError):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


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


def instantiate_loggers(node: DictConfig | None, resolved: dict) -> list:
    """The loggers of the ``logger`` group; W&B gets the resolved config as its run config (passed
    non-recursively, so the ``_target_`` nodes inside it are not instantiated a second time)."""
    from hydra.utils import instantiate

    loggers = []
    for name, lg in (node or {}).items():
        if isinstance(lg, DictConfig) and "_target_" in lg:
            extra = {"run_config": resolved, "_recursive_": False} if name == "wandb" else {}
            loggers.append(instantiate(lg, **extra))
    return loggers


def run(cfg: DictConfig) -> dict:
    """Run one job; returns its record (the content of ``summary.json``)."""
    import lightning as L
    from hydra.utils import instantiate

    from knowloc.tracking import finish_wandb

    hydra_dir, choices, overrides, multirun = _hydra_context()
    run_dir = hydra_dir or Path(cfg.paths.output_dir)
    validate(cfg)
    quiet_logs(multirun)
    threads_before = torch.get_num_threads()
    if cfg.get("threads"):
        torch.set_num_threads(int(cfg.threads))
    torch_threads = torch.get_num_threads()
    resolved = OmegaConf.to_container(cfg, resolve=True)
    record = RunRecord(run_dir, resolved, int(cfg.seed), choices, overrides)
    record.data["torch_threads"] = torch_threads  # the thread count the job ran with
    trainer = None
    status, error, exit_code = "failed", None, 1
    try:
        L.seed_everything(int(cfg.seed), workers=True, verbose=False)
        datamodule = instantiate(cfg.data)
        model = instantiate(cfg.model)
        callbacks = instantiate_all(cfg.get("callbacks"))
        loggers = instantiate_loggers(cfg.get("logger"), resolved)
        trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                              default_root_dir=str(run_dir),
                              enable_progress_bar=bool(cfg.trainer.get("enable_progress_bar", True)) and not multirun)
        ckpt = _resume_path(cfg.get("resume"), run_dir)
        if hasattr(datamodule, "describe"):
            record.data["data"] = datamodule.describe()
            record.save()
        trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt)
        if trainer.interrupted:
            status, exit_code = "interrupted", 130
        else:
            if cfg.get("test", True) and hasattr(datamodule, "test_dataloader"):
                trainer.test(model, datamodule=datamodule, verbose=False)
            status, exit_code = "finished", 0
    except DivergenceError as e:
        status, error, exit_code = "failed", str(e), DivergenceError.exit_code
        log.error("knowloc: %s", e)
        print(f"knowloc: error: {e} (run folder {run_dir})", file=sys.stderr)
        FAILED_JOBS.append(str(run_dir))
    except UserError as e:
        status, error, exit_code = "failed", str(e), e.exit_code
        raise
    except (KeyboardInterrupt, SystemExit) as e:
        status, error, exit_code = "interrupted", type(e).__name__, 130
        raise
    except BaseException as e:
        cause = _user_error_in(e)
        if cause is not None:  # e.g. a UserError raised by a constructor Hydra instantiated
            status, error, exit_code = "failed", str(cause), cause.exit_code
            raise cause from None
        status, error = "failed", f"{type(e).__name__}: {e}"
        raise
    finally:
        torch.set_num_threads(threads_before)
        record.data["wandb_dir"] = finish_wandb(exit_code=0 if status == "finished" else 1)
        record.finish(status, _final_metrics(trainer), error)
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
