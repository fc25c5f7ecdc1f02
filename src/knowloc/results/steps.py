"""The jobs behind a README block: exact ``knowloc`` command lines, run once, skipped when done.

A step's output folder is ``<out>/<family>/<step>`` (``hydra.run.dir`` of a single job,
``hydra.sweep.dir`` of a multirun). When the step finishes, ``results_step.json`` records its
command and wall time; a later ``make results`` skips a step whose marker holds the same command
(resumable), and reruns one that was interrupted (no marker) from scratch.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from knowloc.errors import UserError

MARKER = "results_step.json"
EXE = ".venv/bin/knowloc"


@dataclass
class Step:
    """One ``knowloc`` command: ``args`` (Hydra overrides, ``-m`` for a multirun) into ``name``."""

    name: str
    args: list[str]
    multirun: bool = False
    meta: dict = field(default_factory=dict)

    def argv(self, out: Path) -> list[str]:
        key = "hydra.sweep.dir" if self.multirun else "hydra.run.dir"
        return (["-m"] if self.multirun else []) + list(self.args) + [f"{key}={out / self.name}"]

    def shell(self, out: Path) -> str:
        return " ".join([EXE] + [shlex.quote(a) for a in self.argv(out)])


def is_done(step: Step, out: Path) -> bool:
    marker = out / step.name / MARKER
    if not marker.is_file():
        return False
    try:
        return json.loads(marker.read_text()).get("command") == step.argv(out)
    except ValueError:
        return False


def run_step(step: Step, out: Path, force: bool = False, seeds: int | None = None) -> float:
    """Run ``step`` (unless done) in a subprocess; returns its wall time in seconds (0 if skipped)."""
    folder = out / step.name
    if not force and is_done(step, out):
        print(f"[results]   {step.name}: done before, skipped ({folder / MARKER})", flush=True)
        return 0.0
    if folder.exists():
        shutil.rmtree(folder)  # an interrupted or outdated step starts over
    print(f"[results]   {step.name}: {step.shell(out)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "knowloc", *step.argv(out)])
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise UserError(f"results step {step.name!r} exited with status {proc.returncode} after {seconds:.0f} s: "
                        f"{step.shell(out)}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(json.dumps({"command": step.argv(out), "seconds": round(seconds, 1), "seeds": seeds},
                                          indent=1))
    print(f"[results]   {step.name}: {seconds:.1f} s", flush=True)
    return seconds


def marker_seeds(step_dir: Path) -> int | None:
    """The seed count a finished step ran with (None if not recorded)."""
    marker = step_dir / MARKER
    return json.loads(marker.read_text()).get("seeds") if marker.is_file() else None


def step_seconds(step: Step, out: Path) -> float | None:
    marker = out / step.name / MARKER
    return json.loads(marker.read_text()).get("seconds") if marker.is_file() else None
