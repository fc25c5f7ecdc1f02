"""Weight snapshots: the store, the change measures, the colour map, and real runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from knowloc.snapshots import SnapshotStore, artefacts, change, changes_from_store, colour, filter_grid, load_snapshot
from knowloc.snapshots.filters import grid_shape, symmetric_range

SMALL = ["experiment=snapshots", "data.first_n=600", "trainer.max_epochs=2", "trainer.enable_progress_bar=false"]


def initial_net(overrides):
    """The network as train.run instantiates it (same seed, same order), before training."""
    import lightning as L
    from hydra.utils import instantiate

    from knowloc.api import compose

    cfg = compose(overrides)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    instantiate(cfg.data)
    return instantiate(cfg.model).net


# -- store -------------------------------------------------------------------------------------

def test_store_appends_indexes_and_loads_exact_tensors(tmp_path):
    store = SnapshotStore(tmp_path, create=True)
    ws = [torch.randn(4, 2, 3, 3) for _ in range(5)]
    for k, w in enumerate(ws):
        store.append({"conv1.weight": w, "conv1.bias": torch.full((4,), float(k))}, epoch=k, step=10 * k,
                     tag="init" if k == 0 else "epoch")
    again = SnapshotStore(tmp_path)  # a reader sees what the writer wrote
    assert len(again) == 5 and again.layers == ["conv1"]
    assert again.epochs == [0.0, 1.0, 2.0, 3.0, 4.0] and again.steps == [0, 10, 20, 30, 40]
    for k, w in enumerate(ws):
        assert torch.equal(load_snapshot(tmp_path, "conv1", k), w)
        assert torch.equal(again.load(k, "conv1", "bias"), torch.full((4,), float(k)))
    assert torch.equal(again.load(-1, "conv1"), ws[-1])
    index = artefacts.read_index(tmp_path)
    assert index["layers"]["conv1"] == {"weight": [4, 2, 3, 3], "bias": [4]}
    assert artefacts.SNAPSHOT.matches(tmp_path) == [artefacts.SNAPSHOT.at(tmp_path, i=k) for k in range(5)]
    store.truncate(2)
    assert len(SnapshotStore(tmp_path)) == 2 and not artefacts.SNAPSHOT.exists(tmp_path, i=2)
    with pytest.raises(IndexError):
        SnapshotStore(tmp_path).load(2, "conv1")
    with pytest.raises(KeyError, match="stored layers: conv1"):
        again.load(0, "fc9")


def test_store_float16_halves_the_files_and_rounds_like_half(tmp_path):
    w = torch.randn(50, 20, 5, 5)
    s32 = SnapshotStore(tmp_path / "a", create=True)
    s16 = SnapshotStore(tmp_path / "b", "float16", create=True)
    s32.append({"conv2.weight": w}, 0, 0)
    s16.append({"conv2.weight": w}, 0, 0)
    assert torch.equal(s16.load(0, "conv2"), w.half().float())
    assert s16.load(0, "conv2", dtype=None).dtype == torch.float16
    size = lambda s: artefacts.SNAPSHOT.at(s.run_dir, i=0).stat().st_size  # noqa: E731
    assert size(s16) < 0.55 * size(s32)


# -- change measures ------------------------------------------------------------------------------

def test_change_measures_match_their_formulas():
    w0 = torch.tensor([1.0, -1.0, 2.0, 0.5])
    w1 = torch.tensor([1.0, 1.0, 2.0, 0.5])
    w2 = torch.tensor([-1.0, 1.0, 2.0, 0.5])
    m = change(w1, w0)
    n0 = math.sqrt(1 + 1 + 4 + 0.25)
    assert m["rel_dist_init"] == pytest.approx(2 / n0)
    assert m["rel_dist_prev"] == pytest.approx(2 / n0)  # no previous: the init is the previous
    assert m["cos_init"] == pytest.approx((1 - 1 + 4 + 0.25) / (n0 * n0))
    assert m["sign_flip_init"] == pytest.approx(1 / 4)
    m2 = change(w2, w0, prev=w1)
    assert m2["rel_dist_prev"] == pytest.approx(2 / n0)
    assert m2["rel_dist_init"] == pytest.approx(math.sqrt(8) / n0)
    assert m2["sign_flip_init"] == pytest.approx(2 / 4) and m2["sign_flip_prev"] == pytest.approx(1 / 4)
    same = change(w0, w0, w0)
    assert same == {"rel_dist_init": 0.0, "rel_dist_prev": 0.0, "cos_init": pytest.approx(1.0),
                    "sign_flip_init": 0.0, "sign_flip_prev": 0.0}
    assert math.isnan(change(w1, torch.zeros(4))["rel_dist_init"])


# -- colour map -----------------------------------------------------------------------------------

def test_colour_map_red_positive_blue_negative_green_zero():
    w = torch.tensor([2.0, -2.0, 0.0, 1.0, -4.0])
    rgb = colour(w, scale=2.0)
    assert rgb[0].tolist() == [255, 0, 0]
    assert rgb[1].tolist() == [0, 0, 255]
    assert rgb[2].tolist() == [0, 255, 0]
    assert rgb[3].tolist() == [128, 128, 0]  # half way: half red, half green
    assert rgb[4].tolist() == [0, 0, 255]  # beyond the range: clipped
    assert symmetric_range(torch.arange(-100.0, 101.0), 1.0) == 100.0
    assert symmetric_range(torch.arange(-100.0, 101.0), 0.5) == pytest.approx(50.0, abs=1)


def test_filter_grid_has_one_block_per_filter_and_one_kernel_per_input_channel():
    from knowloc.snapshots.filters import FilterLayout

    assert grid_shape(20, 1) == (4, 5)
    assert grid_shape(20, 3) == (7, 3)
    assert grid_shape(50, 20) == (25, 2)  # conv2 of LeNet: one row per filter, two columns
    w = torch.zeros(20, 3, 5, 5)
    w[4, 2] = 1.0  # filter 4, blue-channel kernel: red
    img = filter_grid(w, zoom=2, scale=1.0)
    reds = (img == [255, 0, 0]).all(-1).sum()
    greens = (img == [0, 255, 0]).all(-1).sum()
    assert reds == 25 * 4 and greens == (20 * 3 - 1) * 25 * 4
    layout = FilterLayout((20, 3, 5, 5), zoom=2)
    ys, xs = np.nonzero(layout.source == 4 * 75 + 2 * 25)  # weight [4, 2, 0, 0]: a 2 x 2 square
    assert (ys.max() - ys.min(), xs.max() - xs.min()) == (1, 1)
    assert (img[layout.source // 25 == 4 * 3 + 2] == [255, 0, 0]).all()


# -- real runs -------------------------------------------------------------------------------------

def test_snapshot_run_stores_init_and_every_epoch_with_images_and_curves(run_job, tmp_path):
    import imageio.v3 as iio

    rec = run_job(SMALL)  # W&B offline: images, metrics and the artifact go through the real client
    assert rec["status"] == "finished"
    run = tmp_path / "run"
    store = SnapshotStore(run)
    assert store.epochs == [0.0, 1.0, 2.0] and [e["tag"] for e in store.entries] == ["init", "epoch", "epoch"]
    assert store.layers == ["conv1", "conv2", "fc1", "fc2"]
    steps_per_epoch = store.steps[1]
    assert steps_per_epoch > 0 and store.steps == [0, steps_per_epoch, 2 * steps_per_epoch]
    # snapshot 0 is the initialisation, bit for bit; the last one is the trained network
    net0 = initial_net(SMALL)
    for layer in store.layers:
        assert torch.equal(store.load(0, layer), getattr(net0, layer).weight.detach())
        assert torch.equal(store.load(0, layer, "bias"), getattr(net0, layer).bias.detach())
    final = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)["state_dict"]
    for layer in store.layers:
        assert torch.equal(store.load(-1, layer), final[f"net.{layer}.weight"])
        assert not torch.equal(store.load(-1, layer), store.load(0, layer))
    # change curves: the CSV equals the measures recomputed from the stored weights
    import pandas as pd

    table = artefacts.read_changes(run).sort_values(["layer", "i"], kind="stable")
    again = pd.DataFrame(changes_from_store(store))  # ordered by layer, then snapshot
    assert len(table) == 3 * 4 and table.layer.tolist() == again.layer.tolist()
    for col in ("rel_dist_init", "rel_dist_prev", "cos_init", "sign_flip_init", "sign_flip_prev"):
        np.testing.assert_allclose(table[col].to_numpy(), again[col].to_numpy(), rtol=1e-9, atol=1e-12)
    first = table[table.i == 0]
    assert (first.rel_dist_init == 0).all() and np.allclose(first.cos_init, 1.0)
    assert (table[table.i == 2].rel_dist_init.to_numpy() > table[table.i == 1].rel_dist_init.to_numpy()).all()
    m = rec["metrics"]
    assert m["snapshots/n"] == 3
    assert m["snapshots/conv2/rel_dist_init"] == pytest.approx(table[(table.i == 2) & (table.layer == "conv2")].rel_dist_init.item())
    # the per-step metrics reached the CSV logger (and W&B)
    hist = pd.read_csv(run / "metrics" / "metrics.csv")
    assert hist["snapshots/conv1/cos_init"].notna().sum() == 3
    # filter images: conv layers only, one PNG per snapshot, a GIF with one frame per snapshot
    for layer in ("conv1", "conv2"):
        pngs = sorted(artefacts.picture_dir(run, layer, "weights").glob("*.png"))
        assert [p.stem for p in pngs] == ["0000", "0001", "0002"]
        frames = iio.imread(artefacts.ANIMATION.at(run, layer=layer), index=None)
        assert frames.shape[0] == 3
    assert artefacts.picture_layers(run) == ["conv1", "conv2"]
    assert artefacts.CHANGES_FIGURE.at(run).stat().st_size > 0
    # W&B (offline run): one image per conv layer and snapshot, the GIFs, and the artifact
    (wb,) = list((run / "wandb").glob("offline-run-*"))
    media = wb / "files" / "media"
    for layer in ("conv1", "conv2"):
        assert len(list((media / "images" / "snapshots" / "filters").glob(f"{layer}_[0-9]*.png"))) == 3
        for view in ("from_init", "from_prev"):  # the last change pictures
            assert len(list((media / "images" / "snapshots" / "filters").glob(f"{layer}_{view}_[0-9]*.png"))) == 1
        for name in ("", "_from_init"):
            assert len(list((media / "videos" / "snapshots" / "filters").glob(f"{layer}{name}_animation_*.gif"))) == 1
    run_id = wb.name.rsplit("-", 1)[-1]
    assert f"snapshots-{run_id}".encode() in next(wb.glob("*.wandb")).read_bytes()
    # every file under the snapshots folder is declared in knowloc.snapshots.artefacts, and each
    # declaration (both GIFs, all three views) has files here
    folder = artefacts.INDEX.at(run).parent
    written = {p for p in folder.rglob("*") if p.is_file()}
    declared = {a.path: set(a.matches(run)) for a in artefacts.ARTEFACTS}
    assert written == set().union(*declared.values())
    assert all(declared.values()), [k for k, v in declared.items() if not v]


def test_step_schedule_float16_and_chosen_layers(run_job, tmp_path):
    rec = run_job(SMALL + ["logger=csv", "data.first_n=300", "callbacks.weight_snapshots.every_n_epochs=null",
                           "callbacks.weight_snapshots.every_n_steps=5", "callbacks.weight_snapshots.dtype=float16",
                           "callbacks.weight_snapshots.layers=[conv*]",
                           "callbacks.weight_snapshots.filter_images=false"])
    assert rec["status"] == "finished"
    store = SnapshotStore(tmp_path / "run")
    total = store.steps[-1]
    assert store.steps == [0] + list(range(5, total + 1, 5)) + ([total] if total % 5 else [])
    assert [e["tag"] for e in store.entries][-1] == ("last" if total % 5 else "step")
    assert store.layers == ["conv1", "conv2"] and store.index["dtype"] == "float16"
    assert store.load(0, "conv1", dtype=None).dtype == torch.float16
    ep = store.epochs
    assert ep[0] == 0 and all(b > a for a, b in zip(ep, ep[1:])) and ep[-1] == pytest.approx(2.0)
    assert artefacts.picture_layers(tmp_path / "run") == [] and not artefacts.VIEWS_RECORD.exists(tmp_path / "run")
    # the views can be built afterwards from the store alone
    import imageio.v3 as iio
    import pandas as pd

    from knowloc.snapshots.views import write_views

    write_views(tmp_path / "run", range_quantile=1.0)
    for layer in ("conv1", "conv2"):
        assert len(list(artefacts.picture_dir(store.run_dir, layer, "weights").glob("*.png"))) == len(store)
        assert iio.imread(artefacts.ANIMATION.at(store.run_dir, layer=layer), index=None).shape[0] == len(store)
    table = artefacts.read_changes(store.run_dir)
    assert len(table) == 2 * len(store) and (table[table.i == 0].rel_dist_init == 0).all()


def test_bad_snapshot_settings_give_one_line(knowloc_cli, run_job):
    r = knowloc_cli("experiment=snapshots", "callbacks.weight_snapshots.dtype=float8")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == ("knowloc: error: callbacks.weight_snapshots.dtype='float8' is not "
                                                 "allowed; expected one of float32, float16, bfloat16")
    # an unknown layer is found when the model exists: a UserError, which the CLI prints as one line
    from knowloc.errors import ConfigValueError

    with pytest.raises(ConfigValueError, match=r"callbacks.weight_snapshots.layers='conv9' is not allowed; "
                                               r"expected .* one of: conv1, conv2, fc1, fc2"):
        run_job(SMALL + ["callbacks.weight_snapshots.layers=[conv9]", "logger=none"])


def test_constructors_check_the_options_the_preflight_checks():
    """One source per option: the constructors raise the preflight's one line (knowloc.snapshots.options)."""
    from knowloc.callbacks import FreezeLayers, WeightSnapshots
    from knowloc.errors import ConfigValueError
    from knowloc.snapshots import options
    from knowloc.validation import RULES

    bad = {"dtype": "float8", "colour_scale": "global", "range_quantile": 0.0, "every_n_steps": 0,
           "gif_seconds_per_frame": 0}
    for key, value in bad.items():
        full = options.key(options.SNAPSHOTS, key)
        with pytest.raises(ConfigValueError) as e:
            WeightSnapshots(**{key: value})
        assert str(e.value) == f"{full}={value!r} is not allowed; expected {RULES[full][1]}"
    with pytest.raises(ConfigValueError, match=r"^callbacks.freeze_layers.at_epoch=-1 is not allowed; expected an integer >= 0$"):
        FreezeLayers(["conv1"], at_epoch=-1)
    assert RULES[options.key(options.SNAPSHOTS, "dtype")][1] == "one of " + ", ".join(options.DTYPES)


def test_diverged_run_keeps_its_snapshots_and_curves(run_job, tmp_path):
    rec = run_job(SMALL + ["logger=csv", "data.first_n=300", "model.optimizer.lr=1e8",
                           "callbacks.weight_snapshots.every_n_steps=1"])
    assert rec["status"] == "failed" and "diverged" in rec["error"]
    store = SnapshotStore(tmp_path / "run")
    assert len(store) >= 2 and rec["metrics"]["snapshots/n"] == len(store)
    import pandas as pd

    table = artefacts.read_changes(tmp_path / "run")
    assert sorted(set(table.i)) == list(range(len(store)))
    assert artefacts.ANIMATION.exists(tmp_path / "run", layer="conv1")
