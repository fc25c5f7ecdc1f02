"""r-vs-d statistics against scipy, fork distances for any number of sub-classes, a run with three
super-classes, and the Hydra sweep file of the activation comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats

from knowloc.localization.analysis import fork_distance, pearson_ci, pixel_map, share, spearman_ci, welch
from knowloc.localization.data import make_forks


def test_pearson_interval_is_fisher_z_as_scipy():
    rng = np.random.default_rng(0)
    a = rng.normal(size=300)
    b = 0.3 * a + rng.normal(size=300)
    rho, lo, hi, n = pearson_ci(a, b)
    ref = stats.pearsonr(a, b)
    ci = ref.confidence_interval(0.95)
    assert n == 300 and rho == pytest.approx(ref.statistic, abs=1e-12)
    assert (lo, hi) == pytest.approx((ci.low, ci.high), abs=1e-9)
    s, slo, shi, _ = spearman_ci(a, b)
    assert s == pytest.approx(stats.spearmanr(a, b).statistic, abs=1e-12) and slo < s < shi
    # NaN entries (e.g. parameters never updated) are dropped
    a2, b2 = a.copy(), b.copy()
    a2[:10] = np.nan
    assert pearson_ci(a2, b2)[3] == 290


def test_welch_and_pixel_map():
    r = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.3])
    d = np.array([0.6, 0.7, 0.8, 0.1, 0.2, 0.3])
    t, p, hi, lo = welch(r, d)
    ref = stats.ttest_ind(d[r > 0.5], d[r < 0.5], equal_var=False)
    assert (t, p) == pytest.approx((ref.statistic, ref.pvalue)) and hi == pytest.approx(0.7)
    rng = np.random.default_rng(1)
    R, D = rng.random((100, 6)), rng.random((100, 6))
    D[:, 0] = R[:, 0]
    R[:5, 2] = np.nan
    m = pixel_map(R, D)
    assert m[0] == pytest.approx(1.0)
    ok = np.isfinite(R[:, 2])
    assert m[2] == pytest.approx(np.corrcoef(R[ok, 2], D[ok, 2])[0, 1])


def test_forks_and_distances_for_any_number_of_subclasses():
    forks = make_forks([[1, 7, 4], [6, 8], [0]])
    assert [f.name for f in forks] == ["7/4 vs 6/8 vs 0", "1/4 vs 6/8 vs 0", "1/7 vs 6/8 vs 0",
                                       "8 vs 1/7/4 vs 0", "6 vs 1/7/4 vs 0"]
    theta = torch.tensor([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0], [1.0, 1.0], [1.0, 3.0]])
    D = fork_distance(theta, [f.group for f in forks], 3)
    # group 0: mean over the 3 pairs of its forks; group 1: its one pair; group 2: no fork
    assert D[0].tolist() == pytest.approx([(2 + 4 + 2) / 3, (0 + 3 + 3) / 3])
    assert D[1].tolist() == [0.0, 2.0]
    assert torch.isnan(D[2]).all()
    assert share(torch.tensor([[1.0, 0.0], [3.0, 0.0]]))[0, 0] == pytest.approx(0.25)
    assert torch.isnan(share(torch.tensor([[1.0, 0.0], [3.0, 0.0]]))[0, 1])


def test_three_superclasses_run(run_job):
    rec = run_job(["experiment=localization", "data.pool_size=1500", "data.superclasses=[[1,7],[6,8],[0,3]]",
                   "logger=csv", "callbacks.localization_report.figures=false"])
    assert rec["status"] == "finished", rec["error"]
    assert len(rec["data"]["forks"]) == 6
    m = rec["metrics"]
    assert -1 <= m["localization/pearson/fc1.weight"] <= 1
    assert m["localization/tally_steps/group2"] > 0


SWEEPS = __import__("pathlib").Path(__file__).resolve().parents[1] / "sweeps"


def test_activation_sweep_file_composes_the_grid():
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(SWEEPS), version_base="1.3"):
        cfg = compose("localization_activations", return_hydra_config=True)
    GlobalHydra.instance().clear()
    params = cfg.hydra.sweeper.params
    assert params.activation.split(",") == ["relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid"]
    assert params.seed == "range(10)"
    assert cfg.task_name == "localization" and cfg.model._target_.endswith("LocalizationModule")
    assert cfg.data.superclasses == [[1, 7], [6, 8]]


@pytest.mark.slow
def test_activation_sweep_file_runs_and_compares(knowloc_cli, tmp_path):
    sweeps = SWEEPS
    res = knowloc_cli("-m", "--config-dir", str(sweeps), "--config-name", "localization_activations",
                      "activation=relu,sigmoid", "seed=0", "data.pool_size=800", "logger=csv")
    assert res.returncode == 0, res.stderr[-2000:]
    runs = sorted((tmp_path / "outputs" / "multiruns").rglob("summary.json"))
    recs = [json.loads(p.read_text()) for p in runs]
    assert sorted(r["choices"]["activation"] for r in recs) == ["relu", "sigmoid"]
    assert all(r["choices"]["experiment"] == "localization" and r["status"] == "finished" for r in recs)
    out = knowloc_cli("compare", str(runs[0].parents[1]), "--by", "activation",
                      "--metric", "localization/pearson/fc1.weight")
    assert out.returncode == 0 and "relu" in out.stdout and "sigmoid" in out.stdout


def test_full_mnist_layout_uses_pool_size_and_the_official_test_split(run_job, tmp_path):
    """data.name=mnist reads torchvision's files (synthetic ones here): the pool is the first
    pool_size training images, test/acc and each fork's accuracy come from the official test split."""
    from synthetic import write_mnist

    write_mnist(tmp_path / "mnist", n_train=1000, n_test=300)
    rec = run_job(["experiment=localization", "data.name=mnist", f"data.root={tmp_path / 'mnist'}",
                   "data.pool_size=800", "logger=csv", "callbacks.localization_report.figures=false"])
    assert rec["status"] == "finished", rec["error"]
    d = rec["data"]
    assert d["test"] == "official" and d["pool_size"] == 800 and d["n_pool"] == sum(d["pool_counts"].values())
    assert 300 * 0.3 < d["n_test"] < 300 * 0.5  # digits 1, 6, 7, 8 of the test split
    m = rec["metrics"]
    for key in ("drop1", "drop7", "drop6", "drop8"):
        assert 0 <= m[f"test/acc/fork/{key}"] <= 1
    assert m["test/acc"] > 0.6
