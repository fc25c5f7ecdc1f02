"""``SweepProgress``: a Hydra callback that makes a multirun followable, whatever the launcher.

At the start it prints the sweep folder and the number of jobs; then one line per finished job
(job i/N, the job's swept overrides, status, main metric, duration, estimated time left); at the
end finished/failed counts, the compare table over the swept keys and the ``knowloc compare`` /
``knowloc explore`` commands to go on.

Jobs run in this process (basic launcher) or in others (joblib workers, submitit, Slurm), so the
lines come from the records: a watcher thread in the process that started the sweep reads the
``summary.json`` of each job folder (each job writes ``status: running`` when it starts and its
final status at the end) and reports each job once, when its status becomes final. The job-end hook
only triggers an immediate scan when the job ran in the sweep's own process. Line format (stable,
for tools that follow a sweep's output)::

    knowloc sweep: folder /path/to/sweep (4 jobs)
    knowloc sweep: job 3/4 [2] activation=tanh seed=0: finished, test/acc=0.8123, 12.3s, about 0:00:14 left
    knowloc sweep: done in 0:01:02: 4 finished, 0 failed, 0 unfinished, of 4 jobs

ETA = elapsed · (N - done) / done (wall clock, so parallel launchers are accounted for).
"""

from __future__ import annotations

from knowloc import slurm

import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from knowloc.records import SUMMARY, write_json

PREFIX = "knowloc sweep:"
#: the sweep's plan in its folder: ``{"jobs": N, "swept": [keys], "started": time}``
PLAN = "sweep.json"
FINAL = ("finished", "failed", "interrupted")
#: the metric a job line shows: the first of these the record has
MAIN_METRICS = ("test/acc", "val/acc", "localization/pearson/fc1.weight", "phase1/test_acc",
                "alignment/network/test_acc", "test/loss", "val/loss")

#: the watcher of the sweep started in this process (None in job processes)
WATCHER: "SweepWatcher | None" = None


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def planned_jobs(config: DictConfig) -> tuple[list[list[str]] | None, list[str]]:
    """(each job's overrides, the swept keys) as Hydra's basic sweeper expands them
    (``hydra.sweeper.params`` first, the command line's overrides after); (None, keys) for other sweepers."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
    args = [f"{k}={v}" for k, v in params.items()] + list(OmegaConf.select(config, "hydra.overrides.task") or [])
    parsed = OverridesParser.create().parse_overrides(args)
    swept = []
    for ov in parsed:
        key = ov.get_key_element()
        if ov.is_sweep_override() and key not in swept:
            swept.append(key)
        elif not ov.is_sweep_override() and key in swept:  # a later plain override replaces the sweep
            swept.remove(key)
    target = str(OmegaConf.select(config, "hydra.sweeper._target_", default=""))
    if not target.endswith("BasicSweeper"):
        return None, swept
    batches = BasicSweeper.split_arguments(parsed, None)
    return [job for batch in batches for job in batch], swept


def swept_keys(sweep_dir: str | Path) -> list[str] | None:
    """The swept keys from the sweep folder's plan (None if it has none)."""
    try:
        return list(json.loads((Path(sweep_dir) / PLAN).read_text())["swept"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def main_metric(metrics: dict) -> tuple[str, Any] | None:
    for m in MAIN_METRICS:
        if m in metrics:
            return m, metrics[m]
    return next(iter(metrics.items()), None)


class SweepWatcher:
    """Polls ``sweep_dir`` for job records and prints one line per job that reached a final status."""

    def __init__(self, sweep_dir: Path, n_jobs: int | None, swept: list[str], interval_s: float = 0.5,
                 out=None):
        self.sweep_dir, self.n_jobs, self.swept = Path(sweep_dir), n_jobs, swept
        self.interval_s, self.out = interval_s, out or sys.stdout
        self.started = time.time()
        self.pid = os.getpid()
        self.reported: dict[Path, dict] = {}
        self.seen: dict[Path, dict] = {}
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="knowloc-sweep-progress", daemon=True)
        self.finished = False

    def start(self) -> "SweepWatcher":
        self.thread.start()
        return self

    def _loop(self) -> None:
        while not self.stop_event.wait(self.interval_s):
            self.scan()

    def _job_records(self) -> list[Path]:
        """Job folders' records: ``summary.json`` files with no record in a folder above them (a stacked
        job's per-model records in ``<job>/runs/...`` belong to their job)."""
        if not self.sweep_dir.is_dir():
            return []
        files = sorted(self.sweep_dir.rglob(SUMMARY))
        jobs = {f.parent for f in files}
        return [f for f in files if not any(p in jobs for p in f.parent.parents)]

    def scan(self) -> None:
        with self.lock:
            for f in self._job_records():
                if f in self.reported:
                    continue
                try:
                    rec = json.loads(f.read_text())
                except (OSError, ValueError):
                    continue  # being written, or damaged: seen again at the next scan / in the summary
                self.seen[f] = rec
                if rec.get("status") in FINAL:
                    self.reported[f] = rec
                    self._line(f, rec)

    def _overrides(self, rec: dict) -> str:
        ovs = [o for o in rec.get("overrides") or [] if o.split("=", 1)[0].lstrip("+~") in self.swept]
        return " ".join(ovs or rec.get("overrides") or []) or "(no overrides)"

    def _line(self, f: Path, rec: dict) -> None:
        done = len(self.reported)
        total = self.n_jobs or "?"
        parts = [str(rec.get("status"))]
        mm = main_metric(rec.get("metrics") or {})
        if mm:
            try:
                parts.append(f"{mm[0]}={float(mm[1]):.4f}")
            except (TypeError, ValueError):
                parts.append(f"{mm[0]}={mm[1]}")
        if rec.get("duration_s") is not None:
            parts.append(f"{float(rec['duration_s']):.1f}s")
        if self.n_jobs:
            left = max(0, self.n_jobs - done)
            elapsed = time.time() - self.started
            parts.append(f"about {_hms(elapsed * left / done)} left" if left else "last job")
        job = f.parent.relative_to(self.sweep_dir)
        print(f"{PREFIX} job {done}/{total} [{job}] {self._overrides(rec)}: {', '.join(parts)}",
              file=self.out, flush=True)

    def stop(self) -> None:
        self.stop_event.set()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(timeout=5)
        self.scan()

    def summary(self) -> None:
        """Counts, the compare table over the swept keys, and the commands to go on."""
        if self.finished:
            return
        self.finished = True
        self.stop()
        counts = {s: sum(1 for r in self.reported.values() if r.get("status") == s) for s in FINAL}
        unfinished = [f for f in self.seen if f not in self.reported]
        total = self.n_jobs if self.n_jobs is not None else len(self.seen)
        never = max(0, total - len(self.seen))
        print(f"{PREFIX} done in {_hms(time.time() - self.started)}: {counts['finished']} finished, "
              f"{counts['failed']} failed, {counts['interrupted'] + len(unfinished) + never} unfinished, "
              f"of {total} jobs; folder {self.sweep_dir}", file=self.out, flush=True)
        for f in unfinished:
            print(f"{PREFIX} unfinished: {f.parent} (status {self.seen[f].get('status')})", file=self.out)
        for f, r in self.reported.items():
            if r.get("status") == "failed":
                where = slurm.describe(r)  # a Slurm job's id and log file, when it ran on Slurm
                print(f"{PREFIX} failed: {f.parent}: {r.get('error')}" + (f" ({where})" if where else ""),
                      file=self.out)
        self._table()

    def _table(self) -> None:
        from knowloc.compare import compare, format_table, shown_columns
        from knowloc.errors import UserError

        by = [k.lstrip("+~") for k in self.swept if k.lstrip("+~") != "seed" and not k.startswith("hydra")]
        by = by or ["task_name"]
        metrics = {}
        for r in self.reported.values():
            mm = main_metric(r.get("metrics") or {}) if r.get("status") == "finished" else None
            if mm:
                metrics[mm[0]] = metrics.get(mm[0], 0) + 1
        metric = max(metrics, key=metrics.get) if metrics else None
        by_args = " ".join(f"--by {b}" for b in by)
        if metric:
            try:
                df = compare([self.sweep_dir], by, metric, allow_mixed=True)
                print(format_table(df, shown_columns(df)), file=self.out)
            except UserError as e:
                print(f"{PREFIX} no compare table: {e}", file=self.out)
            print(f"{PREFIX} next: knowloc compare {self.sweep_dir} {by_args} --metric {metric}", file=self.out)
        print(f"{PREFIX} next: knowloc explore {self.sweep_dir}", file=self.out, flush=True)


class SweepProgress(Callback):
    """Hydra callback (``hydra.callbacks.sweep_progress``); holds no state, so launchers can pickle it
    into their workers: the watcher lives in the module of the process that started the sweep."""

    def __init__(self, interval_s: float = 0.5):
        self.interval_s = float(interval_s)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        global WATCHER
        sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        try:
            jobs, swept = planned_jobs(config)
        except Exception:  # a sweeper we cannot expand: progress without a total
            jobs, swept = None, []
        n = len(jobs) if jobs is not None else None
        keys = f" over {', '.join(swept)}" if swept else ""
        print(f"{PREFIX} folder {sweep_dir} ({n if n is not None else '?'} jobs{keys})", flush=True)
        try:  # the plan, for the jobs (their W&B runs name the swept keys) and for tools following the sweep
            sweep_dir.mkdir(parents=True, exist_ok=True)
            write_json(sweep_dir / PLAN, {"jobs": n, "swept": swept, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        except OSError:
            pass
        WATCHER = SweepWatcher(sweep_dir, n, swept, self.interval_s).start()

    def on_job_end(self, config: DictConfig, job_return: Any, **kwargs: Any) -> None:
        if WATCHER is not None and WATCHER.pid == os.getpid():
            WATCHER.scan()

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        finish()


def finish() -> None:
    """Print the sweep's summary (once) if this process started a sweep; safe to call again."""
    global WATCHER
    if WATCHER is not None and WATCHER.pid == os.getpid():
        WATCHER.summary()
        WATCHER = None
