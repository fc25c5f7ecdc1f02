"""Child records: runs that a job holds inside its own, e.g. one per stacked model of
``experiment=localization_stack``, each with a record of its own in ``<run>/runs/<name>/`` as if it
had been run alone (so ``knowloc compare <run>/runs --by activation`` reads them like a sweep).

A LightningModule declares them with ``child_runs() -> list[Child]`` (name, config updates, status,
error); callbacks write a child's results and files through :func:`knowloc.artifacts.log_results`
(``child=NAME``) and :func:`knowloc.artifacts.child_dir`. The task (:mod:`knowloc.train`) writes
each child's ``summary.json`` at the end of a finished job (:func:`write`): the parent's resolved
config with the child's updates, the parent's choices and overrides plus the child's, the parent's
data source, the child's status and error, metrics = the child's ``results.json``, and
``stacked_in`` (the parent folder). A job that fails or is interrupted writes no child records.

W&B: children have no W&B run of their own; their metrics reach the parent's W&B run through the
module's own table, one row per child (the localization stack's table of models, written by
:class:`knowloc.callbacks.LocalizationReport`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The folder, inside the parent run folder, that holds one folder per child.
FOLDER = "runs"


@dataclass
class Child:
    """One child run: ``name`` (its folder, ``<run>/runs/<name>``), ``config`` updates as dotted
    keys (``{"activation.name": "relu", "seed": 0}``), Hydra ``choices`` and ``overrides`` that
    select it, its ``status`` (finished / failed) and ``error``."""

    name: str
    config: dict[str, Any]
    choices: dict[str, Any] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    status: str = "finished"
    error: str | None = None


def folder(run_dir: str | Path, name: str) -> Path:
    """The folder of child ``name`` in the run folder ``run_dir``."""
    return Path(run_dir) / FOLDER / name


def updated(config: dict, updates: dict[str, Any]) -> dict:
    """A copy of ``config`` with the dotted-key ``updates`` set (missing nodes created)."""
    out = copy.deepcopy(config)
    for key, value in updates.items():
        node, parts = out, key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = value
    return out


def write(parent, children: list[Child]) -> list[Path]:
    """Each child's ``summary.json`` (see the module docstring); ``parent``: the job's RunRecord."""
    from knowloc.records import RunRecord

    written = []
    for child in children:
        config = updated(parent.data.get("config") or {}, child.config)
        record = RunRecord(folder(parent.run_dir, child.name), config, int(config.get("seed", parent.data["seed"])),
                           {**parent.data.get("choices", {}), **child.choices},
                           list(parent.data.get("overrides", [])) + list(child.overrides))
        record.data["data"] = parent.data.get("data")
        record.data["stacked_in"] = str(parent.run_dir)
        record.finish(child.status, {}, child.error)
        written.append(record.run_dir)
    return written
