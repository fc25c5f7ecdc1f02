"""knowloc compare: groups, means and t intervals from local records, CSV and PNG, no W&B."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from knowloc.compare import compare, compare_paired, grid, main
from knowloc.errors import UserError
from knowloc.records import write_json


def fake_run(folder, activation, seed, acc, status="finished", metric="test/acc", **config):
    """A hand-made record; ``config`` adds keys (``trainer={"max_epochs": 5}``)."""
    folder.mkdir(parents=True)
    write_json(folder / "summary.json", {
        "status": status, "metrics": {metric: acc}, "seed": seed,
        "choices": {"activation": activation}, "config": {"activation": {"name": activation}, "seed": seed,
                                                          "data": {"name": "mnist_embedded", "seed": seed},
                                                          "paths": {"output_dir": str(folder)}, **config}})


@pytest.fixture
def sweep(tmp_path):
    vals = {"relu": [0.90, 0.92, 0.94], "sigmoid": [0.80, 0.85]}
    i = 0
    for act, accs in vals.items():
        for seed, acc in enumerate(accs):
            fake_run(tmp_path / "sw" / str(i), act, seed, acc)
            i += 1
    fake_run(tmp_path / "sw" / "99", "sigmoid", 7, float("nan"), status="failed")
    fake_run(tmp_path / "sw" / "98", "tanh", 0, 0.7)
    return tmp_path / "sw"


def test_mean_and_t_interval(sweep):
    df = compare([sweep], ["activation"], "test/acc", interval="t").set_index("activation")
    relu = df.loc["relu"]
    assert relu["n"] == 3 and relu["mean"] == pytest.approx(0.92)
    half = 4.302652729911275 * 0.02 / math.sqrt(3)  # t_{0.975, 2} * s / sqrt(n)
    assert relu["ci_low"] == pytest.approx(0.92 - half) and relu["ci_high"] == pytest.approx(0.92 + half)
    sig = df.loc["sigmoid"]
    assert sig["n"] == 2 and sig["n_skipped"] == 1  # the failed run is counted, not averaged
    half = 12.706204736174707 * (0.05 / math.sqrt(2)) / math.sqrt(2)
    assert sig["ci_high"] - sig["mean"] == pytest.approx(half)
    tanh = df.loc["tanh"]
    assert tanh["n"] == 1 and math.isnan(tanh["ci_low"])  # one seed: no interval, shown as such


def test_group_by_dotted_key_and_two_keys(sweep):
    df = compare([sweep], ["data.name", "activation"], "test/acc")
    assert set(df["data.name"]) == {"mnist_embedded"} and len(df) == 3


def test_cli_prints_table_and_writes_csv_and_png(sweep, capsys):
    main([str(sweep), "--by", "activation", "--metric", "test/acc"])
    out = capsys.readouterr().out
    assert "relu" in out and "0.9200" in out and "ci_low" in out
    rows = list(csv.DictReader(open(sweep / "compare_activation_test_acc.csv")))
    assert [r["activation"] for r in rows] == ["relu", "sigmoid", "tanh"]
    png = (sweep / "compare_activation_test_acc.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_errors_are_one_line(sweep, tmp_path, capsys):
    for argv in ([str(tmp_path / "nope")], [str(sweep), "--metric", "val/nothing"], [str(tmp_path / "empty")]):
        (tmp_path / "empty").mkdir(exist_ok=True)
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("knowloc: error:")


def one_error_line(capsys, argv) -> str:
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("knowloc: error:"), err
    return err[0]


def test_mixed_configurations_are_refused_with_the_differing_keys_named(tmp_path, capsys):
    for i, (act, epochs) in enumerate([("relu", 5), ("relu", 10), ("relu", 5), ("tanh", 5), ("tanh", 5)]):
        fake_run(tmp_path / "sw" / str(i), act, i, 0.9 - 0.01 * i, trainer={"max_epochs": epochs})
    line = one_error_line(capsys, [str(tmp_path / "sw"), "--by", "activation"])
    assert "activation=relu: trainer.max_epochs (10, 5)" in line and "--allow-mixed" in line
    assert "tanh" not in line  # only the mixed group is named
    assert not list((tmp_path / "sw").glob("compare_*"))  # refused: nothing written
    with pytest.raises(UserError):
        compare([tmp_path / "sw"], ["activation"], "test/acc")
    df = compare([tmp_path / "sw"], ["activation"], "test/acc", allow_mixed=True).set_index("activation")
    assert df.loc["relu", "mixed"] == "trainer.max_epochs (10, 5)" and df.loc["tanh", "mixed"] == ""
    df = compare([tmp_path / "sw"], ["activation", "trainer.max_epochs"], "test/acc")  # or add it to --by
    assert sorted(df["n"]) == [1, 2, 2]


def test_a_by_key_no_run_has_is_an_error_listing_the_varying_keys(sweep, capsys):
    line = one_error_line(capsys, [str(sweep), "--by", "activaton"])
    assert line.startswith("knowloc: error: --by='activaton' is not allowed; expected a key the runs have")
    assert line.split("keys that vary across these runs: ")[1].split(", ")[0] == "activation"
    assert not list(sweep.glob("compare_*"))


def test_a_damaged_record_is_counted_and_named(sweep, capsys):
    (sweep / "bad").mkdir()
    (sweep / "bad" / "summary.json").write_text('{"status": "fini')
    main([str(sweep), "--by", "activation"])
    cap = capsys.readouterr()
    assert f"damaged record skipped: {sweep / 'bad' / 'summary.json'} (JSONDecodeError" in cap.err
    assert "1 damaged record(s) skipped" in cap.out
    assert compare([sweep], ["activation"], "test/acc").attrs["damaged"][0][0] == str(sweep / "bad" / "summary.json")


def test_accuracy_interval_near_one_stays_in_range(tmp_path):
    from scipy import stats

    accs = [0.995, 1.0, 0.985]
    for seed, acc in enumerate(accs):
        fake_run(tmp_path / "sw" / str(seed), "relu", seed, acc)
    t_only = compare([tmp_path / "sw"], ["activation"], "test/acc", interval="t").iloc[0]
    assert t_only["ci_high"] > 1  # the plain t interval leaves the range here
    row = compare([tmp_path / "sw"], ["activation"], "test/acc").iloc[0]
    assert row["interval"] == "logit t 95%" and 0 <= row["ci_low"] < row["mean"] < row["ci_high"] <= 1
    z = [math.log(p / (1 - p)) for p in (min(max(a, 1e-3), 1 - 1e-3) for a in accs)]
    lo, hi = stats.t.interval(0.95, len(z) - 1, loc=sum(z) / len(z), scale=stats.sem(z))
    assert row["ci_low"] == pytest.approx(1 / (1 + math.exp(-lo))) and row["ci_high"] == pytest.approx(1 / (1 + math.exp(-hi)))
    assert row["mean"] == pytest.approx(sum(accs) / 3)


def test_correlation_interval_uses_fisher_z_and_stays_below_one(tmp_path):
    from scipy import stats

    rs = [0.97, 0.999, 0.93]
    for seed, r in enumerate(rs):
        fake_run(tmp_path / "sw" / str(seed), "relu", seed, r, metric="localization/pearson/fc1.weight")
    row = compare([tmp_path / "sw"], ["activation"], "localization/pearson/fc1.weight").iloc[0]
    z = [math.atanh(r) for r in rs]
    lo, hi = stats.t.interval(0.95, 2, loc=sum(z) / 3, scale=stats.sem(z))
    assert row["interval"] == "Fisher-z t 95%" and row["ci_high"] == pytest.approx(math.tanh(hi)) and row["ci_high"] < 1
    assert row["ci_low"] == pytest.approx(math.tanh(lo))


def test_one_run_says_there_is_no_interval_and_why(sweep, capsys):
    row = compare([sweep], ["activation"], "test/acc").set_index("activation").loc["tanh"]
    assert math.isnan(row["ci_low"]) and row["note"].startswith("n=1: no interval")
    main([str(sweep)])
    assert "n=1: no interval" in capsys.readouterr().out
    assert "n=1: no interval" in (sweep / "compare_activation_test_acc.csv").read_text()


@pytest.fixture
def paired_sweep(tmp_path):
    """Three activations x five seeds; relu is the baseline; tanh lacks seed 4 (one unpaired run)."""
    acc = {"relu": [0.90, 0.92, 0.88, 0.91, 0.93], "gelu": [0.91, 0.94, 0.89, 0.93, 0.95],
           "tanh": [0.85, 0.90, 0.86, 0.86]}
    i = 0
    for act, vals in acc.items():
        for seed, v in enumerate(vals):
            fake_run(tmp_path / "sw" / str(i), act, seed, v)
            i += 1
    return tmp_path / "sw", acc


def test_paired_comparison_matches_scipy(paired_sweep, capsys):
    from scipy import stats

    sw, acc = paired_sweep
    df = compare_paired([sw], ["activation"], "test/acc", baseline="relu").set_index("activation")
    assert list(df.index) == ["gelu", "tanh"]
    ps = {}
    for act in ("gelu", "tanh"):
        n = len(acc[act])
        x, base = acc[act], acc["relu"][:n]
        d = [a - b for a, b in zip(x, base)]
        res = stats.ttest_rel(x, base)
        lo, hi = stats.t.interval(0.95, n - 1, loc=sum(d) / n, scale=stats.sem(d))
        row = df.loc[act]
        assert row["n_pairs"] == n and row["mean_diff"] == pytest.approx(sum(d) / n)
        assert row["ci_low"] == pytest.approx(lo) and row["ci_high"] == pytest.approx(hi)
        assert row["p"] == pytest.approx(res.pvalue) and row["t"] == pytest.approx(res.statistic)
        ps[act] = res.pvalue
    assert df.loc["tanh", "n_unpaired"] == 1 and df.loc["gelu", "n_unpaired"] == 0
    lo_act, hi_act = sorted(ps, key=ps.get)  # Holm, two comparisons: 2 p_(1), max(that, p_(2))
    assert df.loc[lo_act, "p_holm"] == pytest.approx(min(1, 2 * ps[lo_act]))
    assert df.loc[hi_act, "p_holm"] == pytest.approx(max(min(1, 2 * ps[lo_act]), ps[hi_act]))
    assert "Holm-adjusted over 2 comparisons" in df.loc["gelu", "note"]
    main([str(sw), "--paired", "--baseline", "relu"])
    out = capsys.readouterr().out
    assert "mean_diff" in out and "p_holm" in out and "Holm" in out
    saved = pd_read(sw / "compare_paired_activation_test_acc.csv").set_index("activation")
    assert saved.loc["gelu", "mean_diff"] == pytest.approx(df.loc["gelu", "mean_diff"])
    assert saved.loc["gelu", "p_holm"] == pytest.approx(df.loc["gelu", "p_holm"])


def test_paired_errors_are_one_line(paired_sweep, capsys):
    sw, _ = paired_sweep
    assert "--baseline='sigmoid' is not allowed; expected a group with finished runs: gelu, relu, tanh" in \
        one_error_line(capsys, [str(sw), "--paired", "--baseline", "sigmoid"])
    assert "--paired and --baseline go together" in one_error_line(capsys, [str(sw), "--paired"])


def test_grid_of_two_keys_gives_table_heat_map_and_long_csv(tmp_path, capsys):
    i = 0
    for act in ("relu", "tanh"):
        for lr in (0.01, 0.1):
            for seed in range(2):
                fake_run(tmp_path / "sw" / str(i), act, seed, 0.8 + (0.05 if act == "relu" else 0) + lr + 0.01 * seed,
                         model={"optimizer": {"lr": lr}})
                i += 1
    df = compare([tmp_path / "sw"], ["activation", "model.optimizer.lr"], "test/acc")
    means, cells = grid(df, ["activation", "model.optimizer.lr"])
    assert means.shape == (2, 2) and means.loc["relu", "0.1"] == pytest.approx(0.955)
    assert cells.loc["tanh", "0.01"].endswith("n=2") and cells.loc["tanh", "0.01"].startswith("0.8150 [")
    main([str(tmp_path / "sw"), "--by", "activation", "--by", "model.optimizer.lr"])
    out = capsys.readouterr().out
    assert "activation (rows) x model.optimizer.lr (columns)" in out and cells.loc["relu", "0.1"] in out
    stem = tmp_path / "sw" / "compare_activation_model.optimizer.lr_test_acc"
    assert len(pd_read(f"{stem}.csv")) == 4  # the long table
    assert pd_read(f"{stem}_grid.csv").shape == (2, 3)
    assert Path(f"{stem}_heatmap.png").read_bytes()[:4] == b"\x89PNG"


def test_help_documents_what_compare_writes(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "compare_<by>_<metric>.csv" in out and "compare.csv" not in out.replace("compare_<by>_<metric>.csv", "")
    for opt in ("--metric", "--include-failed", "--allow-mixed", "--paired", "--baseline"):
        assert opt in out
    assert "the metric of summary.json to compare" in out and "also average runs whose status is not finished" in out


def pd_read(path):
    import pandas as pd

    return pd.read_csv(path)
