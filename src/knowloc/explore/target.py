"""What ``knowloc explore PATH`` is pointed at: one run folder or a sweep folder of runs.

A run folder holds ``summary.json`` (see :mod:`knowloc.records`); a sweep folder (a Hydra multirun
folder, or any folder of run folders) holds run folders below it. Every problem with the input
raises :class:`~knowloc.errors.UserError` with one line naming the path and what was expected.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from knowloc.errors import UserError
from knowloc.records import SUMMARY

#: keys every run record has (written by RunRecord at the start of a run)
REQUIRED_KEYS = ("status", "metrics", "config")
EXPECTED = "expected a run folder (with summary.json) or a sweep folder (run folders below it)"


class RecordError(UserError):
    """A run record that exists but cannot be read (truncated, not JSON, not a knowloc record)."""


def read_record(run_dir: Path) -> dict:
    """The run's ``summary.json`` checked for the keys the explorer relies on."""
    path = run_dir / SUMMARY
    try:
        text = path.read_text()
    except OSError as e:
        raise RecordError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise RecordError(f"{path} is not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                          f"the run record is damaged or was cut off") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path} is not a knowloc run record: expected a JSON object, got {type(data).__name__}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise RecordError(f"{path} is not a knowloc run record: missing key(s) {', '.join(missing)}; "
                          f"expected {', '.join(REQUIRED_KEYS)}")
    for key, kind in (("metrics", dict), ("config", dict)):
        if not isinstance(data[key], kind):
            raise RecordError(f"{path} is not a knowloc run record: '{key}' is a "
                              f"{type(data[key]).__name__}, expected an object")
    return data


@dataclass
class Run:
    path: Path
    summary: dict


@dataclass
class Sweep:
    path: Path
    runs: list[Run] = field(default_factory=list)
    #: run folders whose record could not be read, with the reason
    unreadable: list[tuple[Path, str]] = field(default_factory=list)


def _records_below(root: Path, sweep: Sweep) -> None:
    for f in sorted(root.rglob(SUMMARY), key=lambda f: _natural(f.parent.relative_to(root))):
        if f.parent == root or {"wandb", ".hydra"} & set(f.relative_to(root).parts):
            continue
        try:
            sweep.runs.append(Run(f.parent, read_record(f.parent)))
        except RecordError as e:
            sweep.unreadable.append((f.parent, str(e)))


def nested(run: Run) -> Sweep | None:
    """The run records inside a run folder (a stacked run keeps one per model in ``runs/``), or None."""
    sweep = Sweep(run.path)
    _records_below(run.path, sweep)
    return sweep if sweep.runs or sweep.unreadable else None


def open_target(path: str | Path) -> Run | Sweep:
    """A :class:`Run` (``PATH/summary.json`` exists) or a :class:`Sweep` (run records below PATH)."""
    p = Path(path).expanduser()
    if not p.exists():
        raise UserError(f"PATH={str(path)!r} does not exist; {EXPECTED}")
    if p.is_file():
        if p.name != SUMMARY:
            raise UserError(f"PATH={str(path)!r} is a file; {EXPECTED}")
        p = p.parent
    p = p.resolve()
    if (p / SUMMARY).exists():
        return Run(p, read_record(p))
    sweep = Sweep(p)
    _records_below(p, sweep)
    if not sweep.runs and not sweep.unreadable:
        raise UserError(f"PATH={str(path)!r} holds no run record (no summary.json in it or below); {EXPECTED}")
    if not sweep.runs:
        raise UserError(f"PATH={str(path)!r}: none of its {len(sweep.unreadable)} run record(s) can be read; "
                        f"first: {sweep.unreadable[0][1]}")
    return sweep


def _natural(rel: Path) -> tuple:
    """Sort multirun job folders 0, 1, 2, ..., 10 numerically."""
    return tuple((0, int(s), "") if s.isdigit() else (1, 0, s) for s in rel.parts)
