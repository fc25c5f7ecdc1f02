"""Named stages of a run: what the task (:mod:`knowloc.train`) runs before its main fit.

A config may hold a ``stages`` node, in the order they run::

    stages:
      network: model.network   # a stage before the fit: builds and runs the node model.network
      search: fit              # the main stage: fit + test of cfg.model, as in every run

A stage before the fit names a node ``model.ARG`` whose ``_target_`` builds a *stage runner*: an
object with ``run(run_dir, trainer) -> StageResult`` (``trainer``: the run's trainer settings,
:func:`trainer_settings`). Its ``product`` is handed to the main model as its argument ``ARG``
(``instantiate(cfg.model, ARG=product)``), its ``metrics`` go to the record and to W&B.
A run without ``stages`` has one unnamed main stage (nothing is recorded per stage).

Stages run after ``seed_everything`` and ``instantiate(cfg.data)`` and before the model is built:
the global random stream sees the same draws as when the node was built inside ``instantiate(cfg.model)``.

Each named stage has an entry in ``summary.json``: ``stages[NAME] = {status, duration_s, metrics,
error}`` (status running / finished / failed / interrupted; the main stage's metrics: the trainer's
final logged scalars, ``trainer.callback_metrics``). A stage that raises fails the run:
a user error keeps its own line; anything else is :class:`StageError`, one line naming the stage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from knowloc.errors import ConfigValueError, DivergenceError, user_error_in

#: The value of a ``stages`` entry that names the main stage (fit + test).
FIT = "fit"
#: Stage metrics reach W&B as ``stages/<name>/<metric>``.
WANDB_PREFIX = "stages"


class StageError(RuntimeError):
    """A stage before the fit failed (not a user error): ``stage NAME failed: <cause>``."""

    exit_code = 3

    def __init__(self, stage: str, cause: BaseException):
        self.stage = stage
        text = str(cause).splitlines()[0] if str(cause) else ""
        what = text if isinstance(cause, DivergenceError) else f"{type(cause).__name__}: {text}"
        super().__init__(f"stage {stage} failed: {what}")


@dataclass
class StageResult:
    """What a stage runner returns: ``product`` (handed to the main model) and scalar ``metrics``."""

    product: Any
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Stage:
    """One entry of ``stages``: ``node`` is ``model.ARG`` (a stage before the fit) or None (the main stage)."""

    name: str
    node: str | None

    @property
    def argument(self) -> str:
        """The main model's argument that receives this stage's product."""
        return self.node.split(".", 1)[1]


def declared(cfg: DictConfig) -> list[Stage]:
    """The run's named stages, in order ([] without a ``stages`` node); the last is the main stage."""
    node = cfg.get("stages")
    if not node:
        return []
    out = []
    for name, value in node.items():
        if value == FIT:
            out.append(Stage(str(name), None))
            continue
        parts = str(value).split(".")
        target = OmegaConf.select(cfg, str(value)) if len(parts) == 2 and parts[0] == "model" else None
        if not isinstance(target, DictConfig) or "_target_" not in target:
            raise ConfigValueError(f"stages.{name}", value, f"{FIT} or model.ARG, a node with _target_ under model")
        out.append(Stage(str(name), str(value)))
    if [s.node for s in out].count(None) != 1 or out[-1].node is not None:
        raise ConfigValueError("stages", list(node.keys()), f"stages ending with one main stage (NAME: {FIT})")
    return out


def trainer_settings(cfg: DictConfig) -> dict[str, Any]:
    """The run's ``trainer.accelerator/devices/precision/deterministic``: a stage that trains a
    network trains it where (and as reproducibly as) the main fit runs."""
    t = OmegaConf.to_container(cfg.trainer, resolve=True)
    return {"accelerator": t.get("accelerator", "cpu"), "devices": t.get("devices", 1),
            "precision": t.get("precision"), "deterministic": bool(t.get("deterministic") or False)}


def begin(record, name: str) -> float:
    """Mark stage ``name`` running in the record; its start time."""
    record.data.setdefault("stages", {})[name] = {"status": "running", "duration_s": None, "metrics": {},
                                                  "error": None}
    record.save()
    return time.time()


def end(record, name: str, started: float, status: str, metrics: dict | None = None,
        error: str | None = None) -> None:
    """Stage ``name``'s outcome in the record."""
    from knowloc.records import to_jsonable

    record.data.setdefault("stages", {})[name] = {
        "status": status, "duration_s": round(time.time() - started, 3), "metrics": to_jsonable(metrics or {}),
        "error": error}
    record.save()


def run_before_fit(stage: Stage, cfg: DictConfig, record, run_dir) -> Any:
    """Build the stage's runner from its node, run it, record it; its product.

    Raises the stage's :class:`UserError` unchanged, anything else as :class:`StageError`."""
    from hydra.utils import instantiate

    started = begin(record, stage.name)
    try:
        runner = instantiate(OmegaConf.select(cfg, stage.node))
        result = runner.run(run_dir=run_dir, trainer=trainer_settings(cfg))
    except Exception as e:
        cause = user_error_in(e)
        error = StageError(stage.name, e) if cause is None else cause
        end(record, stage.name, started, "failed", error=str(error))
        if cause is not None:
            raise cause from None
        raise error from e
    except BaseException:  # Ctrl-C, Slurm's SIGTERM
        end(record, stage.name, started, "interrupted", error="interrupted")
        raise
    end(record, stage.name, started, "finished", result.metrics)
    return result.product


def log_to_wandb(trainer, record) -> None:
    """The finished stages' metrics into the W&B run summary as ``stages/<name>/<metric>``."""
    from knowloc.tracking import wandb_run_of

    done = {n: s for n, s in (record.data.get("stages") or {}).items() if s["status"] == "finished"}
    run = wandb_run_of(trainer) if done else None
    if run is not None:
        for name, entry in done.items():
            for k, v in entry["metrics"].items():
                run.summary[f"{WANDB_PREFIX}/{name}/{k}"] = v
