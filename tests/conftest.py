"""Shared fixtures. Tests use the real Lightning, Hydra and W&B (offline); nothing downloads."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

os.environ["WANDB_MODE"] = "offline"
os.environ.setdefault("WANDB_SILENT", "true")
os.environ.setdefault("KNOWLOC_OUTPUTS", "/tmp/knowloc-test-outputs")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # helpers importable as plain modules (e.g. faults)


@pytest.fixture
def run_job(tmp_path):
    """``run_job(overrides, name="run")`` runs one job in-process into ``tmp_path/name``."""
    from knowloc.api import run

    def _run(overrides=(), name="run"):
        overrides = list(overrides)
        if not any(o.startswith("trainer.enable_progress_bar") for o in overrides):
            overrides.append("trainer.enable_progress_bar=false")
        return run(overrides, tmp_path / name)

    return _run


@pytest.fixture
def knowloc_cli(tmp_path):
    """Run the real ``knowloc`` command in a subprocess (cwd tmp_path); returns CompletedProcess."""
    import subprocess

    exe = Path(sys.executable).with_name("knowloc")

    def _cli(*args, timeout=600, env=None):
        e = {**os.environ, "WANDB_MODE": "offline", "KNOWLOC_OUTPUTS": str(tmp_path / "outputs"), **(env or {})}
        return subprocess.run([str(exe), *args], cwd=tmp_path, capture_output=True, text=True,
                              timeout=timeout, env=e)

    return _cli
