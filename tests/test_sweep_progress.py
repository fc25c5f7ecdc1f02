"""Sweeps you can follow: the sweep folder at the start, one line per finished job, a summary at the
end (counts, compare table over the swept keys, the next commands), for any launcher."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from knowloc.records import write_json

TINY = ["activation=relu,tanh", "seed=0,1", "data.first_n=200", "trainer.max_epochs=1", "logger=none",
        "callbacks=none", "threads=1"]
JOB_LINE = re.compile(r"^knowloc sweep: job (\d)/4 \[(\d)\] (activation=\w+ seed=\d): (finished), "
                      r"test/acc=(\d\.\d{4}), [\d.]+s, (about \d:\d\d:\d\d left|last job)$")


def check_sweep_output(stdout: str, outputs: Path) -> None:
    lines = stdout.splitlines()
    sweep = next((outputs / "multiruns").iterdir())
    assert lines[0] == f"knowloc sweep: folder {sweep} (4 jobs over activation, seed)"  # printed first
    jobs = [JOB_LINE.match(line) for line in lines if line.startswith("knowloc sweep: job ")]
    assert all(jobs) and len(jobs) == 4, lines
    assert [int(m[1]) for m in jobs] == [1, 2, 3, 4] and sorted(m[2] for m in jobs) == ["0", "1", "2", "3"]
    assert sorted(m[3] for m in jobs) == ["activation=relu seed=0", "activation=relu seed=1",
                                          "activation=tanh seed=0", "activation=tanh seed=1"]
    assert jobs[-1][6] == "last job"
    import json

    for m in jobs:  # each line's metric is the job's record
        rec = json.loads((sweep / m[2] / "summary.json").read_text())
        assert float(m[5]) == pytest.approx(rec["metrics"]["test/acc"], abs=5e-5)
    done = next(i for i, line in enumerate(lines) if line.startswith("knowloc sweep: done in"))
    assert done > lines.index(jobs[-1][0])
    assert lines[done].endswith(f"4 finished, 0 failed, 0 unfinished, of 4 jobs; folder {sweep}")
    table = lines[done + 1: done + 5]
    assert table[0].split()[:4] == ["activation", "metric", "n", "mean"]
    assert [r.split()[0] for r in table[2:]] == ["relu", "tanh"] and [r.split()[2] for r in table[2:]] == ["2", "2"]
    assert f"knowloc sweep: next: knowloc compare {sweep} --by activation --metric test/acc" in lines
    assert lines[-1] == f"knowloc sweep: next: knowloc explore {sweep}"


def test_basic_launcher_2x2_sweep_prints_folder_job_lines_and_summary(knowloc_cli, tmp_path):
    r = knowloc_cli("-m", *TINY)
    assert r.returncode == 0, r.stderr[-3000:]
    check_sweep_output(r.stdout, tmp_path / "outputs")


def test_joblib_launcher_2x2_sweep_prints_the_same(knowloc_cli, tmp_path):
    r = knowloc_cli("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", *TINY)
    assert r.returncode == 0, r.stderr[-3000:]
    check_sweep_output(r.stdout, tmp_path / "outputs")


@pytest.mark.slow
def test_submitit_local_launcher_2x2_sweep_prints_the_same(knowloc_cli, tmp_path):
    r = knowloc_cli("-m", "hydra/launcher=submitit_local", *TINY)
    assert r.returncode == 0, r.stderr[-3000:]
    check_sweep_output(r.stdout, tmp_path / "outputs")


def record(folder: Path, status: str, acc=None, activation="relu", seed=0, error=None):
    folder.mkdir(parents=True)
    write_json(folder / "summary.json", {
        "status": status, "error": error, "metrics": {} if acc is None else {"test/acc": acc}, "seed": seed,
        "duration_s": 2.0, "overrides": [f"activation={activation}", f"seed={seed}", "trainer.max_epochs=1"],
        "choices": {"activation": activation}, "config": {"seed": seed, "activation": {"name": activation}}})


def test_watcher_counts_failed_and_unfinished_jobs_and_ignores_stacked_model_records(tmp_path):
    from knowloc.sweep_progress import SweepWatcher

    out = io.StringIO()
    w = SweepWatcher(tmp_path, 5, ["activation", "seed"], out=out)
    record(tmp_path / "0", "finished", 0.9, "relu", 0)
    record(tmp_path / "0" / "runs" / "relu_seed0", "finished", 0.5)  # a stacked job's per-model record
    record(tmp_path / "1", "failed", None, "tanh", 0, error="DivergenceError: loss = nan at step 3")
    w.scan()
    record(tmp_path / "2", "running", None, "tanh", 1)
    w.scan()
    record(tmp_path / "3", "finished", 0.8, "relu", 1)
    w.summary()
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("knowloc sweep: job 1/5 [0] activation=relu seed=0: finished, test/acc=0.9000, 2.0s, about")
    assert lines[1].startswith("knowloc sweep: job 2/5 [1] activation=tanh seed=0: failed, 2.0s, about")
    assert lines[2].startswith("knowloc sweep: job 3/5 [3] activation=relu seed=1: finished")
    assert re.match(r"knowloc sweep: done in 0:00:\d\d: 2 finished, 1 failed, 2 unfinished, of 5 jobs", lines[3])
    assert any(line.endswith("failed: " + str(tmp_path / "1") + ": DivergenceError: loss = nan at step 3") for line in lines)
    assert any(line == f"knowloc sweep: unfinished: {tmp_path / '2'} (status running)" for line in lines)


def test_planned_jobs_follow_sweeper_params_and_command_line():
    from omegaconf import OmegaConf

    from knowloc.sweep_progress import planned_jobs


    cfg = OmegaConf.create({"hydra": {"sweeper": {"_target_": "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
                                                  "params": {"activation": "relu,tanh", "seed": "range(3)"}},
                                      "overrides": {"task": ["seed=5", "model.optimizer.lr=0.1,0.01"]}}})
    jobs, swept = planned_jobs(cfg)
    assert swept == ["activation", "model.optimizer.lr"] and len(jobs) == 4
    assert jobs[0] == ["activation=relu", "seed=5", "model.optimizer.lr=0.1"]


def test_wandb_runs_of_a_sweep_carry_swept_values_group_and_a_name_of_overrides(knowloc_cli, tmp_path):
    import json

    from wandb_records import records, summarize

    r = knowloc_cli("-m", "model.optimizer.lr=0.05,0.1", "activation=tanh", "data.first_n=200",
                    "trainer.max_epochs=1", "callbacks=none", "threads=1")
    assert r.returncode == 0, r.stderr[-3000:]
    sweep = next((tmp_path / "outputs" / "multiruns").iterdir())
    assert json.loads((sweep / "sweep.json").read_text())["swept"] == ["model.optimizer.lr"]
    groups = set()
    for job, lr in (("0", 0.05), ("1", 0.1)):
        wandb_dir = Path(json.loads((sweep / job / "summary.json").read_text())["wandb_dir"])
        info = summarize(wandb_dir)
        assert info["config"]["swept"] == {"model.optimizer.lr": lr}  # a float W&B can group and plot by
        assert info["config"]["seed"] == 0 and info["config"]["activation"]["name"] == "tanh"
        run = next(rec.run for rec in records(next(wandb_dir.glob("run-*.wandb"))) if rec.WhichOneof("record_type") == "run")
        assert run.display_name == f"model.optimizer.lr={lr}"
        groups.add(info["group"])
    assert len(groups) == 1 and groups.pop().startswith("sweep-")


def test_stacked_job_shows_progress_over_models_and_phases(run_job, capsys):
    rec = run_job(["experiment=localization_stack", "data.pool_size=1200",
                   "stack.activations=[relu,sigmoid]", "stack.seeds=[0,4]", "logger=csv",
                   "callbacks.stack_progress.every=0.5"], name="stack")
    assert rec["status"] == "finished"
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("knowloc stack:")]
    models = "4 models (relu, sigmoid x seeds 0, 4)"
    assert re.fullmatch(rf"knowloc stack: phase phase1 starts at batch 1/(\d+): {re.escape(models)}", lines[0])
    total = int(re.search(r"/(\d+):", lines[0])[1])
    starts = [line for line in lines if "starts at batch" in line]
    assert [s.split()[3] for s in starts] == ["phase1", "forks"] and starts[1].endswith(", 4 forks each")
    done = [line for line in lines if "batches done" in line]
    assert done and all(f"/{total} batches done" in line for line in done)
    assert re.fullmatch(rf"knowloc stack: trained {re.escape(models)} in 0:\d\d:\d\d", lines[-1])


def test_stacked_job_with_lightnings_default_progress_bar(run_job, capsys):
    """With the bar on (Lightning's default, a rich bar when rich is installed) the job runs and
    the phase lines still reach the console."""
    rec = run_job(["experiment=localization_stack", "data.pool_size=600", "stack.activations=[relu]",
                   "stack.seeds=[0]", "logger=csv", "trainer.enable_progress_bar=true"], name="stack_bar")
    assert rec["status"] == "finished", rec["error"]
    out = capsys.readouterr().out
    assert "knowloc stack: phase phase1 starts at batch 1/" in out and "knowloc stack: trained 1 models" in out
