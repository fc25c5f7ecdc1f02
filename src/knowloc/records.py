"""The local record of a run: ``summary.json`` in its output folder, readable with or without W&B.

``summary.json`` holds: status (running / finished / failed / interrupted), error, final metrics,
resolved config, Hydra group choices and overrides, data source, seed, package versions, git
commit, timings, the W&B run folder and id, and the list of artefacts in the folder.
Callbacks add results with :func:`add_results` (``results.json``, merged into ``metrics``).
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import torch

SUMMARY = "summary.json"
RESULTS = "results.json"
PACKAGES = ("knowloc", "torch", "torchvision", "lightning", "hydra-core", "omegaconf", "wandb",
            "numpy", "scipy", "pandas", "matplotlib")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for p in PACKAGES:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            pass
    return out


def device_info(trainer) -> dict[str, Any]:
    """Which device ran the job: ``{"accelerator", "device", "name", "precision"}`` (the name of a
    CUDA device, e.g. ``NVIDIA H200``; ``cpu`` otherwise)."""
    dev = trainer.strategy.root_device
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else dev.type
    return {"accelerator": type(trainer.accelerator).__name__, "device": str(dev), "name": name,
            "precision": str(getattr(trainer.precision_plugin, "precision", trainer.precision))}


def git_commit(path: str | Path | None = None) -> str | None:
    """The commit of the knowloc source tree (or of ``path``), if it is a git checkout; ``+dirty`` when
    tracked files differ from it, except the generated documents that ``make results`` itself writes
    (``docs/``, ``README.md``)."""
    path = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                                    ":(top,exclude)docs", ":(top,exclude)README.md"], cwd=path,
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def to_jsonable(value: Any) -> Any:
    """Tensors, numpy values and non-finite floats made JSON-safe (NaN/inf as strings)."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        value = value.item() if value.numel() == 1 else value.tolist()
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return to_jsonable(value.tolist())
    return value


def write_json(path: Path, data: Any) -> None:
    """Atomic write, so a reader never sees half a file."""
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(to_jsonable(data), indent=2, sort_keys=False))
    os.replace(tmp, path)


def add_results(run_dir: str | Path, results: dict[str, Any]) -> None:
    """Merge scalar results (e.g. ``{"localization/pearson/fc1.weight": 0.4}``) into the record."""
    path = Path(run_dir) / RESULTS
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(to_jsonable(results))
    write_json(path, data)


def artefacts(run_dir: Path) -> list[str]:
    skip = {SUMMARY, RESULTS}
    out = []
    for p in sorted(Path(run_dir).rglob("*")):
        rel = p.relative_to(run_dir)
        if p.is_file() and rel.parts[0] not in ("wandb", ".hydra") and p.name not in skip and not p.name.endswith(".tmp"):
            out.append(str(rel))
    return out


class RunRecord:
    """Writes ``summary.json`` at the start (status running) and at the end of a run."""

    def __init__(self, run_dir: str | Path, config: dict, seed: int, choices: dict | None = None,
                 overrides: Iterable[str] = ()):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.started = time.time()
        self.data: dict[str, Any] = {
            "status": "running", "error": None, "metrics": {}, "config": config, "choices": choices or {},
            "overrides": list(overrides), "seed": seed, "data": None, "versions": versions(),
            "git_commit": git_commit(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "duration_s": None, "wandb_dir": None, "wandb_id": None, "artefacts": [],
        }
        self.save()

    def save(self) -> None:
        write_json(self.run_dir / SUMMARY, self.data)

    def finish(self, status: str, metrics: dict | None = None, error: str | None = None) -> None:
        merged = dict(metrics or {})
        res = self.run_dir / RESULTS
        if res.exists():
            merged.update(json.loads(res.read_text()))
        self.data.update(status=status, error=error, metrics=to_jsonable(merged),
                         duration_s=round(time.time() - self.started, 3), artefacts=artefacts(self.run_dir))
        self.save()


def read_summary(path: str | Path) -> dict:
    """Read a run's record (``summary.json`` or its folder)."""
    p = Path(path)
    if p.is_dir():
        p = p / SUMMARY
    return json.loads(p.read_text())


def find_runs(paths: Iterable[str | Path]) -> list[tuple[Path, dict]]:
    """Every readable run record under ``paths`` (run folders, sweep folders, or summary files)."""
    return scan_runs(paths)[0]


def scan_runs(paths: Iterable[str | Path]) -> tuple[list[tuple[Path, dict]], list[tuple[Path, str]]]:
    """(readable records, damaged ones as ``(summary.json path, reason)``) under ``paths``."""
    found: dict[Path, dict] = {}
    damaged: list[tuple[Path, str]] = []
    for path in paths:
        p = Path(path)
        files = [p] if p.is_file() else sorted(p.rglob(SUMMARY)) if p.is_dir() else []
        for f in files:
            try:
                data = read_summary(f)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
                damaged.append((f, f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"))
                continue
            if not isinstance(data, dict):
                damaged.append((f, f"not a record (a JSON {type(data).__name__})"))
                continue
            found[f.parent.resolve()] = data
    return sorted(found.items()), damaged


def config_value(summary: dict, key: str) -> Any:
    """A run's value for ``key``: a Hydra group choice (``activation``) or a dotted config path."""
    if key in summary.get("choices", {}):
        return summary["choices"][key]
    node: Any = summary.get("config", {})
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if isinstance(node, dict) and "name" in node:
        return node["name"]
    return node
