"""knowloc locate: every method on one layer, their agreement and causal curves.

The planted detector is the hand net of the ablation tests (``test_neurons_ablation.hand_net``):
unit 0 = relu(x_0) alone carries class 0, so zeroing it sends every class-0 sample elsewhere and
changes nothing else. Every method except ``random`` ranks it first for class 0: the tally and the
fork difference because the class-0 samples are the only ones with a large error signal through
unit 0 (for the others it is silent up to the input noise); the gradient statistic for the same
reason; the activation statistic because it fires at ~1 on class 0 and ~0 otherwise; the
attribution because its conductance to logit 0 is 2 x_0 against 0.7 for the always-on unit 5.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from test_neurons_ablation import hand_data, hand_net

from knowloc.locate.options import METHODS, PREDICTORS, LocateOptions

SMALL = ["experiment=locate", "trainer.max_epochs=1", "data.first_n=600", "threads=1",
         "callbacks.locate.max_k=6", "callbacks.locate.attribution_samples=8", "callbacks.locate.attribution_steps=4",
         "callbacks.locate.overlap_ks=[2,5]"]


@pytest.fixture(scope="module")
def planted():
    from knowloc.locate.pipeline import locate

    x, y = hand_data()
    xt, yt = hand_data(seed=1)
    return locate(hand_net(), (x, y), (xt, yt), 3,
                  LocateOptions(layer="act1", max_k=6, overlap_ks=[1, 2, 3], attribution_samples=40, fork_lr=0.1))


@pytest.mark.parametrize("method", [m for m in METHODS if m != "random"])
def test_planted_detector_is_ranked_first(planted, method):
    from knowloc.locate.signals import ranking

    assert ranking(planted.scores[method])[0][0] == 0, planted.scores[method][:, 0]


def test_planted_detector_knockout_and_summary(planted):
    # every predictor's top unit alone removes class 0 and spares the others: knockout at k = 1
    for m in PREDICTORS + ("ablation",):
        row = next(r for r in planted.causal if r["method"] == m and r["class"] == 0)
        assert row["knockout_k"] == 1 and row["drop_target_k1"] == 1.0
    assert planted.summary["best_method"] in PREDICTORS
    # the report of which methods find the detector: top1_hit = 1 for all but random (class 0 of 3 classes;
    # classes 1 and 2 have no single decisive unit, so every unit ties at the maximum drop 0 there)
    assert all(planted.summary["methods"][m]["top1_hit"] == 1.0 for m in PREDICTORS + ("ablation",))
    assert set(planted.summary["methods"]) == set(METHODS)


def test_a_method_agrees_with_itself(planted):
    for r in planted.agreement:
        if r["method_a"] == r["method_b"]:
            assert all(r[f"overlap@{k}"] == 1.0 for k in (1, 2, 3))
            assert r["spearman"] == pytest.approx(1.0) or math.isnan(r["spearman"])
    # random varies, so its self-agreement is a number: exactly 1
    assert all(r["spearman"] == pytest.approx(1.0) for r in planted.agreement
               if r["method_a"] == r["method_b"] == "random")


def test_agreement_functions():
    from knowloc.locate.agreement import overlap, spearman

    a = np.array([0.1, 0.5, 0.3, 0.9])
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, 2 * a + 1) == pytest.approx(1.0)
    assert overlap(np.array([3, 1, 2, 0]), np.array([1, 3, 0, 2]), 2) == 1.0
    assert overlap(np.array([3, 1, 2, 0]), np.array([0, 2, 1, 3]), 2) == 0.0


def test_k1_of_the_ablation_ranking_is_the_matrix_maximum(planted):
    for c in planted.classes:
        k1 = next(r for r in planted.curves if r["method"] == "ablation" and r["class"] == c and r["k"] == 1)
        assert k1["drop_target"] == planted.scores["ablation"][:, c].max()


def test_rank1_curves_equal_the_batched_evaluator():
    """The rank-1 path of the causal curves gives the evaluator's accuracies, for every ablation."""
    from knowloc.locate.causal import topk_accuracy
    from knowloc.models import MLP
    from knowloc.neurons.ablation import AblationEvaluator

    torch.manual_seed(0)
    net = MLP((20, 30, 5)).eval()
    x = torch.randn(400, 20)
    y = net(x).argmax(1)
    y[::5] = 2
    orders = [np.random.default_rng(i).permutation(30)[:8] for i in range(4)]
    masks = torch.zeros(32, 30, dtype=torch.bool)
    for i, o in enumerate(orders):
        for k in range(8):
            masks[i * 8 + k, o[: k + 1]] = True
    for method in ("zero", "mean", "resample"):
        ev = AblationEvaluator(net, "act1", x, y, 5, method, x[:100], seed=3)
        assert torch.equal(topk_accuracy(ev, orders, masks), ev.class_accuracy(masks).double())


def _tiny_net():
    """1 input -> 1 hidden (relu) -> 2 classes: z = x, h = relu(z), logits = (h, -h)."""
    net = nn.Sequential()
    net.add_module("fc1", nn.Linear(1, 1))
    net.add_module("act1", nn.ReLU())
    net.add_module("fc2", nn.Linear(1, 2))
    with torch.no_grad():
        net.fc1.weight.fill_(1.0)
        net.fc1.bias.zero_()
        net.fc2.weight.copy_(torch.tensor([[1.0], [-1.0]]))
        net.fc2.bias.zero_()
    return net


def test_tally_of_one_step_by_hand():
    """x = 2, class 0, lr = 0.1: logits (2, -2), p0 = 1 / (1 + e^-4); dl/dh = (p0 - 1) - p1 = 2 (p0 - 1);
    dW1 = 2 (p0 - 1) x, db1 = 2 (p0 - 1); |Delta W1| + |Delta b1| = 0.1 * 2 (1 - p0) * (2 + 1)."""
    from knowloc.locate.forks import continue_forks

    res = continue_forks(_tiny_net(), "act1", torch.tensor([[2.0]]), torch.tensor([0]), 2, lr=0.1, batch_size=1,
                         scope="all")
    p0 = 1 / (1 + math.exp(-4))
    assert res.tally[0, 0].item() == pytest.approx(0.1 * 2 * (1 - p0) * 3, rel=1e-6)
    assert res.tally[1, 0].item() == 0.0


def test_tally_equals_the_per_sample_sgd_loop():
    """Batch size 1: the tally is the |Delta theta| of fc1's rows (weights + bias) per class, as the
    plain per-sample loop of the localization family measures it."""
    from knowloc.localization.engine import reference_sgd
    from knowloc.locate.forks import continue_forks
    from knowloc.models import MLP

    torch.manual_seed(1)
    net = MLP((6, 5, 3)).double()
    x, y = torch.randn(40, 6, dtype=torch.float64), torch.randint(0, 3, (40,))
    res = continue_forks(net, "act1", x, y, 3, lr=0.05, batch_size=1, seed=7, scope="all")
    order = torch.randperm(40, generator=torch.Generator().manual_seed(7))
    ref = MLP((6, 5, 3)).double()
    ref.load_state_dict(net.state_dict())
    _, tally = reference_sgd(ref, x[order], y[order], 0.05, tally_group=y[order].tolist(), n_groups=3)
    want = tally["fc1.weight"].sum(2) + tally["fc1.bias"]  # (class, unit)
    assert torch.allclose(res.tally, want, rtol=1e-9, atol=1e-12)


def test_fork_without_an_absent_class_stays_with_the_full_copy():
    from knowloc.locate.forks import continue_forks

    x, y = hand_data()
    keep = y != 2
    res = continue_forks(hand_net(), "act1", x[keep], y[keep], 3, lr=0.1, batch_size=16)
    assert res.distance[2].abs().max().item() < 1e-6
    assert res.distance[0].max().item() > 1e-3


def test_locate_experiment_writes_every_artefact(run_job, tmp_path):
    from wandb_records import summarize

    from knowloc.locate import artefacts

    rec = run_job(SMALL, "mlp")
    assert rec["status"] == "finished", rec["error"]
    folder = tmp_path / "mlp"
    assert artefacts.present(folder)
    from knowloc.locate import artefacts as la

    assert {la.SCORES.path, la.OVERVIEW.path, la.IMAGES.path} <= set(rec["artefacts"])
    data = artefacts.read(folder)
    s = data["summary"]
    assert s["layer"] == "act1" and s["classes"] == list(range(10))
    assert set(data["scores"].columns) >= {"layer", "class", "unit", *METHODS}
    assert len(data["scores"]) == 100 * 10
    # k = 1 of the ablation ranking is the ablation matrix's maximum, every class
    drop = artefacts.score_matrix(data["scores"], "ablation")
    k1 = data["curves"].query("method == 'ablation' and k == 1").set_index("class")["drop_target"]
    for c in range(10):
        assert k1[c] == pytest.approx(np.nanmax(drop[:, c]), abs=1e-12)
    # selectivity and area as defined
    cur = data["curves"]
    assert np.allclose(cur["selectivity"], cur["drop_target"] - cur["drop_others"])
    area = cur.groupby(["method", "class"])["selectivity"].mean()
    for _, r in data["causal"].iterrows():
        assert r["area"] == pytest.approx(area[(r["method"], r["class"])])
    # self-agreement (mean rows) is 1
    mean = data["agreement"].query("`class` == -1 and method_a == method_b")
    assert (mean["overlap@2"] == 1).all() and (mean["overlap@5"] == 1).all()
    m = rec["metrics"]
    for method in METHODS:
        assert f"locate/area/{method}" in m
    assert m["locate/best_method"] in PREDICTORS
    assert (folder / "locate" / "agreement.png").is_file() and (folder / "locate" / "curves.png").is_file()
    wandb_run = next((folder / "wandb").glob("offline-run-*"))
    w = summarize(wandb_run)
    assert w["summary"]["locate/best_method"] == m["locate/best_method"]
    assert w["summary"]["locate/area/fork"] == pytest.approx(m["locate/area/fork"])
    media = wandb_run / "files" / "media"
    for name in ("scores", "agreement", "curves", "causal"):
        assert list((media / "table" / "locate").glob(f"{name}_*.table.json")), name
    for name in ("agreement", "curves"):
        assert list((media / "images" / "locate").glob(f"{name}_*.png")), name


def test_locate_command_on_a_lenet5_checkpoint(knowloc_cli, tmp_path):
    from knowloc.explore.report import build
    from knowloc.explore.target import open_target
    from knowloc.locate import artefacts

    out = knowloc_cli("model=lenet5", "logger=csv", "trainer.max_epochs=1", "data.first_n=500", "threads=1",
                      "trainer.enable_progress_bar=false", "hydra.run.dir=lenet")
    assert out.returncode == 0, out.stderr
    run = tmp_path / "lenet"
    bad = knowloc_cli("locate", str(run), "max_k=0")
    assert bad.returncode == 2 and bad.stderr.strip() == "knowloc: error: max_k=0 is not allowed; expected an integer >= 1"
    bad = knowloc_cli("locate", str(tmp_path / "nothing"))
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    ok = knowloc_cli("locate", str(run / "checkpoints" / "last.ckpt"), "threads=1", "max_k=5", "target_class=3",
                     "attribution_samples=5", "attribution_steps=4")
    assert ok.returncode == 0, ok.stderr
    data = artefacts.read(run)
    assert data["summary"]["layer"] == "act3" and data["summary"]["classes"] == [3]
    assert data["act_image"].shape == (120, 10, 1, 28, 28)
    from knowloc.records import read_summary

    assert "locate/area/tally" in read_summary(run)["metrics"]
    page = build(open_target(run))
    sec = next(s for s in page["sections"] if s["type"] == "locate")
    assert sec["classes"] == [3] and len(sec["scores"]["fork"]) == 120
    assert sec["curves"]["ablation"]["3"]["k"] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize("arg,key", [("callbacks.locate.max_k=0", "callbacks.locate.max_k"),
                                     ("callbacks.locate.methods=[tally,magic]", "callbacks.locate.methods"),
                                     ("callbacks.locate.attribution=shap", "callbacks.locate.attribution")])
def test_bad_locate_config_is_one_line(knowloc_cli, arg, key):
    out = knowloc_cli("experiment=locate", arg)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"knowloc: error: {key}=")


def test_locate_page_in_a_browser(tmp_path_factory):
    """Pick a class and a method: the top units are that method's ranking, with their images and
    the causal curves of every method (headless Chromium, as the other explorer pages)."""
    import shutil

    from test_explore_browser import CHROMIUM, LAUNCH_ARGS, Served

    from knowloc.api import run
    from knowloc.locate import artefacts
    from knowloc.locate.signals import ranking

    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    folder = tmp_path_factory.mktemp("locate_page") / "run"
    rec = run([*SMALL, "model=lenet5", "logger=csv", "trainer.enable_progress_bar=false"], folder)
    assert rec["status"] == "finished", rec["error"]
    scores = artefacts.read(folder)["scores"]
    want = ranking(artefacts.score_matrix(scores, "activation"))[3][:20].tolist()
    served = Served(folder, tmp_path_factory.mktemp("locate_cwd"))
    try:
        with sync_playwright() as p:
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
            pg = b.new_page()
            errors = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.set_default_timeout(60000)
            pg.goto(served.url + "#locate", timeout=120000)
            pg.select_option("#locate-class", "3")
            pg.select_option("#locate-method", "activation")
            units = [int(u) for u in pg.locator("#locate-top tbody tr").evaluate_all(
                "rows => rows.map(r => r.dataset.unit)")]
            assert units == want
            assert pg.locator("#locate-images canvas").count() == 12
            pg.wait_for_function("() => [...document.querySelectorAll('#locate-images canvas')].every(c => c.dataset.drawn)")
            legend = pg.locator("#locate-curve .legend").first.locator("span").all_inner_texts()
            assert legend == list(METHODS)
            assert "#locate?class=3&method=activation" in pg.url
            b.close()
            assert not errors, errors
    finally:
        served.stop()


SWEEPS = __import__("pathlib").Path(__file__).resolve().parents[1] / "sweeps"


def test_locate_sweep_file_composes():
    from knowloc.preflight import preflight

    preflight(["-m", "--config-dir", str(SWEEPS), "--config-name", "locate_activations"])


@pytest.mark.slow
def test_locate_sweep_runs_and_compares(knowloc_cli, tmp_path):
    import json

    res = knowloc_cli("-m", "--config-dir", str(SWEEPS), "--config-name", "locate_activations", "model=mlp",
                      "activation=relu,tanh", "seed=0,1", "logger=csv", *SMALL[1:])
    assert res.returncode == 0, res.stderr[-2000:]
    runs = sorted((tmp_path / "outputs" / "multiruns").rglob("summary.json"))
    recs = [json.loads(p.read_text()) for p in runs]
    assert len(recs) == 4 and all(r["status"] == "finished" for r in recs)
    out = knowloc_cli("compare", str(runs[0].parents[1]), "--by", "activation", "--metric", "locate/area/fork")
    assert out.returncode == 0 and "relu" in out.stdout and "tanh" in out.stdout


def test_unknown_locate_layer_names_the_layers(knowloc_cli):
    out = knowloc_cli("experiment=locate", "callbacks.locate.layer=conv9", "logger=csv")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.startswith("knowloc")]  # (Lightning may warn about srun)
    assert len(lines) == 1 and lines[0].startswith("knowloc: error: callbacks.locate.layer='conv9' is not allowed")
    assert "act1" in lines[0]
