"""Filter pictures that show learning: one colour range per run, change views, readable conv2,
and snapshots that survive a crash (real Lightning runs, W&B off or offline)."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from PIL import Image

from knowloc.snapshots import SnapshotStore, artefacts
from knowloc.snapshots.filters import PALETTE, ZERO, FilterLayout, colour, levels, symmetric_range

FACTOR = 1.5
GROW = ["experiment=freeze", "+snapshots=default", "data.first_n=300", "trainer.max_epochs=3", "logger=csv",
        "test=false", "+callbacks.grow._target_=snapshot_faults.GrowFilter", "+callbacks.grow.layer=conv1",
        "+callbacks.grow.index=0", f"+callbacks.grow.factor={FACTOR}"]


def rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def filter_mask(layout: FilterLayout, f: int) -> np.ndarray:
    return (layout.source >= 0) & (layout.source // int(np.prod(layout.shape[1:])) == f)


def weight_pixels(frame: np.ndarray, layout: FilterLayout, f: int) -> np.ndarray:
    """The pixels showing filter f (the caption band is above the layout)."""
    return frame[frame.shape[0] - layout.size[0]:, :layout.size[1]][filter_mask(layout, f)]


def expected_pixels(w: np.ndarray, s: float, layout: FilterLayout, f: int) -> np.ndarray:
    """The documented colours of filter f's weights on ±s, where the layout puts them."""
    return PALETTE[levels(w.ravel(), s)][layout.source[filter_mask(layout, f)]]


def test_palette_levels_follow_the_documented_colour_map():
    x = torch.linspace(-3, 3, 2001, dtype=torch.float64)
    got = PALETTE[levels(x.numpy(), 2.0)].astype(int)
    exact = colour(x, scale=2.0).astype(int)
    assert np.abs(got - exact).max() <= 2  # 253 levels: v off by at most 1/252
    for value, expected in ((2.0, (255, 0, 0)), (-2.0, (0, 0, 255)), (0.0, (0, 255, 0)), (1.0, (128, 128, 0)),
                            (-9.0, (0, 0, 255))):
        assert tuple(PALETTE[levels(np.array([value]), 2.0)[0]]) == expected
    assert tuple(PALETTE[levels(np.array([np.nan]), 2.0)[0]]) == (0, 0, 0)  # not finite: black
    assert (levels(np.array([1.0, -1.0]), 0.0) == ZERO).all()  # no range: all zero


def test_conv2_layout_separates_its_50_filters_and_fits_wandb_width():
    layout = FilterLayout((50, 20, 5, 5))
    h, w = layout.size
    assert w <= 720 and layout.zoom >= 3  # every weight a 3 x 3 square or larger, a kernel 15 x 15
    per_filter = 20 * 25
    owner = np.where(layout.source >= 0, layout.source // per_filter, -1)
    assert sorted(set(owner[owner >= 0].tolist())) == list(range(50))
    # no pixel of one filter touches a pixel of another: each block is framed and set apart
    for a, b in ((owner[1:], owner[:-1]), (owner[:, 1:], owner[:, :-1])):
        touching = (a >= 0) & (b >= 0)
        assert (a[touching] == b[touching]).all()
    # one row per filter: a filter's pixels span kernel height only, its 20 kernels side by side
    ys, xs = np.nonzero(owner == 7)
    assert ys.max() - ys.min() + 1 == 5 * layout.zoom and xs.max() - xs.min() + 1 == 20 * 5 * layout.zoom + 19


def test_one_range_per_run_shows_a_growing_filter_and_keeps_a_constant_one(run_job, tmp_path):
    from knowloc.snapshots.views import VIEWS, write_views

    rec = run_job(GROW)
    assert rec["status"] == "finished"
    store = SnapshotStore(tmp_path / "run")
    w = [store.load(i, "conv1").double().numpy() for i in range(len(store))]
    assert len(w) == 4  # init + 3 epochs, conv layers frozen: only GrowFilter moves conv1
    for t in range(4):
        np.testing.assert_allclose(w[t][0], w[0][0] * FACTOR ** t, rtol=1e-6)
        assert np.array_equal(w[t][1:], w[0][1:])
    run = tmp_path / "run"
    views = artefacts.read_views(run)
    s = max(symmetric_range(x, 0.99) for x in w)
    assert views["conv1"]["views"]["weights"]["scale"] == pytest.approx([s] * 4, rel=1e-12)
    assert all(f"±{s:.3g}" in c for c in views["conv1"]["views"]["weights"]["caption"])
    layout = FilterLayout(store.index["layers"]["conv1"]["weight"])
    frames = [rgb(artefacts.picture(run, "conv1", "weights", t)) for t in range(4)]
    for t, frame in enumerate(frames):  # every pixel is the documented colour of its weight on ±s
        for f in (0, 1):
            assert np.array_equal(weight_pixels(frame, layout, f), expected_pixels(w[t], s, layout, f))
    grown = [weight_pixels(fr, layout, 0).astype(int) for fr in frames]
    fixed = [weight_pixels(fr, layout, 1) for fr in frames]
    assert all(np.array_equal(fixed[0], x) for x in fixed[1:])  # the constant filter's pixels stay
    moved = (np.abs(grown[-1] - grown[0]) > 32).any(-1).mean()
    assert moved > 0.5, moved  # the growing filter's pixels change
    gif = Image.open(artefacts.ANIMATION.at(run, layer="conv1"))  # the GIF holds the same frames, same palette
    for t in range(4):
        gif.seek(t)
        assert np.array_equal(np.asarray(gif.convert("RGB")), frames[t])
    # change views: the grown filter moved most, W_t - W_0 of the others is exactly zero
    assert views["conv1"]["order"][0] == 0
    assert views["conv1"]["moves"][0] == pytest.approx(FACTOR ** 3 - 1, rel=1e-5)
    assert views["conv1"]["moves"][1:] == [0.0] * 19
    layout0 = FilterLayout(store.index["layers"]["conv1"]["weight"], order=views["conv1"]["order"])
    last = rgb(artefacts.picture(run, "conv1", "from_init", 3))
    assert (weight_pixels(last, layout0, 5) == PALETTE[ZERO]).all()
    assert not (weight_pixels(last, layout0, 0) == PALETTE[ZERO]).all()
    # a per-snapshot range hides it: the constant filter's pixels change with the grown one's range
    write_views(tmp_path / "run", colour_scale="snapshot")
    own = [weight_pixels(rgb(artefacts.picture(run, "conv1", "weights", t)), layout, 1) for t in range(4)]
    assert not np.array_equal(own[0], own[-1])
    per = artefacts.read_views(run)["conv1"]["views"]["weights"]["scale"]
    assert per == pytest.approx([symmetric_range(x, 0.99) for x in w], rel=1e-12) and len(set(per)) > 1
    # the frozen layer: both difference views are zero everywhere, drawn green on a zero range
    views = artefacts.read_views(run)
    layout2 = FilterLayout(store.index["layers"]["conv2"]["weight"], order=views["conv2"]["order"])
    for view in ("from_init", "from_prev"):
        assert views["conv2"]["views"][view]["scale"] == [0.0] * 4
        for t in range(4):
            frame = rgb(artefacts.picture(run, "conv2", view, t))
            body = frame[frame.shape[0] - layout2.size[0]:, :layout2.size[1]]
            assert (body[layout2.source >= 0] == PALETTE[ZERO]).all()
    assert set(VIEWS) == {"weights", "from_init", "from_prev"}


def test_in_process_crash_keeps_every_snapshot_taken_and_draws_them(run_job, tmp_path):
    rec = run_job(["experiment=snapshots", "data.first_n=300", "trainer.max_epochs=3", "logger=csv",
                   "callbacks.weight_snapshots.every_n_steps=1", "+callbacks.fault._target_=faults.PoisonAt",
                   "+callbacks.fault.step=7"])
    assert rec["status"] == "failed"
    store = SnapshotStore(tmp_path / "run")
    assert store.steps[:8] == list(range(8))  # every step up to the poisoned one was written
    assert [e["i"] for e in store.entries] == list(range(len(store)))
    for i in range(len(store)):
        assert set(store.load_all(i)) == {f"{n}.{p}" for n in store.layers for p in ("weight", "bias")}
    assert rec["metrics"]["snapshots/n"] == len(store)
    frames = sorted(artefacts.picture_dir(tmp_path / "run", "conv1", "from_prev").glob("*.png"))
    assert len(frames) == len(store)


def test_killed_run_leaves_a_consistent_index(knowloc_cli, tmp_path):
    from pathlib import Path

    from knowloc.callbacks import WeightSnapshots

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "killed"
    r = knowloc_cli("experiment=snapshots", "data.first_n=300", "trainer.max_epochs=2", "logger=csv",
                    "trainer.enable_progress_bar=false", "callbacks.weight_snapshots.every_n_steps=1",
                    "+callbacks.kill._target_=snapshot_faults.KillAt", "+callbacks.kill.step=6",
                    f"hydra.run.dir={out}", env={"PYTHONPATH": str(root / "tests")})
    assert r.returncode == -9, r.stderr[-2000:]
    store = SnapshotStore(out)
    n = len(store)
    # the snapshots before the last few still queued are there; whatever is in the index is complete
    assert 7 - WeightSnapshots.max_pending <= n <= 7
    assert store.steps == list(range(n)) and [e["i"] for e in store.entries] == list(range(n))
    for i in range(n):
        assert set(store.load_all(i)) == {f"{l}.{p}" for l in store.layers for p in ("weight", "bias")}



def test_change_plot_legend_covers_no_panel():
    import matplotlib.pyplot as plt

    from knowloc.snapshots.changes import MEASURES, plot_changes

    rows = [{"i": t, "epoch": float(t), "step": 10 * t, "layer": layer, **{m: 0.1 * t for m in MEASURES}}
            for t in range(11) for layer in ("conv1", "conv2", "fc1", "fc2")]
    fig = plot_changes(rows)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    assert not any(ax.get_legend() for ax in fig.axes)  # no legend inside a panel
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), ax.get_title()
    assert [t.get_text() for t in legend.get_texts()][:4] == ["conv1", "conv2", "fc1", "fc2"]
    plt.close(fig)


def test_bad_colour_scale_gives_one_line(knowloc_cli):
    r = knowloc_cli("experiment=snapshots", "callbacks.weight_snapshots.colour_scale=global")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == ("knowloc: error: callbacks.weight_snapshots.colour_scale='global' "
                                                 "is not allowed; expected one of run, snapshot")
