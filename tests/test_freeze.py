"""Freezing layers: frozen weights stay bit-identical, the optimizer never sees them, and the
trained-vs-frozen sweep runs and compares."""

from __future__ import annotations

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from knowloc.callbacks import FreezeLayers, WeightSnapshots
from knowloc.models import ClassifierModule, LeNetWSS
from knowloc.snapshots import SnapshotStore, artefacts

SMALL = ["experiment=freeze", "data.first_n=600", "trainer.max_epochs=2", "trainer.enable_progress_bar=false",
         "logger=csv"]


class AllParamsClassifier(ClassifierModule):
    """Gives the optimizer every parameter, frozen or not, as a careless module would."""

    def configure_optimizers(self):
        return self.optimizer_factory(list(self.parameters()))


def fit(callbacks, epochs, tmp_path, seed=0):
    L.seed_everything(seed, verbose=False)
    x = torch.randn(96, 1, 28, 28)
    y = torch.randint(0, 10, (96,))
    loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
    # momentum and weight decay would move a frozen weight that stayed in the optimizer
    opt = lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=0.1)  # noqa: E731
    model = AllParamsClassifier(LeNetWSS(), opt)
    trainer = L.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=callbacks,
                        default_root_dir=str(tmp_path))
    before = {k: v.detach().clone() for k, v in model.net.state_dict().items()}
    trainer.fit(model, loader)
    return model, trainer, before


def in_optimizer(trainer, p) -> bool:
    return any(q is p for opt in trainer.optimizers for g in opt.param_groups for q in g["params"])


def test_frozen_at_init_stay_bit_identical_and_leave_the_optimizer(tmp_path):
    model, trainer, before = fit([FreezeLayers(["conv*"])], 2, tmp_path)
    net = model.net
    for name in ("conv1", "conv2"):
        for p in ("weight", "bias"):
            assert torch.equal(getattr(net, name).__getattr__(p), before[f"{name}.{p}"])
            assert not in_optimizer(trainer, getattr(net, name).__getattr__(p))
            assert getattr(net, name).__getattr__(p) not in trainer.optimizers[0].state
    for name in ("fc1", "fc2"):
        assert not torch.equal(getattr(net, name).weight, before[f"{name}.weight"])
        assert in_optimizer(trainer, getattr(net, name).weight)
    assert sum(len(g["params"]) for g in trainer.optimizers[0].param_groups) == 4


def test_freezing_at_a_later_epoch_stops_the_layer_there(tmp_path):
    snaps = WeightSnapshots(layers=["conv1", "fc2"], filter_images=False, change_curves=False, log_artifact=False)
    model, trainer, _ = fit([FreezeLayers(["conv1"], at_epoch=1), snaps], 3, tmp_path)
    store = SnapshotStore(tmp_path)
    assert store.epochs == [0.0, 1.0, 2.0, 3.0]
    assert not torch.equal(store.load(1, "conv1"), store.load(0, "conv1"))  # trained during epoch 0
    for i in (2, 3):  # frozen from the start of epoch 1, despite momentum and weight decay
        assert torch.equal(store.load(i, "conv1"), store.load(1, "conv1"))
        assert torch.equal(store.load(i, "conv1", "bias"), store.load(1, "conv1", "bias"))
        assert not torch.equal(store.load(i, "fc2"), store.load(i - 1, "fc2"))
    w = model.net.conv1.weight
    assert not w.requires_grad and not in_optimizer(trainer, w) and w not in trainer.optimizers[0].state


def test_each_layer_can_freeze_at_its_own_epoch(tmp_path):
    snaps = WeightSnapshots(layers=["conv*"], filter_images=False, change_curves=False, log_artifact=False)
    cb = FreezeLayers({"conv1": 0, "conv2": 2})
    model, trainer, before = fit([cb, snaps], 3, tmp_path)
    store = SnapshotStore(tmp_path)
    for i in range(4):
        assert torch.equal(store.load(i, "conv1"), before["conv1.weight"])
    assert not torch.equal(store.load(2, "conv2"), store.load(1, "conv2"))  # still training in epoch 1
    assert torch.equal(store.load(3, "conv2"), store.load(2, "conv2"))  # frozen from the start of epoch 2
    assert cb.frozen == ["conv1", "conv2"] and sum(len(g["params"]) for g in trainer.optimizers[0].param_groups) == 4
    assert FreezeLayers(["conv1@0", "conv2@2", "fc*"], at_epoch=5).schedule == [("conv1", 0), ("conv2", 2), ("fc*", 5)]
    with pytest.raises(Exception, match="callbacks.freeze_layers.layers.conv2=-1 is not allowed"):
        FreezeLayers({"conv2": -1})
    with pytest.raises(Exception, match="callbacks.freeze_layers.layers='conv2@x' is not allowed"):
        FreezeLayers(["conv2@x"])


def test_freeze_experiment_records_bit_identical_conv_layers(run_job, tmp_path):
    rec = run_job(SMALL)
    assert rec["status"] == "finished"
    m = rec["metrics"]
    conv = 20 * 1 * 25 + 20 + 50 * 20 * 25 + 50
    assert m["freeze/frozen_params"] == conv
    assert m["freeze/trainable_params"] == 800 * 500 + 500 + 500 * 10 + 10
    assert m["freeze/max_abs_change"] == 0.0
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    from test_snapshots import initial_net

    net0 = initial_net(SMALL)
    for k, v in net0.state_dict().items():
        same = torch.equal(ckpt["state_dict"][f"net.{k}"], v)
        assert same == k.startswith("conv"), k
    # the saved optimizer holds the 4 fc tensors only
    groups = ckpt["optimizer_states"][0]["param_groups"]
    assert sum(len(g["params"]) for g in groups) == 4
    assert ckpt["callbacks"]["FreezeLayers"]["frozen"] == ["conv1", "conv2"]


def test_resume_keeps_a_later_freeze_and_appends_snapshots(run_job, tmp_path):
    import numpy as np
    import pandas as pd

    from knowloc.snapshots import changes_from_store

    base = SMALL + ["+snapshots=default", "callbacks.freeze_layers.layers=[conv2]", "callbacks.freeze_layers.at_epoch=1"]
    run_job(base + ["trainer.max_epochs=2"])
    store = SnapshotStore(tmp_path / "run")
    assert store.epochs == [0.0, 1.0, 2.0]
    w1 = store.load(1, "conv2")
    # resuming rebuilds the optimizer without conv2 (else loading its saved state would fail)
    rec = run_job(base + ["trainer.max_epochs=3", "resume=true"])
    assert rec["status"] == "finished" and rec["metrics"]["freeze/max_abs_change"] == 0.0
    store = SnapshotStore(tmp_path / "run")
    assert store.epochs == [0.0, 1.0, 2.0, 3.0]
    assert not torch.equal(w1, store.load(0, "conv2"))
    for i in (1, 2, 3):
        assert torch.equal(store.load(i, "conv2"), w1)
    assert not torch.equal(store.load(3, "conv1"), store.load(2, "conv1"))
    end = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert end["epoch"] == 2 and torch.equal(end["state_dict"]["net.conv2.weight"], w1)
    # the change curves continue across the resume and agree with the stored weights
    table = artefacts.read_changes(tmp_path / "run").sort_values(["layer", "i"], kind="stable")
    again = pd.DataFrame(changes_from_store(store))
    assert sorted(set(table.i)) == [0, 1, 2, 3] and table.layer.tolist() == again.layer.tolist()
    np.testing.assert_allclose(table.rel_dist_prev.to_numpy(), again.rel_dist_prev.to_numpy(), rtol=1e-9)
    conv2 = table[table.layer == "conv2"].set_index("i")
    assert conv2.loc[2, "rel_dist_prev"] == 0.0 and conv2.loc[3, "rel_dist_prev"] == 0.0
    assert len(list(artefacts.picture_dir(tmp_path / "run", "conv1", "weights").glob("*.png"))) == 4


def test_cifar_format_data_three_input_channels(run_job, tmp_path):
    from synthetic import write_cifar10

    root = write_cifar10(tmp_path / "data", n_per_batch=40, n_test=60)
    rec = run_job(["experiment=freeze", "data=cifar10", f"data.root={root}", "trainer.max_epochs=1", "logger=csv",
                   "trainer.enable_progress_bar=false", "+snapshots=default", "callbacks.weight_snapshots.layers=[conv1]"])
    assert rec["status"] == "finished" and rec["metrics"]["freeze/max_abs_change"] == 0.0
    store = SnapshotStore(tmp_path / "run")
    assert store.index["layers"]["conv1"]["weight"] == [20, 3, 5, 5]
    assert torch.equal(store.load(0, "conv1"), store.load(-1, "conv1"))  # frozen: no change at all
    assert store.entries and rec["metrics"]["snapshots/conv1/rel_dist_init"] == 0.0


def test_bad_freeze_settings_give_one_line(knowloc_cli):
    r = knowloc_cli("experiment=freeze", "callbacks.freeze_layers.at_epoch=-1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == ("knowloc: error: callbacks.freeze_layers.at_epoch=-1 is not allowed; "
                                                 "expected an integer >= 0")
    r = knowloc_cli("experiment=freeze", "freeze=everything")
    assert r.returncode == 2 and "freeze='everything' is not allowed; expected one of conv, none" in r.stderr


SWEEPS = __import__("pathlib").Path(__file__).resolve().parents[1] / "sweeps"


@pytest.mark.parametrize("name", ["freeze_embedded", "freeze_datasets"])
def test_sweep_files_compose_every_job(name):
    """Preflight composes every swept combination of the sweep file (no training)."""
    from knowloc.api import compose  # noqa: F401  (registers the resolvers)
    from knowloc.preflight import preflight

    preflight(["-m", "--config-dir", str(SWEEPS), "--config-name", name])
    import yaml

    params = yaml.safe_load((SWEEPS / f"{name}.yaml").read_text())["hydra"]["sweeper"]["params"]
    assert params["experiment"] == "freeze" and set(params["freeze"].split(",")) == {"none", "conv"}


def test_compare_groups_trained_and_frozen_runs(run_job, tmp_path, capsys):
    from knowloc.compare import main as compare_main

    small = ["experiment=freeze", "data.first_n=300", "trainer.max_epochs=1", "logger=none", "callbacks=none",
             "trainer.enable_progress_bar=false"]
    for i, (arm, seed) in enumerate([("none", 0), ("conv", 0), ("conv", 1)]):
        run_job(small + [f"freeze={arm}", f"seed={seed}"], name=f"sweep/{i}")
    capsys.readouterr()
    compare_main([str(tmp_path / "sweep"), "--by", "data", "--by", "freeze"])
    lines = capsys.readouterr().out.splitlines()
    rows = [line.split() for line in lines[2:4]]
    assert [(r[0], r[1], r[3]) for r in rows] == [("mnist_embedded", "conv", "2"), ("mnist_embedded", "none", "1")]
    import pandas as pd

    df = pd.read_csv(tmp_path / "sweep" / "compare_data_freeze_test_acc.csv")
    assert df["n"].tolist() == [2, 1] and df["mean"].between(0, 1).all()
    assert df.loc[0, "ci_low"] < df.loc[0, "mean"] < df.loc[0, "ci_high"]


@pytest.mark.slow
def test_sweep_runs_from_the_command_line(knowloc_cli, tmp_path):
    r = knowloc_cli("-m", "--config-dir", str(SWEEPS), "--config-name", "freeze_embedded", "seed=0",
                    "data.first_n=400", "trainer.max_epochs=1", "logger=csv", timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    sweep_dirs = list((tmp_path / "outputs" / "multiruns").iterdir())
    assert len(sweep_dirs) == 1 and len(list(sweep_dirs[0].rglob("summary.json"))) == 2
    c = knowloc_cli("compare", str(sweep_dirs[0]), "--by", "data", "--by", "freeze")
    assert c.returncode == 0, c.stderr
    rows = [line.split() for line in c.stdout.splitlines()[2:4]]
    assert [(row[0], row[1], row[3]) for row in rows] == [("mnist_embedded", "conv", "1"), ("mnist_embedded", "none", "1")]
