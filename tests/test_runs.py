"""A run end to end: the local record, divergence, interrupt and resume."""

from __future__ import annotations

import csv
import json
import signal

import pytest

from knowloc import train

FAST = ["data.first_n=1500", "trainer.max_epochs=3"]


def test_record_holds_config_metrics_data_versions_and_wandb(run_job, tmp_path):
    rec = run_job(FAST + ["seed=4", "activation=tanh"])
    on_disk = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert on_disk["status"] == rec["status"] == "finished"
    assert on_disk["seed"] == 4 and on_disk["config"]["activation"]["name"] == "tanh"
    assert on_disk["choices"]["activation"] == "tanh"
    assert 0.5 < on_disk["metrics"]["test/acc"] <= 1.0
    assert {f"test/acc_class/{k}" for k in range(10)} <= set(on_disk["metrics"])
    assert on_disk["data"]["sha256"].startswith("5bbb107b")
    assert on_disk["data"]["n_train"] + on_disk["data"]["n_val"] + on_disk["data"]["n_test"] == 1500
    assert {"torch", "lightning", "hydra-core", "wandb"} <= set(on_disk["versions"])
    assert "checkpoints/last.ckpt" in on_disk["artefacts"] and "metrics/metrics.csv" in on_disk["artefacts"]
    from wandb_records import summarize

    wb = summarize(on_disk["wandb_dir"])
    assert wb["exit_code"] == 0 and wb["config"]["seed"] == 4 and wb["job_type"] == "train"


def test_same_seed_same_result(run_job):
    a = run_job(FAST + ["logger=none"], name="a")
    b = run_job(FAST + ["logger=none"], name="b")
    assert a["metrics"]["test/loss"] == b["metrics"]["test/loss"]


def test_nan_stops_with_step_and_metric_and_keeps_logged_metrics(run_job, tmp_path):
    train.FAILED_JOBS.clear()
    rec = run_job(FAST + ["logger=csv", "trainer.log_every_n_steps=1",
                          "+callbacks.fault._target_=faults.PoisonAt", "+callbacks.fault.step=25"])
    assert rec["status"] == "failed"
    assert "step 25" in rec["error"] and "train/loss" in rec["error"] and "nan" in rec["error"]
    assert train.FAILED_JOBS == [str(tmp_path / "run")]
    train.FAILED_JOBS.clear()
    with open(tmp_path / "run" / "metrics" / "metrics.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r.get("train/loss_step")]
    assert steps and max(steps) == 24 and len(steps) == 25


def test_interrupted_run_resumes_to_the_same_result(run_job, tmp_path):
    full = run_job(FAST + ["logger=none"], name="full")
    handler = signal.getsignal(signal.SIGINT)
    try:
        # 1500 samples, 1350 in the pool, 1215 train: 19 batches an epoch; stop inside epoch 2
        with pytest.raises(SystemExit):
            run_job(FAST + ["logger=none", "+callbacks.fault._target_=faults.InterruptAt",
                            "+callbacks.fault.step=30"], name="cut")
    finally:
        signal.signal(signal.SIGINT, handler)
    cut = json.loads((tmp_path / "cut" / "summary.json").read_text())
    assert cut["status"] == "interrupted"
    resumed = run_job(FAST + ["logger=none", "resume=true"], name="cut")
    assert resumed["status"] == "finished"
    assert resumed["metrics"]["test/loss"] == pytest.approx(full["metrics"]["test/loss"], abs=1e-6)
    assert resumed["metrics"]["test/acc"] == full["metrics"]["test/acc"]


def test_resume_without_checkpoint_is_a_user_error(run_job):
    from knowloc.errors import UserError

    with pytest.raises(UserError, match="resume=True: no checkpoint"):
        run_job(FAST + ["logger=none", "resume=true"], name="fresh")


def test_user_error_inside_an_instantiated_constructor_is_one_line(capsys, tmp_path):
    from knowloc.cli import main

    # passes preflight (no rule for it), fails in ImageDataModule.__init__ inside Hydra's instantiate
    with pytest.raises(SystemExit) as e:
        main(["data.classes=[[1,7],[7,8]]", "logger=none", f"hydra.run.dir={tmp_path / 'ctor'}"])
    assert e.value.code == 2
    err = [l for l in capsys.readouterr().err.splitlines() if l.strip()]
    assert err == [l for l in err if l.startswith("knowloc: error: data.classes=")] and len(err) == 1


def test_resume_from_a_path(run_job, tmp_path):
    """A run resumed from another run's folder for a second epoch ends where a two-epoch run does:
    same weights, same test metrics (the data order is seeded per epoch, the optimizer state restored)."""
    import torch

    first = run_job(["data.first_n=800", "trainer.max_epochs=1", "logger=none"], name="first")
    more = run_job(["data.first_n=800", "trainer.max_epochs=2", "logger=none", f"resume={tmp_path / 'first'}"],
                   name="more")
    whole = run_job(["data.first_n=800", "trainer.max_epochs=2", "logger=none"], name="whole")
    assert first["status"] == more["status"] == whole["status"] == "finished"
    for key in ("test/acc", "test/loss"):
        assert more["metrics"][key] == pytest.approx(whole["metrics"][key], abs=1e-6), key
    w_more, w_whole = (torch.load(tmp_path / n / "checkpoints" / "last.ckpt", map_location="cpu",
                                  weights_only=False)["state_dict"] for n in ("more", "whole"))
    assert w_more.keys() == w_whole.keys()
    for k in w_whole:
        assert torch.allclose(w_more[k], w_whole[k], atol=1e-6), k
    from knowloc.preflight import preflight

    preflight([f"resume={tmp_path / 'first'}"])  # a path passes the command-line check
