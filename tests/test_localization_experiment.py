"""The localization experiment through Lightning + Hydra + W&B (offline): weights equal to the
plain per-sample loop, the tally invariant in the checkpointed callback state, the analysis
numbers recomputed from the written arrays, divergence naming the fork and step, stacked models
equal to single runs, the sweep file, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from knowloc.localization import artefacts
from knowloc.localization.engine import init_stack, reference_sgd

# digits 1/7 vs 6/8 among the first 1,200 images of the embedded set: ~480 samples, ~120 in phase 1
SMALL = ["experiment=localization", "data.pool_size=1200"]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    from knowloc.api import run

    out = tmp_path_factory.mktemp("loc") / "run"
    rec = run(SMALL + ["seed=3", "activation=tanh"], out)
    return out, rec


def test_run_finishes_with_results_figures_and_wandb(small_run):
    out, rec = small_run
    assert rec["status"] == "finished", rec["error"]
    m = rec["metrics"]
    for p in ("fc1.weight", "fc1.bias", "fc2.weight"):
        rho, lo, hi = (m[f"localization/{k}/{p}"] for k in ("pearson", "pearson_low", "pearson_high"))
        assert -1 <= lo <= rho <= hi <= 1
    assert 0.5 < m["test/acc"] <= 1.0 and m["test/acc"] == pytest.approx(m["phase1/test_acc"])
    for art in artefacts.ARTEFACTS:  # every file of one model (a single run has no models table)
        assert art.exists(out) == (art is not artefacts.MODELS), art.path
    assert rec["wandb_dir"] and list((out / "wandb").rglob("*.wandb"))
    assert rec["data"]["forks"].keys() == {"1 vs 6/8", "7 vs 6/8", "6 vs 1/7", "8 vs 1/7"}


def test_weights_equal_the_plain_per_sample_loop(small_run):
    """Phase 1 and one fork, replayed with nn.Module + autograd + torch.optim.SGD, batch size 1."""
    from knowloc.localization.data import LocalizationDataModule

    out, rec = small_run
    state = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    dm = LocalizationDataModule(pool_size=1200)
    dm.setup()
    net = init_stack([3], ["tanh"], dtype=torch.float64).net(0)  # model.dtype=float64 (the default)
    reference_sgd(net, dm.x[dm.phase1_index], dm.y[dm.phase1_index], 0.01)
    names = {"fc1.weight": "W1", "fc1.bias": "b1", "fc2.weight": "W2", "fc2.bias": "b2"}
    for k, p in net.named_parameters():
        assert (state[f"phase1.{names[k]}"][0] - p.detach()).abs().max() < 1e-10, k
    f = 2
    assert (dm.forks[f].name, dm.forks[f].dropped) == ("8 vs 1/7", 6)
    reference_sgd(net, dm.x[dm.fork_index[f]], dm.y[dm.fork_index[f]], 0.01)
    for k, p in net.named_parameters():
        assert (state[f"forks.{names[k]}"][f] - p.detach()).abs().max() < 1e-10, k


def test_tally_invariant_and_analysis_from_checkpoint_and_arrays(small_run):
    out, rec = small_run
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=False)
    state = next(v for k, v in ckpt["callbacks"].items() if k.startswith("UpdateTally"))
    for k, t in state["tally"].items():
        # exact invariant: the groups add up to the total |dtheta| of the window
        assert torch.allclose(t.sum(1), state["total"][k], rtol=1e-5, atol=1e-8), k
    # the window is the second half of phase 1; each step counted in the group of its label
    from knowloc.localization.data import LocalizationDataModule

    dm = LocalizationDataModule(pool_size=1200)
    dm.setup()
    n = dm.n_phase1
    y = dm.y[dm.phase1_index][n // 2:]
    assert state["steps"][0].tolist() == [int((y == 0).sum()), int((y == 1).sum())]
    # the reported correlation is that of the written r and d
    z = artefacts.read_arrays(out)
    r, d = z["fc1.weight/r"].ravel(), z["fc1.weight/d"].ravel()
    ok = np.isfinite(r) & np.isfinite(d)
    assert np.corrcoef(r[ok], d[ok])[0, 1] == pytest.approx(rec["metrics"]["localization/pearson/fc1.weight"], abs=1e-9)
    # r = A / (A + B) of the tallies
    A, B = state["tally"]["fc1.weight"][0, 0].double(), state["tally"]["fc1.weight"][0, 1].double()
    assert np.allclose((A / (A + B)).numpy().ravel()[ok], r[ok], atol=1e-6)


def test_fork_divergence_stops_the_run_naming_fork_and_step(knowloc_cli, tmp_path):
    res = knowloc_cli(*SMALL, "logger=csv", "model.fork_lr=1e300")
    assert res.returncode == 3
    err = [line for line in res.stderr.splitlines() if line.startswith("knowloc: error:")]
    assert len(err) == 1 and "fork '" in err[0] and "diverged at step" in err[0] and "nan" in err[0]
    assert "Traceback" not in res.stderr
    (summary,) = (tmp_path / "outputs").rglob("summary.json")
    rec = json.loads(summary.read_text())
    assert rec["status"] == "failed" and "diverged at step" in rec["error"]
    # what was logged before the divergence is kept: phase 1's losses are in the metrics history
    history = (summary.parent / "metrics" / "metrics.csv").read_text()
    assert "phase1/loss" in history


def test_bad_values_give_one_line(knowloc_cli):
    from knowloc.errors import ConfigValueError
    from knowloc.preflight import preflight

    for bad, key in (("model.activations=[relu,foo]", "model.activations"),
                     ("callbacks.update_tally.window=[0.8,0.2]", "callbacks.update_tally.window"),
                     ("data.superclasses=[[1,7]]", "data.superclasses")):
        with pytest.raises(ConfigValueError, match=key.replace(".", r"\.")):
            preflight(["experiment=localization", bad])
    res = knowloc_cli("experiment=localization", "data.phase1_fraction=1.5")
    assert res.returncode == 2
    assert res.stderr.strip() == ("knowloc: error: data.phase1_fraction=1.5 is not allowed; "
                                  "expected a number in (0, 1)")


def test_stacked_models_equal_single_runs(run_job):
    stack = run_job(SMALL + ["experiment=localization_stack", "stack.activations=[relu,sigmoid]",
                             "stack.seeds=[0,4]", "logger=csv"], name="stack")
    assert stack["status"] == "finished"
    single = run_job(SMALL + ["activation=sigmoid", "seed=4", "logger=csv"], name="single")
    from knowloc.records import find_runs

    runs = {s["choices"]["activation"] + str(s["seed"]): s for _, s in find_runs([stack["config"]["paths"]["output_dir"] + "/runs"])}
    assert set(runs) == {"relu0", "relu4", "sigmoid0", "sigmoid4"}
    key = "localization/pearson/fc1.weight"
    assert runs["sigmoid4"]["metrics"][key] == pytest.approx(single["metrics"][key], abs=1e-4)
    assert runs["sigmoid4"]["metrics"]["phase1/test_acc"] == pytest.approx(single["metrics"]["test/acc"], abs=1e-6)
    # the per-model records are what knowloc compare reads
    from knowloc.compare import compare

    df = compare([stack["config"]["paths"]["output_dir"] + "/runs"], ["activation"], key)
    assert df["activation"].tolist() == ["relu", "sigmoid"] and df["n"].tolist() == [2, 2]
    sig = [runs["sigmoid0"]["metrics"][key], runs["sigmoid4"]["metrics"][key]]
    assert df["mean"].iloc[1] == pytest.approx(np.mean(sig))
    # read back through the family's declarations: the models table, each model's correlations
    # (the numbers of its record) and, without arrays_per_model, its pixel map only
    from pathlib import Path

    out = Path(stack["config"]["paths"]["output_dir"])
    models = artefacts.read_models(out)
    assert sorted(models["activation"] + models["seed"].astype(str)) == sorted(runs)
    assert (models["status"] == "finished").all()
    for folder, s in find_runs([out / "runs"]):
        corr = artefacts.read_correlations(folder).set_index("param")
        assert corr.loc["fc1.weight", "pearson"] == pytest.approx(s["metrics"][key], rel=1e-12)
        assert set(artefacts.read_arrays(folder)) == {"pixel_map"} and not artefacts.PARAMETERS.exists(folder)


def test_stacked_divergence_fails_only_that_model(run_job):
    rec = run_job(SMALL + ["experiment=localization_stack", "stack.activations=[relu]", "stack.seeds=[0,1]",
                           "model.fork_lr=1e300", "logger=csv"], name="stackdiv")
    assert rec["status"] == "finished" and rec["metrics"]["localization/n_failed"] == 2
    from knowloc.records import find_runs

    subs = find_runs([rec["config"]["paths"]["output_dir"] + "/runs"])
    assert len(subs) == 2
    for _, s in subs:
        assert s["status"] == "failed" and "fork '" in s["error"] and "diverged at step" in s["error"]


def test_pixel_that_is_minus_one_everywhere_maps_to_fc1_bias(small_run):
    """A pixel that is -1 in every image moves its weights exactly like the biases (ΔW1[:, j] = -Δb1),
    so its pixel-map value equals Pearson(fc1.bias) of the same run; float64 end to end, to 1e-9."""
    from knowloc.localization.data import LocalizationDataModule

    out, rec = small_run
    assert rec["config"]["model"]["dtype"] == "float64"
    dm = LocalizationDataModule(pool_size=1200)
    dm.setup()
    assert dm.x.dtype == torch.float64
    border = torch.nonzero((dm.x == -1).all(0)).flatten().tolist()
    assert len(border) > 50  # the blank border of MNIST
    pm = artefacts.read_arrays(out)["pixel_map"]
    bias = rec["metrics"]["localization/pearson/fc1.bias"]
    assert math.isfinite(bias)
    assert np.abs(pm[border] - bias).max() < 1e-9


def test_phase1_length_is_floor_of_fraction_and_bias_halves_test(small_run):
    """n_1 = floor(fraction x pool); the write-up's Welch test of r between the halves by d is
    reported for fc1.bias and the pooled biases, recomputed here from the written arrays."""
    from scipy import stats

    from knowloc.localization.data import LocalizationDataModule

    out, rec = small_run
    dm = LocalizationDataModule(pool_size=1200, phase1_fraction=0.3)
    dm.setup()
    assert dm.n_phase1 == math.floor(0.3 * len(dm.y))
    z = artefacts.read_arrays(out)
    m = rec["metrics"]
    pooled = ([], [])
    for p in ("fc1.bias", "fc2.bias"):
        pooled[0].append(z[f"{p}/r"].ravel())
        pooled[1].append(z[f"{p}/d"].ravel())
    for name, r, d in (("fc1.bias", z["fc1.bias/r"], z["fc1.bias/d"]),
                       ("biases", np.concatenate(pooled[0]), np.concatenate(pooled[1]))):
        order = np.argsort(d, kind="stable")
        half = len(d) // 2
        t, p = stats.ttest_ind(r[order[-half:]], r[order[:half]], equal_var=False)
        assert m[f"localization/welch_r_by_d_t/{name}"] == pytest.approx(t, rel=1e-9)
        assert m[f"localization/welch_r_by_d_p/{name}"] == pytest.approx(p, rel=1e-9)
