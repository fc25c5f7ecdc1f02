"""knowloc compare: groups, means and t intervals from local records, CSV and PNG, no W&B."""

from __future__ import annotations

import csv
import math

import pytest

from knowloc.compare import compare, main
from knowloc.records import write_json


def fake_run(folder, activation, seed, acc, status="finished"):
    folder.mkdir(parents=True)
    write_json(folder / "summary.json", {
        "status": status, "metrics": {"test/acc": acc}, "seed": seed,
        "choices": {"activation": activation}, "config": {"activation": {"name": activation}, "seed": seed,
                                                          "data": {"name": "mnist_embedded"}}})


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
    df = compare([sweep], ["activation"], "test/acc").set_index("activation")
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
