"""Neuron statistics: running sums against a direct computation, and the NeuronStats callback in a
real Lightning fit (learning rate 0, so every epoch sees the same net and the statistics have a
closed form), through checkpoints, and in the ``neuron_stats`` experiment."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from knowloc.neurons import artefacts
from knowloc.neurons.statistics import UnitClassStats, anomaly_ranking, anomaly_scores


def test_running_sums_equal_direct_statistics():
    g = torch.Generator().manual_seed(0)
    U, C, N, k = 5, 3, 40, 4
    x = torch.rand(N, 1, 4, 4, generator=g)
    y = torch.arange(N) % C
    act = torch.randn(N, U, generator=g)
    grad = torch.randn(N, U, generator=g)
    index = torch.arange(N) * 7  # data-set indices
    s = UnitClassStats(U, C, (1, 4, 4), k)
    for epoch in range(2):  # every sample seen twice, the second time with other values
        a, gr = act * (1 + epoch), grad * (1 - 0.5 * epoch)
        for sl in (slice(0, 13), slice(13, 29), slice(29, N)):
            s.update(a[sl], gr[sl], y[sl], x[sl], index[sl])
    out = s.summary()
    A = torch.cat([act, 2 * act]).double()
    G = torch.cat([grad, 0.5 * grad]).double()
    Y, X = torch.cat([y, y]), torch.cat([x, x]).reshape(2 * N, -1).double()
    for c in range(C):
        m = Y == c
        assert out["counts"][c] == m.sum()
        np.testing.assert_allclose(out["mean_act"][:, c], A[m].mean(0), rtol=1e-12)
        np.testing.assert_allclose(out["mean_grad"][:, c], G[m].mean(0), rtol=1e-12)
        np.testing.assert_allclose(out["mean_abs_grad"][:, c], G[m].abs().mean(0), rtol=1e-12)
        np.testing.assert_allclose(out["fire_rate"][:, c], (A[m] > 0).double().mean(0), rtol=1e-12)
        for u in range(U):
            w = G[m, u]
            np.testing.assert_allclose(out["grad_image"][u, c].reshape(-1), (w[:, None] * X[m]).sum(0) / w.abs().sum(),
                                       rtol=1e-5, atol=1e-6)
            w = A[m, u] * (A[m, u] > 0)
            np.testing.assert_allclose(out["act_image_rectified"][u, c].reshape(-1),
                                       (w[:, None] * X[m]).sum(0) / w.abs().sum(), rtol=1e-5, atol=1e-6)
            # top-k by |gradient|: one entry per image, its largest value over both epochs
            best = {}
            for i, v in zip(torch.cat([index, index])[m].tolist(), w.new_tensor(G[m, u].abs()).tolist()):
                best[i] = max(best.get(i, -1), v)
            want = sorted(best.items(), key=lambda t: -t[1])[:k]
            assert out["topk_grad_index"][u, c].tolist() == [i for i, _ in want]
            np.testing.assert_allclose(out["topk_grad_value"][u, c], [v for _, v in want], rtol=1e-6)
            assert len(set(out["topk_act_index"][u, c].tolist())) == k


def test_anomaly_score_formula():
    mean_grad = np.array([[-1.0, -1.0, -1.0, 0.5], [0.0, 0.0, 0.0, 0.0]])
    mean_act = np.array([[2.0, 0.0, -2.0, 2.0], [1.0, 1.0, 1.0, 1.0]])
    score = anomaly_scores(mean_act, mean_grad)
    # ĝ = g / 1; ā = 0.5 for unit 0 (1 for unit 1); â = (a - ā) / 2.5 (the layer's largest |a - ā|)
    # = [0.6, -0.2, -1, 0.6]; score = |ĝ| (1 + sign(g) â) / 2
    np.testing.assert_allclose(score[0], [0.2, 0.6, 1.0, 0.4])
    assert (score[1] == 0).all()
    rows = anomaly_ranking({"anomaly_score": score, "mean_grad": mean_grad, "mean_act": mean_act,
                            "mean_abs_grad": np.abs(mean_grad), "fire_rate": (mean_act > 0) * 1.0,
                            "topk_grad_index": -np.ones((2, 4, 2), int), "topk_act_index": -np.ones((2, 4, 2), int)}, 2)
    assert [(r["unit"], r["class"]) for r in rows] == [(0, 2), (0, 1)]
    # callbacks.neuron_stats.anomaly_score=unit_max: the score before issue 19, â = a / max_c' |a[u, c']|
    np.testing.assert_allclose(anomaly_scores(mean_act, mean_grad, "unit_max")[0], [0.0, 0.5, 1.0, 0.5])


def test_anomaly_score_treats_positive_and_negative_gradients_alike():
    """Post-ReLU activations (all >= 0): a class asking for a unit up (g < 0) that gets it at its
    lowest scores as high as a class asking for a unit down (g > 0) that gets it at its highest;
    in general score(-g, mirrored a) = score(g, a), mirrored about the unit's class average."""
    mean_act = np.array([[1.0, 0.2], [0.2, 1.0]])  # unit 0 high for class 0, unit 1 low for class 0
    mean_grad = np.array([[0.5, 0.0], [-0.5, 0.0]])  # class 0 asks unit 0 down, unit 1 up
    score = anomaly_scores(mean_act, mean_grad)
    assert score[0, 0] == pytest.approx(score[1, 0]) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    a = np.maximum(rng.normal(size=(30, 10)), 0)  # ReLU outputs
    g = rng.normal(size=(30, 10))
    mirrored = 2 * a.mean(1, keepdims=True) - a
    np.testing.assert_allclose(anomaly_scores(mirrored, -g), anomaly_scores(a, g), atol=1e-15)
    # ranking on ReLU outputs is not one-sided: both gradient signs reach the top 20
    top = np.argsort(-anomaly_scores(a, g), axis=None)[:20]
    assert {np.sign(g.ravel()[top]).min(), np.sign(g.ravel()[top]).max()} == {-1.0, 1.0}


def test_anomaly_score_does_not_inflate_a_near_dead_unit():
    """Unit 1 fires on few samples (tiny class means) with unit 0's gradient; scaled by its own
    maximum it would score the top score 1 like unit 0. Scaled layer-wide it gets ~ the neutral
    |ĝ|/2, and shrinking its activations further never raises its score."""
    mean_grad = np.array([[0.5, 0.0, 0.0], [0.5, 0.0, 0.0]])
    healthy = [3.0, 0.0, 0.0]
    scores = [anomaly_scores(np.array([healthy, [eps, 0.0, 0.0]]), mean_grad)[1, 0] for eps in (1e-1, 1e-2, 1e-3, 0.0)]
    assert anomaly_scores(np.array([healthy, [1e-3, 0.0, 0.0]]), mean_grad)[0, 0] == pytest.approx(1.0)
    assert scores[2] == pytest.approx(0.5, abs=1e-3) and scores[3] == 0.5
    assert all(a >= b for a, b in zip(scores, scores[1:]))  # no inflation as the unit dies
    # the old score, scaled by the unit's own maximum, gives the near-dead unit the top score
    assert anomaly_scores(np.array([healthy, [1e-3, 0.0, 0.0]]), mean_grad, "unit_max")[1, 0] == pytest.approx(1.0)


def test_top_specific_images_are_specific_to_the_unit():
    """One hard example has a large gradient on every unit: it tops every unit's |g| list, but only
    samples whose gradient is concentrated on a unit top that unit's specific list."""
    U, C, k = 4, 1, 2
    grad = torch.full((U + 1, U), 0.01)
    grad[0] = 5.0  # the hard example: large on every unit
    for u in range(U):
        grad[1 + u, u] = 1.0  # sample 1+u: concentrated on unit u
    act = torch.rand(U + 1, U)
    s = UnitClassStats(U, C, None, k)
    s.update(act, grad, torch.zeros(U + 1, dtype=torch.long), None, torch.arange(U + 1) * 10)
    out = s.summary()
    assert all(out["topk_grad_index"][u, 0, 0] == 0 for u in range(U))
    for u in range(U):
        assert out["topk_specific_index"][u, 0, 0] == 10 * (1 + u)
        assert out["topk_specific_value"][u, 0, 0] == pytest.approx(1.0 / ((1.0 + 0.03) / U), rel=1e-6)
    assert 0 not in out["topk_specific_index"][:, 0, 0]


def _fit_frozen(tmp_path, callbacks, epochs=2, ckpt_path=None):
    """A real Lightning fit of an MLP 784-16-10 with learning rate 0 on 300 embedded images."""
    import lightning as L

    from knowloc.data import ImageDataModule
    from knowloc.models import MLP, ClassifierModule

    torch.manual_seed(0)
    dm = ImageDataModule(first_n=300, batch_size=32, seed=0)
    model = ClassifierModule(MLP([784, 16, 10]), partial(torch.optim.SGD, lr=0.0))
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=callbacks, default_root_dir=str(tmp_path), accelerator="cpu", devices=1)
    trainer.fit(model, datamodule=dm, ckpt_path=ckpt_path)
    return trainer, model, dm


def test_callback_statistics_have_their_closed_form(tmp_path):
    from knowloc.callbacks import NeuronStats

    cb = NeuronStats(layers=["act1", "fc1"], topk=3, images=False)
    trainer, model, dm = _fit_frozen(tmp_path, [cb], epochs=2)
    split = dm.train_split
    # direct: each sample's own loss gradient w.r.t. fc1 and act1 outputs (the net never changed)
    net = model.net
    z = net.fc1(net.flatten(split.x))
    z.retain_grad()
    h = torch.relu(z)
    h.retain_grad()
    torch.nn.functional.cross_entropy(net.fc2(h), split.y, reduction="sum").backward()
    for name, a, g in (("act1", h, h.grad), ("fc1", z, z.grad)):
        out = cb.stats[name].summary()
        for c in range(10):
            m = split.y == c
            assert out["counts"][c] == 2 * m.sum()  # two epochs, no validation or sanity batches
            np.testing.assert_allclose(out["mean_act"][:, c], a[m].detach().double().mean(0), rtol=1e-5, atol=1e-7)
            np.testing.assert_allclose(out["mean_grad"][:, c], g[m].double().mean(0), rtol=1e-4, atol=1e-8)
            np.testing.assert_allclose(out["mean_abs_grad"][:, c], g[m].double().abs().mean(0), rtol=1e-4, atol=1e-8)
        # top-k indices are data-set indices of images of that class, and hold their |gradient|
        where = {int(v): p for p, v in enumerate(split.index.tolist())}
        for u in range(16):
            for c in range(10):
                for i, v in zip(out["topk_grad_index"][u, c], out["topk_grad_value"][u, c]):
                    assert split.y[where[int(i)]] == c
                    assert abs(g[where[int(i)], u].abs().item() - v) <= 1e-4 * max(1.0, v)
                top = g[split.y == c, u].abs().max().item()
                assert abs(out["topk_grad_value"][u, c, 0] - top) <= 1e-4 * max(1.0, top)
                # unit-specific top images: largest |g_iu| / mean over the layer's units of |g_iu'|
                spec = g.abs()[:, u] / g.abs().mean(1)
                for i, v in zip(out["topk_specific_index"][u, c], out["topk_specific_value"][u, c]):
                    assert split.y[where[int(i)]] == c and abs(spec[where[int(i)]].item() - v) <= 1e-4 * max(1.0, v)
                top = spec[split.y == c].max().item()
                assert abs(out["topk_specific_value"][u, c, 0] - top) <= 1e-4 * max(1.0, top)
    # fc1 gradient = act1 gradient where the unit fires, 0 elsewhere
    assert torch.equal((z.grad != 0), (h.grad != 0) & (z > 0))
    # written at fit end
    for name in ("act1", "fc1"):
        for art in (artefacts.STATS, artefacts.UNIT_CLASS, artefacts.ANOMALIES, artefacts.HEATMAPS,
                    artefacts.ANOMALY_FIGURE):
            assert art.exists(tmp_path, layer=name), art.name(layer=name)
    assert artefacts.layers(tmp_path) == ["act1", "fc1"]
    z_ = artefacts.read_stats(tmp_path, "act1")
    np.testing.assert_array_equal(z_["mean_act"], cb.stats["act1"].summary()["mean_act"])
    table = artefacts.read_table(artefacts.ANOMALIES, tmp_path, "act1")
    assert (table["top_images"] == table["top_specific_images"]).all()


def test_callback_state_survives_a_checkpoint(tmp_path):
    from knowloc.callbacks import NeuronStats

    full = NeuronStats(layers=["act1"], topk=3, images=False)
    _fit_frozen(tmp_path / "full", [full], epochs=2)
    first = NeuronStats(layers=["act1"], topk=3, images=False)
    trainer, _, _ = _fit_frozen(tmp_path / "first", [first], epochs=1)
    ckpt = tmp_path / "one.ckpt"
    trainer.save_checkpoint(ckpt)
    resumed = NeuronStats(layers=["act1"], topk=3, images=False)
    _fit_frozen(tmp_path / "resumed", [resumed], epochs=2, ckpt_path=str(ckpt))
    a, b = full.stats["act1"].summary(), resumed.stats["act1"].summary()
    assert int(b["steps"]) == int(a["steps"]) == 2 * int(first.stats["act1"].summary()["steps"])
    for key in ("counts", "mean_act", "mean_grad", "mean_abs_grad", "topk_grad_index", "topk_act_index"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, atol=1e-9, err_msg=key)


def test_neuron_stats_experiment(run_job):
    from knowloc.data import load_source

    rec = run_job(["experiment=neuron_stats", "logger=csv", "data.first_n=600", "trainer.max_epochs=1",
                   "trainer.enable_progress_bar=false", "callbacks.neuron_stats.layers=[act2]"])
    assert rec["status"] == "finished"
    m = rec["metrics"]
    assert m["neurons/act2/steps"] == 7  # ceil(432 training samples / 64)
    labels = load_source("mnist_embedded").labels
    from pathlib import Path

    run = Path(rec["config"]["paths"]["output_dir"])
    z = artefacts.read_stats(run, "act2")
    # conv layer: one unit per channel
    assert z["mean_act"].shape == (16, 10) and z["topk_act_index"].shape == (16, 10, 8)
    assert z["grad_image"].shape == z["act_image_rectified"].shape == (16, 10, 1, 28, 28)
    for key in ("topk_act_index", "topk_grad_index"):  # data-set indices of images of the class
        idx = z[key]
        cls = np.broadcast_to(np.arange(10)[None, :, None], idx.shape)
        assert (idx >= 0).mean() > 0.9 and (labels.numpy()[idx[idx >= 0]] == cls[idx >= 0]).all()
    for art in artefacts.STATS_FILES:  # every file, images included
        assert art.exists(run, layer="act2"), art.name(layer="act2")
    assert not any(art.matches(run) for art in artefacts.ABLATION_FILES)
    folder = artefacts.STATS.at(run, layer="act2").parent  # nothing undeclared beside them
    assert sorted(p for p in folder.rglob("*") if p.is_file()) == artefacts.files(run)


def test_bad_neuron_stats_config_is_one_line(knowloc_cli, run_job):
    from knowloc.errors import ConfigValueError

    r = knowloc_cli("experiment=neuron_stats", "logger=none", "callbacks.neuron_stats.topk=0")
    assert r.returncode == 2
    err = [ln for ln in r.stderr.strip().splitlines() if ln.startswith("knowloc: error:")]
    assert len(err) == 1 and "callbacks.neuron_stats.topk=0" in err[0] and "Traceback" not in r.stderr
    with pytest.raises(ConfigValueError, match=r"callbacks.neuron_stats.layers='fc9'.*act3"):
        run_job(["experiment=neuron_stats", "logger=none", "data.first_n=200", "callbacks.neuron_stats.layers=[fc9]"])


def test_callbacks_neurons_composes_both_callbacks_once():
    from knowloc.api import compose

    default = list(compose(["callbacks=default"]).callbacks)
    cfg = compose(["experiment=ablation", "callbacks=neurons"])
    assert list(cfg.callbacks) == default + ["neuron_stats", "ablation"]
