"""Seed-protocol presets (conf/experiment/*_seed.yaml) next to knowloc's defaults: each composes with
the documented differences and runs (short, on the embedded set); the fixed index-range split is
exactly its ranges, the same for every seed; pixel padding gives LeNet-5's 32x32 input."""

from __future__ import annotations

import pytest
import torch

from knowloc.data import ImageDataModule, load_source, scale_images
from knowloc.errors import ConfigValueError

# preset -> (knowloc's experiment it derives from, {key: preset value})
PRESETS = {
    "snapshots_seed": ("snapshots", {"model.net.init": "default", "data.scaling": "standard", "data.split": "index"}),
    "freeze_seed": ("freeze", {"model.net.init": "default", "data.scaling": "standard", "data.split": "index"}),
    "ablation_seed": ("ablation", {"model.net.init": "default", "data.scaling": "standard", "data.split": "index",
                                   "data.pad": 2, "model.net.input_size": 32}),
    "neuron_stats_seed": ("neuron_stats", {"model.net.init": "default", "data.scaling": "standard",
                                           "data.split": "index", "data.pad": 2, "model.net.input_size": 32}),
    "localization_seed": ("localization", {"model.dtype": "float64", "data.dtype": "float64",
                                           "data.phase1_fraction": 0.25, "data.scaling": "symmetric"}),
}
RANGES = {"train": [0, 4000], "val": None, "test": [4000, 5000]}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_composes_with_its_differences(preset):
    from omegaconf import OmegaConf

    from knowloc.api import compose

    base, keys = PRESETS[preset]
    cfg, default = compose([f"experiment={preset}"]), compose([f"experiment={base}"])
    for key, value in keys.items():
        assert OmegaConf.select(cfg, key) == value, key
    if base != "localization":  # knowloc's defaults (the LeNet-WSS experiments share the preset's init and scaling)
        wss = base in ("snapshots", "freeze")
        assert OmegaConf.select(default, "model.net.init") == ("default" if wss else "he")
        assert OmegaConf.select(default, "data.scaling") == ("standard" if wss else "unit")
        assert OmegaConf.select(default, "data.split") == "random"
        assert OmegaConf.to_container(cfg.data.ranges) == RANGES
    assert cfg.task_name == preset and "seed_protocol" in cfg.tags


# short runs: 1 epoch on 400 training and 300 test images (the ranges still fixed by index)
SHORT = {"snapshots_seed": [], "freeze_seed": [], "neuron_stats_seed": [],
         "ablation_seed": ["callbacks.ablation.max_size=2"], "localization_seed": ["data.pool_size=1200"]}


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_preset_runs(run_job, preset):
    image = preset != "localization_seed"
    extra = ["data.ranges.train=[0,400]", "data.ranges.test=[4000,4300]"] if image else []
    rec = run_job([f"experiment={preset}", "logger=csv", "trainer.max_epochs=1", *extra, *SHORT[preset]])
    assert rec["status"] == "finished", rec["error"]
    assert 0.0 < rec["metrics"]["test/acc"] <= 1.0
    if image:
        assert rec["data"]["split"] == "index" and rec["data"]["ranges"] == {"train": [0, 400], "val": None,
                                                                          "test": [4000, 4300]}
        assert (rec["data"]["n_train"], rec["data"]["n_val"], rec["data"]["n_test"]) == (400, 0, 300)
    else:
        assert rec["config"]["model"]["dtype"] == "float64"


@pytest.mark.parametrize("seed", [0, 7])
def test_index_split_is_exactly_the_ranges(seed):
    dm = ImageDataModule(split="index", ranges=RANGES, seed=seed)
    dm.setup()
    src = load_source("mnist_embedded")
    assert torch.equal(dm.train_split.index, torch.arange(4000))
    assert torch.equal(dm.test_split.index, torch.arange(4000, 5000))
    assert len(dm.val_split) == 0
    assert torch.equal(dm.train_split.x, scale_images(src.images[:4000], "unit"))
    assert torch.equal(dm.test_split.y, src.labels[4000:])
    # the seeded random split differs between seeds; this one does not
    rnd = [ImageDataModule(seed=s) for s in (0, 7)]
    for d in rnd:
        d.setup()
    assert not torch.equal(rnd[0].test_split.index, rnd[1].test_split.index)


def test_index_split_with_classes_and_validation_range():
    """Ranges are positions in the pool after first_n and classes, in data-set order."""
    dm = ImageDataModule(classes=[3, 5], split="index", ranges={"train": [0, 600], "val": [600, 700],
                                                                 "test": [700, 1000]})
    dm.setup()
    keep = torch.nonzero((load_source("mnist_embedded").labels == 3) | (load_source("mnist_embedded").labels == 5))
    keep = keep.flatten()
    assert torch.equal(dm.train_split.index, keep[:600]) and torch.equal(dm.val_split.index, keep[600:700])
    assert torch.equal(dm.test_split.index, keep[700:1000])


@pytest.mark.parametrize("ranges", [{"train": [0, 4000], "test": [3999, 5000]}, {"train": [0, 5001]},
                                    {"test": [4000, 5000]}, {"train": [10, 5], "test": None},
                                    {"train": [0, 10], "tset": [10, 20]}])
def test_bad_ranges_name_the_key(ranges):
    with pytest.raises(ConfigValueError, match="data.ranges"):
        ImageDataModule(split="index", ranges=ranges).setup()


def test_bad_split_is_one_line(knowloc_cli):
    r = knowloc_cli("experiment=snapshots_seed", "logger=none", "data.ranges.test=[3000,5000]")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("knowloc: error:")]
    assert "data.ranges" in line and "disjoint" in line
    r = knowloc_cli("data.split=fixed", "logger=none")
    assert r.returncode == 2 and "data.split='fixed'" in r.stderr and "random, index" in r.stderr


def test_pixel_padding_gives_lenet5_its_32x32_input():
    """data.pad=2: zero pixels added before scaling (standard: the border is -mean/std, mean/std of
    the unpadded training images); LeNet-5 then has no padding in conv1."""
    from knowloc.models import LeNet5

    dm = ImageDataModule(split="index", ranges=RANGES, pad=2, scaling="standard")
    dm.setup()
    plain = ImageDataModule(split="index", ranges=RANGES, scaling="standard")
    plain.setup()
    x = dm.train_split.x
    assert x.shape[1:] == (1, 32, 32) and dm.mean == plain.mean and dm.std == plain.std
    assert torch.equal(x[:, :, 2:30, 2:30], plain.train_split.x)
    border = torch.tensor(-dm.mean[0] / dm.std[0], dtype=torch.float32)
    assert torch.allclose(x[:, :, :2], border) and torch.allclose(x[:, :, :, -2:], border)
    net, net28 = LeNet5(input_size=32), LeNet5(input_size=28)
    assert net.conv1.padding == (0, 0) and net28.conv1.padding == (2, 2)
    assert net(x[:5]).shape == (5, 10) and net.fc1.in_features == net28.fc1.in_features == 400


def test_ablation_of_a_missing_validation_split_is_one_line(knowloc_cli):
    r = knowloc_cli("experiment=ablation_seed", "logger=none", "trainer.max_epochs=1", "callbacks.ablation.split=val")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("knowloc: error:")]
    assert "callbacks.ablation.split='val'" in line and "data.ranges.val" in line
