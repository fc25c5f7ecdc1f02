"""Stages and child records of a job (knowloc.stages, knowloc.children), through real jobs:
experiment=alignment runs the stage `network` (train or load the equality net) before the stage
`search`; experiment=localization_stack holds one child record per stacked model."""

from __future__ import annotations

import json

import pytest

SMALL_NET = ["model.network.data.n_train=6000", "model.network.data.vocab_size=200", "equality.epochs.relu=2"]
SMALL_SEARCH = ["alignment.layers=[1]", "alignment.sizes=[1,8]", "trainer.max_epochs=2", "data.n_train=1000",
                "data.n_test=1000", "alignment.baseline_pairs=200", "alignment.select_pairs=500",
                "alignment.baselines=[]"]


def test_alignment_records_its_stages_and_logs_them_to_wandb(run_job):
    from wandb_records import summarize

    rec = run_job(["experiment=alignment", "logger=wandb", *SMALL_NET, *SMALL_SEARCH], name="align")
    assert rec["status"] == "finished", rec["error"]
    stages = rec["stages"]
    assert list(stages) == ["network", "search"]
    for entry in stages.values():
        assert entry["status"] == "finished" and entry["error"] is None and entry["duration_s"] >= 0
    net = stages["network"]["metrics"]
    # the network's test accuracy, also where it has always been recorded
    assert net["epochs"] == 2 and 0.0 <= net["test_acc"] <= 1.0
    assert net["test_acc"] == rec["metrics"]["alignment/network/test_acc"]
    assert rec["duration_s"] >= stages["network"]["duration_s"] + stages["search"]["duration_s"]
    wb = summarize(rec["wandb_dir"])
    assert wb["exit_code"] == 0
    assert wb["summary"]["stages/network/test_acc"] == pytest.approx(net["test_acc"])
    assert wb["summary"]["stages/network/epochs"] == 2
    assert wb["summary"]["alignment/network/test_acc"] == pytest.approx(net["test_acc"])


def test_a_failing_stage_is_one_line_and_a_failed_record_naming_it(knowloc_cli, tmp_path):
    # a network whose input width (12) is not the data's (4 x 4): training it fails inside the stage
    r = knowloc_cli("experiment=alignment", "logger=none", "model.network.model.net.sizes=[12,16,16,2]",
                    "model.network.data.n_train=500", "equality.epochs.relu=1", timeout=300)
    assert r.returncode == 3, r.stderr
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("knowloc: error:")]
    assert len(errors) == 1 and errors[0].startswith("knowloc: error: stage network failed: RuntimeError: ")
    assert "Traceback" not in r.stderr
    (summary,) = (tmp_path / "outputs").rglob("summary.json")
    rec = json.loads(summary.read_text())
    assert rec["status"] == "failed" and rec["error"].startswith("stage network failed: RuntimeError: ")
    assert rec["stages"] == {"network": {"status": "failed", "duration_s": rec["stages"]["network"]["duration_s"],
                                         "metrics": {}, "error": rec["error"]}}
    assert not (summary.parent / "alignment" / "network.pt").exists()


def test_a_bad_stages_node_is_one_line(knowloc_cli):
    r = knowloc_cli("experiment=alignment", "logger=none", "stages.network=model.layers", timeout=120)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip() == ("knowloc: error: stages.network='model.layers' is not allowed; "
                                "expected fit or model.ARG, a node with _target_ under model")


def test_the_search_of_a_loaded_network_equals_the_one_job_and_resume_reruns_the_stage(run_job, tmp_path):
    """The stage `network` trains the net with the job's seed before the search, so the search that
    loads the saved net (stage `network` loads it) gives the same numbers; a resumed job runs its
    network stage again (the same net, from the same seed) and continues the search."""
    import pandas as pd
    import torch

    one = run_job(["experiment=alignment", "logger=none", *SMALL_NET, *SMALL_SEARCH], name="one")
    assert one["status"] == "finished", one["error"]
    loaded = run_job(["experiment=alignment", "logger=none", f"alignment.checkpoint={tmp_path / 'one'}",
                      *SMALL_SEARCH], name="loaded")
    assert loaded["stages"]["network"]["status"] == "finished"
    assert "epochs" not in loaded["stages"]["network"]["metrics"]  # loaded, not trained
    iia = pd.read_csv(tmp_path / "one" / "alignment" / "iia.csv")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "loaded" / "alignment" / "iia.csv"), iia)
    short = [o for o in SMALL_SEARCH if not o.startswith("trainer.max_epochs")]
    first = run_job(["experiment=alignment", "logger=none", *SMALL_NET, *short, "trainer.max_epochs=1"], name="res")
    assert first["status"] == "finished"
    net = torch.load(tmp_path / "res" / "alignment" / "network.pt")
    again = run_job(["experiment=alignment", "logger=none", *SMALL_NET, *short, "trainer.max_epochs=2",
                     "resume=true"], name="res")
    assert again["status"] == "finished", again["error"]
    assert [s["status"] for s in again["stages"].values()] == ["finished", "finished"]
    rerun = torch.load(tmp_path / "res" / "alignment" / "network.pt")
    assert all(torch.equal(net[k], rerun[k]) for k in net)
    ckpt = torch.load(tmp_path / "res" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["epoch"] == 1 and again["stages"]["network"]["metrics"] == first["stages"]["network"]["metrics"]


def test_stacked_models_are_child_records_written_by_the_task(run_job, tmp_path):
    from knowloc.records import read_summary

    stack = run_job(["experiment=localization_stack", "data.pool_size=1200", "stack.activations=[relu,tanh]",
                     "stack.seeds=[0,3]", "logger=csv"], name="stack")
    assert stack["status"] == "finished"
    parent = tmp_path / "stack"
    stack = read_summary(parent)  # as written (JSON keys)
    names = sorted(p.name for p in (parent / "runs").iterdir())
    assert names == ["relu_seed0", "relu_seed3", "tanh_seed0", "tanh_seed3"]
    for name in names:
        act, seed = name.split("_seed")
        child = read_summary(parent / "runs" / name)
        assert child["status"] == "finished" and child["error"] is None
        assert child["stacked_in"] == str(parent) and child["seed"] == int(seed)
        assert child["config"]["activation"]["name"] == act and child["config"]["seed"] == int(seed)
        assert {k: v for k, v in child["config"].items() if k not in ("seed", "activation")} == \
            {k: v for k, v in stack["config"].items() if k not in ("seed", "activation")}
        assert child["choices"] == {**stack["choices"], "activation": act}
        assert child["overrides"] == stack["overrides"] + [f"activation={act}", f"seed={seed}"]
        assert child["data"] == stack["data"]
        results = json.loads((parent / "runs" / name / "results.json").read_text())
        assert child["metrics"] == results and "localization/pearson/fc1.weight" in results
        folder = parent / "runs" / name
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        assert child["artefacts"] and sorted(child["artefacts"]) == sorted(set(files) - {"summary.json", "results.json"})
    # the W&B route of the children's metrics: the parent's table, one row per child
    import pandas as pd

    models = pd.read_csv(parent / "localization" / "models.csv")
    assert len(models) == 4
    row = models[(models.activation == "tanh") & (models.seed == 3)].iloc[0]
    tanh3 = read_summary(parent / "runs" / "tanh_seed3")["metrics"]
    assert row["localization/pearson/fc1.weight"] == pytest.approx(tanh3["localization/pearson/fc1.weight"])


def test_stages_are_read_in_order_and_checked(tmp_path):
    from knowloc import stages
    from knowloc.api import compose
    from knowloc.errors import ConfigValueError

    cfg = compose(["experiment=alignment", "trainer.devices=[0]", "+trainer.precision=64"], tmp_path / "a")
    assert stages.declared(cfg) == [stages.Stage("network", "model.network"), stages.Stage("search", None)]
    assert stages.declared(cfg)[0].argument == "network"
    # plain values (no ListConfig) for the stage's own Trainer
    assert stages.trainer_settings(cfg) == {"accelerator": "cpu", "devices": [0], "precision": 64,
                                            "deterministic": True}
    assert stages.declared(compose(["experiment=equality"], tmp_path / "b")) == []  # one fit, nothing named
    for bad, key in ((["stages.search=model.network"], "stages"),  # no main stage
                     (["+stages.after=fit"], "stages"),  # two main stages
                     (["stages.network=alignment.layers"], "stages.network")):  # not a node under model
        with pytest.raises(ConfigValueError, match=f"^{key}="):
            stages.declared(compose(["experiment=alignment", *bad], tmp_path / "c"))


def test_child_config_updates_are_dotted_keys_on_a_copy():
    from knowloc.children import updated

    parent = {"seed": 1, "activation": {"name": "relu", "alpha": 0.1}, "model": {"lr": 0.01}}
    child = updated(parent, {"seed": 3, "activation.name": "tanh", "stack.index": 2})
    assert child == {"seed": 3, "activation": {"name": "tanh", "alpha": 0.1}, "model": {"lr": 0.01},
                     "stack": {"index": 2}}
    assert parent["activation"]["name"] == "relu" and parent["seed"] == 1
