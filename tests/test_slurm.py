"""Sweeps on a real single-node Slurm (22.05, started by ``slurm_cluster``): every job a Slurm job,
records in the sweep folder, the same table as a local sweep, requeue mid-training, a failed job."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from knowloc.records import find_runs, read_summary
from knowloc.slurm import describe
from slurm_cluster import slurm_fixture
from wandb_records import summarize

ROOT = Path(__file__).resolve().parents[1]
KNOWLOC = str(Path(sys.executable).with_name("knowloc"))
# one CPU and 1 GB a job, so the two-core test machine runs two jobs at once
ON_SLURM = ["hydra/launcher=slurm", "hydra.launcher.cpus_per_task=1", "hydra.launcher.mem_gb=1",
            "hydra.launcher.timeout_min=10"]
GRID = ["-m", "activation=relu,tanh", "seed=0,1", "data.first_n=2000", "trainer.max_epochs=1", "threads=1"]

slurm = pytest.fixture(scope="session")(slurm_fixture)


def _env(cluster, tmp_path) -> dict:
    return {**os.environ, **cluster.env, "WANDB_MODE": "offline", "KNOWLOC_OUTPUTS": str(tmp_path / "outputs"),
            "PYTHONPATH": str(ROOT / "tests")}


def _knowloc(cluster, tmp_path, *args, timeout=240):
    return subprocess.run([KNOWLOC, *args], cwd=tmp_path, env=_env(cluster, tmp_path), capture_output=True,
                          text=True, timeout=timeout)


def _start(cluster, tmp_path, *args) -> subprocess.Popen:
    """``knowloc ARGS`` in the background (the local twin of a Slurm sweep runs alongside it)."""
    return subprocess.Popen([KNOWLOC, *args], cwd=tmp_path, env=_env(cluster, tmp_path), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(proc: subprocess.Popen, timeout: float = 240) -> str:
    try:
        _, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    return err


def _table(capsys, folder) -> list[str]:
    """``knowloc compare FOLDER --by activation --metric test/acc``: the table's lines and its notes."""
    from knowloc.compare import main as compare

    capsys.readouterr()
    compare([str(folder), "--by", "activation", "--metric", "test/acc"])
    return [line for line in capsys.readouterr().out.splitlines() if line.strip() and not line.startswith("wrote ")]


def _weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]


def test_sweep_runs_every_job_on_slurm_and_compares_as_a_local_sweep(slurm, tmp_path, capsys):
    sweep, local = tmp_path / "slurm", tmp_path / "local"
    twin = _start(slurm, tmp_path, *GRID, f"hydra.sweep.dir={local}", "logger=csv")
    p = _knowloc(slurm, tmp_path, *GRID, *ON_SLURM, f"hydra.sweep.dir={sweep}")
    assert p.returncode == 0, p.stderr[-3000:]
    runs = find_runs([sweep])
    assert len(runs) == 4
    # the launcher returns once every result file is written; the jobs' processes end just after
    _wait(lambda: slurm.run("squeue", "-h").strip() == "", 60, "the queue to be empty")
    completed = {j["JobId"]: j for j in slurm.completed_jobs()}  # slurmctld's job completion log
    run_ids, groups, job_ids = set(), set(), set()
    for run_dir, s in runs:
        assert run_dir.parent == sweep.resolve() and s["status"] == "finished", s["error"]
        info = s["slurm"]
        assert completed[info["raw_job_id"]]["JobState"] == "COMPLETED"
        assert slurm.job(info["job_id"])["JobState"] == "COMPLETED"
        assert info["partition"] == slurm.partition and info["restarts"] == 0 and "continued_from" not in info
        assert f"job_id={info['job_id']}" in Path(info["log"]).read_text()  # submitit's log of this job
        job_ids.add(info["job_id"])
        wb = summarize(s["wandb_dir"])
        assert wb["run_id"] == s["wandb_id"] and wb["exit_code"] == 0
        assert wb["config"]["activation"]["name"] == s["choices"]["activation"]
        run_ids.add(wb["run_id"])
        groups.add(wb["group"])
    assert len(job_ids) == len(run_ids) == 4  # four Slurm jobs, one W&B run each
    assert len(groups) == 1 and next(iter(groups)).startswith("sweep-")

    _finish(twin)
    table = _table(capsys, sweep)
    rows = [line for line in table if not line.startswith("interval:")]
    assert len(rows) == 4 and table == _table(capsys, local)  # header, rule, relu, tanh (+ the interval note)
    by_job = lambda folder: {(s["choices"]["activation"], s["seed"]): s["metrics"] for _, s in find_runs([folder])}
    on_slurm, here = by_job(sweep), by_job(local)
    assert on_slurm.keys() == here.keys()
    for key, m in on_slurm.items():
        assert m["test/acc"] == here[key]["test/acc"]
        assert m["test/loss"] == pytest.approx(here[key]["test/loss"], abs=1e-6)


def test_requeued_job_resumes_and_a_diverging_job_fails_alone(slurm, tmp_path):
    """Job 0 is requeued (``scontrol requeue``) while held inside epoch 2, after the epoch-1
    checkpoint; job 1 diverges (learning rate 1e30). Job 0 must end as an uninterrupted run."""
    sweep, marker = tmp_path / "sweep", tmp_path / "held"
    base = ["seed=3", "data.first_n=2000", "trainer.max_epochs=2", "threads=1"]
    # 2000 samples: 1620 training images, 26 batches an epoch; step 30 is inside epoch 2
    hold = ["+callbacks.hold._target_=faults.HoldAt", "+callbacks.hold.step=30", f"+callbacks.hold.marker={marker}"]
    reference = _start(slurm, tmp_path, *base, "model.optimizer.lr=0.05", "logger=csv",
                       f"hydra.run.dir={tmp_path / 'uninterrupted'}")
    proc = _start(slurm, tmp_path, "-m", *base, "model.optimizer.lr=0.05,1e30", *hold, *ON_SLURM,
                  f"hydra.sweep.dir={sweep}")
    try:
        _wait(lambda: marker.exists() or proc.poll() is not None, 150, "job 0 to reach step 30")
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        first = read_summary(sweep / "0")
        job_id = first["slurm"]["job_id"]
        assert (sweep / "0" / "checkpoints" / "last.ckpt").is_file()
        slurm.run("scontrol", "requeue", job_id)
        # Slurm holds a requeued job (BeginTime, about two minutes); let it start again at once
        _wait(lambda: slurm.job(job_id)["JobState"] == "PENDING", 60, "the requeued job to be pending")
        slurm.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
    except BaseException:
        proc.kill()
        reference.kill()
        raise
    _finish(proc, timeout=180)
    assert [d.name for d, _ in find_runs([sweep])] == ["0", "1"]  # no duplicate record

    s = read_summary(sweep / "0")
    assert s["status"] == "finished", s["error"]
    assert s["slurm"]["job_id"] == job_id and s["slurm"]["restarts"] == 1
    assert int(slurm.job(job_id)["Restarts"]) == 1
    assert s["slurm"]["continued_from"] == str(sweep / "0" / "checkpoints" / "last.ckpt")
    assert s["wandb_id"] == first["wandb_id"]
    # one W&B run: both starts wrote offline-run-<time>-<id> with the same id; the second ends it
    attempts = sorted((sweep / "0" / "wandb").glob("offline-run-*"))
    assert len(attempts) == 2 and {a.name.rsplit("-", 1)[1] for a in attempts} == {s["wandb_id"]}
    wb = summarize(attempts[-1])
    assert wb["run_id"] == s["wandb_id"] and wb["exit_code"] == 0

    _finish(reference)
    ref = read_summary(tmp_path / "uninterrupted")
    assert s["metrics"].keys() == ref["metrics"].keys() and "test/acc" in ref["metrics"]
    for k, v in ref["metrics"].items():
        assert s["metrics"][k] == pytest.approx(v, abs=1e-6), k
    resumed, straight = _weights(sweep / "0"), _weights(tmp_path / "uninterrupted")
    assert resumed.keys() == straight.keys()
    for name, w in resumed.items():
        assert torch.allclose(w, straight[name], atol=1e-6, rtol=0), name

    bad = read_summary(sweep / "1")
    assert bad["status"] == "failed" and "diverged" in bad["error"]
    assert bad["slurm"]["job_id"] != job_id and bad["slurm"]["restarts"] == 0
    assert "diverged" in Path(bad["slurm"]["err_log"]).read_text()
    assert describe(bad) == f"slurm job {bad['slurm']['job_id']}, log {bad['slurm']['log']}"
    assert Path(bad["slurm"]["log"]).is_file()


def _wait(ready, timeout: float, what: str) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if ready():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_cancelled_sweep_submitted_again_continues_each_job(slurm, tmp_path):
    """``scancel`` a sweep while one job waits inside epoch 2 and the other has finished, stop the
    submitting command (as Ctrl-C would), submit the same command again: the cut job continues from
    its epoch-1 checkpoint, the finished one is only tested again; both end as uninterrupted runs."""
    sweep, marker = tmp_path / "sweep", tmp_path / "held"
    base = ["seed=5", "data.first_n=2000", "trainer.max_epochs=2", "threads=1", "logger=csv"]
    args = ["-m", *base, "activation=relu,tanh", "+callbacks.hold._target_=faults.HoldAt",
            "+callbacks.hold.step=30", "+callbacks.hold.seconds=600", f"+callbacks.hold.marker={marker}",
            *ON_SLURM, f"hydra.sweep.dir={sweep}"]
    first = _start(slurm, tmp_path, *args)
    try:
        _wait(lambda: marker.exists() and len([r for _, r in find_runs([sweep]) if r["status"] == "finished"]) == 1,
              200, "one job to finish and the other to wait")
        cut = Path(marker.read_text()).name
        done = "1" if cut == "0" else "0"
        array = read_summary(sweep / cut)["slurm"]["job_id"].split("_")[0]
        slurm.run("scancel", array)
        _wait(lambda: slurm.run("squeue", "-h").strip() == "", 60, "the queue to be empty")
    finally:
        first.kill()
        first.communicate()
    before = {d.name: s for d, s in find_runs([sweep])}
    assert before[cut]["status"] != "finished"
    p = _knowloc(slurm, tmp_path, *args, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    act = before[cut]["choices"]["activation"]
    ref = _knowloc(slurm, tmp_path, *base, f"activation={act}", f"hydra.run.dir={tmp_path / 'ref'}")
    assert ref.returncode == 0, ref.stderr[-3000:]
    for job in (cut, done):
        s = read_summary(sweep / job)
        assert s["status"] == "finished" and s["slurm"]["continued_from"].endswith("last.ckpt")
        assert s["slurm"]["job_id"] != before[job]["slurm"]["job_id"]  # a new Slurm job, the same record
    assert read_summary(sweep / done)["metrics"] == before[done]["metrics"]
    assert read_summary(sweep / cut)["metrics"] == pytest.approx(read_summary(tmp_path / "ref")["metrics"], abs=1e-6)


def test_a_slurm_job_continues_only_its_own_record(tmp_path, monkeypatch):
    """No cluster needed: which earlier record and checkpoint a (re)started job takes up."""
    from knowloc.slurm import continue_from, previous_record, wandb_run_id
    from knowloc.records import write_json

    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "last.ckpt").write_bytes(b"x")
    record = {"status": "interrupted", "overrides": ["seed=1"], "slurm": {"job_id": "7_0"}, "wandb_id": "abc12345"}
    write_json(tmp_path / "summary.json", record)
    for var in ("SLURM_RESTART_COUNT", "SUBMITIT_FOLDER"):
        monkeypatch.delenv(var, raising=False)
    assert previous_record(tmp_path, ["seed=1"]) is None  # a first start outside submitit starts afresh
    monkeypatch.setenv("SLURM_RESTART_COUNT", "1")
    prev = previous_record(tmp_path, ["seed=1"])
    assert prev == record and continue_from(tmp_path, prev) == str(tmp_path / "checkpoints" / "last.ckpt")
    assert wandb_run_id(prev) == "abc12345"
    assert previous_record(tmp_path, ["seed=2"]) is None  # another job's folder
    write_json(tmp_path / "summary.json", {**record, "slurm": None})
    assert previous_record(tmp_path, ["seed=1"]) is None  # a local run's record
    assert continue_from(tmp_path, None) is None
    new = wandb_run_id(None)
    assert len(new) == 8 and new.isalnum() and new != wandb_run_id(None)
