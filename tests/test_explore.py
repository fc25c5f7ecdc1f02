"""knowloc explore without a browser: the report's data from real run records, and the CLI's errors.

The browser checks are in test_explore_browser.py; both use the small real sweep built here once.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from knowloc.compare import compare
from knowloc.snapshots import artefacts

#: three real tiny runs: relu seeds 0 and 1, tanh seed 0 (a sweep folder with job folders 0, 1, 2)
SWEEP_JOBS = [("relu", 0), ("relu", 1), ("tanh", 0)]
TINY = ["logger=csv", "trainer.enable_progress_bar=false", "trainer.max_epochs=1", "data.first_n=400", "data.batch_size=50", "threads=1"]
#: a real tiny LeNet-5 run holding three families: NeuronStats (act3), AblationAnalysis (act3, knockout
#: of class 9) and WeightSnapshots (init + 1 epoch, conv filter grids)
NEURONS = ["experiment=ablation", "callbacks=neurons", "logger=csv", "trainer.enable_progress_bar=false",
           "trainer.max_epochs=1", "data.first_n=800", "data.batch_size=32", "threads=1",
           "callbacks.neuron_stats.max_units_plotted=4", "callbacks.ablation.max_size=3",
           "callbacks.ablation.target_class=9", "+snapshots=default"]
#: a real tiny alignment run (equality network trained in the job, DAS on layers 1 and 2, sizes 1 and 2)
ALIGNMENT = ["experiment=alignment", "logger=csv", "trainer.enable_progress_bar=false", "threads=1",
             "model.network.data.n_train=3000", "model.network.data.vocab_size=100", "equality.epochs.relu=1",
             "alignment.layers=[1,2]", "alignment.sizes=[1,2]", "alignment.variables=[ab,cd]", "trainer.max_epochs=1",
             "data.n_train=500", "data.n_test=500", "alignment.baseline_pairs=100", "alignment.select_pairs=200"]
#: a real localization run (MLP 784-100-2, per-sample SGD on 1/7 vs 6/8, tallies and forks)
LOCALIZATION = ["experiment=localization", "logger=csv", "trainer.enable_progress_bar=false"]
_RUNS: dict[str, Path] = {}


def real_run(base: Path, name: str, overrides: list[str]) -> Path:
    """Run a job once per test session (in-process, real Lightning/Hydra) into ``base/name``."""
    if name not in _RUNS:
        from knowloc.api import run

        folder = base / "explore_runs" / name
        rec = run(overrides, folder)
        assert rec["status"] == "finished", rec["error"]
        _RUNS[name] = folder
    return _RUNS[name]


def real_sweep(base: Path) -> Path:
    """The tiny sweep: job folders 0, 1, 2 of one sweep folder."""
    for i, (act, seed) in enumerate(SWEEP_JOBS):
        folder = real_run(base, f"sweep/{i}", TINY + [f"activation={act}", f"seed={seed}"])
    return folder.parent


def real_neuron_run(base: Path) -> Path:
    return real_run(base, "neurons_run", NEURONS)


def real_alignment_run(base: Path) -> Path:
    return real_run(base, "alignment_run", ALIGNMENT)


def real_localization_run(base: Path) -> Path:
    return real_run(base, "localization_run", LOCALIZATION)


def copy_run(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("checkpoints", "wandb"))
    return dst


def page_data(html: str) -> dict:
    """The JSON a report embeds."""
    m = re.search(r'<script id="knowloc-data" type="application/json">(.*?)</script>', html, re.S)
    assert m, "no embedded data in the report"
    return json.loads(m.group(1))


def section(data: dict, type_: str) -> dict:
    found = [s for s in data["sections"] if s["type"] == type_]
    assert found, f"no {type_} section; have {[s['type'] for s in data['sections']]}"
    return found[0]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    return real_sweep(tmp_path_factory.getbasetemp())


def _close(a, b, rel=1e-4):
    return math.isclose(float(a), float(b), rel_tol=rel, abs_tol=1e-9)


def test_run_report_holds_the_record_and_metrics_history(sweep_dir, knowloc_cli, tmp_path):
    run = sweep_dir / "0"
    out = tmp_path / "r.html"
    res = knowloc_cli("explore", str(run), "--no-serve", "--out", str(out))
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stdout and "serving" not in res.stdout
    html = out.read_text()
    # self-contained: no external scripts, styles or images; a CSP that forbids any fetch
    assert not re.search(r'(src|href)="https?:', html)
    assert "default-src 'none'" in html
    data = page_data(html)
    summary = json.loads((run / "summary.json").read_text())
    ov = section(data, "overview")
    assert ov["status"] == "finished" and ov["seed"] == 0 and ov["choices"]["activation"] == "relu"
    shown = dict(ov["metrics"])
    assert set(shown) == set(summary["metrics"])
    for k, v in summary["metrics"].items():
        assert _close(shown[k], v), k
    # every value of metrics.csv is in the history, at its step
    with open(run / "metrics" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    hist = section(data, "metrics")["series"]
    columns = [c for c in rows[0] if c not in ("epoch", "step")]
    assert "val/acc" in columns and set(hist) == set(columns)
    for col in columns:
        expected = [(int(r["step"]), float(r[col])) for r in rows if r[col] != ""]
        got = list(zip(hist[col]["step"], hist[col]["value"]))
        assert len(got) == len(expected)
        assert all(s1 == s2 and _close(v1, v2) for (s1, v1), (s2, v2) in zip(got, expected))
    # no family files in a plain run, so no family pages
    assert {s["type"] for s in data["sections"]} == {"overview", "metrics", "files"}


def test_sweep_report_compare_tables_equal_knowloc_compare(sweep_dir, tmp_path):
    from knowloc.explore import write_report

    out = write_report(sweep_dir, tmp_path / "s.html")
    data = page_data(out.read_text())
    assert data["kind"] == "sweep"
    runs = section(data, "runs")
    assert [r["run"] for r in runs["rows"]] == ["0", "1", "2"]
    assert runs["factors"] == ["activation"]  # seed is the replicate, not a factor
    cmp_ = section(data, "compare")
    assert cmp_["by_options"] == ["activation"] and cmp_["default_metric"] == "test/acc"
    for metric in ("test/acc", "test/loss"):
        rows = cmp_["tables"]["activation"][metric]["rows"]
        expected = compare([sweep_dir], ["activation"], metric)
        assert [r["activation"] for r in rows] == list(expected["activation"]) == ["relu", "tanh"]
        assert [r["n"] for r in rows] == [2, 1]
        for r, (_, e) in zip(rows, expected.iterrows()):
            assert _close(r["mean"], e["mean"])
            for k in ("ci_low", "ci_high"):
                assert (r[k] == "nan") if math.isnan(e[k]) else _close(r[k], e[k])
        # relu: two seeds give an interval around their mean; tanh: one seed gives none
        assert rows[0]["ci_low"] <= rows[0]["mean"] <= rows[0]["ci_high"]
        assert rows[1]["ci_low"] == "nan"


def test_damaged_family_file_breaks_only_its_page(sweep_dir, tmp_path):
    from knowloc.explore import build
    from knowloc.explore.target import open_target

    run = copy_run(sweep_dir / "0", tmp_path / "run")
    (run / "metrics" / "metrics.csv").write_text("epoch,value\n0,1\n")  # no step column
    data = build(open_target(run))
    err = section(data, "error")
    assert err["id"] == "metrics" and err["title"] == "Metrics"  # in place of the page that failed
    assert len({s["id"] for s in data["sections"]}) == len(data["sections"])
    assert "no 'step' column" in err["message"]
    assert section(data, "overview")["status"] == "finished"


@pytest.mark.parametrize("case", ["missing", "empty", "truncated", "not-a-record", "file", "port"])
def test_cli_bad_input_one_line_exit_2(case, tmp_path, sweep_dir, capsys):
    """The real CLI entry point, in-process (the subprocess path is covered above)."""
    from knowloc.cli import main

    args, expect = None, None
    bad = tmp_path / "bad"
    if case == "missing":
        args, expect = [str(tmp_path / "nope")], "does not exist"
    elif case == "empty":
        bad.mkdir()
        args, expect = [str(bad)], "holds no run record"
    elif case == "truncated":
        copy_run(sweep_dir / "0", bad)
        text = (bad / "summary.json").read_text()
        (bad / "summary.json").write_text(text[: len(text) // 2])
        args, expect = [str(bad)], "is not valid JSON"
    elif case == "not-a-record":
        bad.mkdir()
        (bad / "summary.json").write_text('{"hello": 1}')
        args, expect = [str(bad)], "missing key(s) status, metrics, config"
    elif case == "file":
        (tmp_path / "x.txt").write_text("x")
        args, expect = [str(tmp_path / "x.txt")], "is a file"
    elif case == "port":
        args, expect = [str(sweep_dir / "0"), "--port", "70000"], "--port='70000' is not allowed; expected an integer in 0..65535"
    with pytest.raises(SystemExit) as exc:
        main(["explore", *args, "--no-serve", "--out", str(tmp_path / "o.html")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("knowloc: error: "), err
    assert expect in lines[0]
    assert not (tmp_path / "o.html").exists()


def test_server_rebuilds_when_the_run_changes_and_survives_bad_input(sweep_dir, tmp_path):
    from knowloc.explore.server import ExploreServer

    root = tmp_path / "root"
    run = copy_run(sweep_dir / "0", root / "a")
    server = ExploreServer(root)
    try:
        status, html = server.page("a")
        assert status == 200 and section(page_data(html), "overview")["status"] == "finished"
        s = json.loads((run / "summary.json").read_text())
        s["status"], s["metrics"]["test/acc"] = "running", 0.125
        (run / "summary.json").write_text(json.dumps(s))
        status, html = server.page("a")
        ov = section(page_data(html), "overview")
        assert ov["status"] == "running" and dict(ov["metrics"])["test/acc"] == 0.125
        (run / "summary.json").write_text("[1, 2]")
        status, html = server.page("a")
        assert status == 422 and "expected a JSON object" in html
        assert server.page("../..")[0] == 403
        assert server.page("nothing")[0] == 404
    finally:
        server.server_close()


def test_neurons_page_data_is_the_runs_statistics_and_ablation(tmp_path_factory):
    import numpy as np

    from knowloc.data import load_source
    from knowloc.explore import build
    from knowloc.explore.target import open_target
    from knowloc.neurons import artefacts

    run = real_neuron_run(tmp_path_factory.getbasetemp())
    data = build(open_target(run))
    assert [s["type"] for s in data["sections"]] == ["overview", "metrics", "neurons", "snapshots", "files"]
    sec = section(data, "neurons")
    layer = sec["layers"]["act3"]
    z = artefacts.read_stats(run, "act3")
    a = artefacts.read_matrix(run, "act3")
    assert (layer["units"], layer["classes"]) == z["mean_act"].shape == (120, 10)
    for k in ("mean_act", "mean_grad", "mean_abs_grad", "fire_rate", "anomaly_score"):
        got = np.array(layer["stats"][k], dtype=float)
        np.testing.assert_allclose(got, z[k], rtol=1e-3, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(np.array(layer["ablation"]["drop"], dtype=float), a["drop"], rtol=1e-3, atol=1e-6)
    # drop = accuracy before - after, for every unit and class
    np.testing.assert_allclose(a["drop"], a["acc_before"][None] - a["acc_after"], atol=1e-12)
    ko = artefacts.read_knockout(run)
    assert layer["knockout"]["units"] == ko["units"] and layer["knockout"]["target_class"] == 9
    # one sprite tile per unit x class; top examples: every recorded index, from the real data set
    assert {k: (v["rows"], v["cols"], v["h"], v["w"]) for k, v in layer["images"].items()} == {
        k: (120, 10, 28, 28) for k in ("grad_image", "act_image", "grad_image_rectified", "act_image_rectified")}
    assert np.array_equal(np.array(layer["topk"]["grad"]["index"]), z["topk_grad_index"])
    recorded = {int(i) for k in ("grad", "act") for i in z[f"topk_{k}_index"].reshape(-1) if i >= 0}
    assert sec["examples_note"] is None and set(sec["examples"]["index"]) == recorded
    assert len(recorded) <= json.loads((run / "summary.json").read_text())["data"]["n_train"]
    # the examples of class c are images of class c (the indices are data-set indices)
    labels = load_source("mnist_embedded").labels.numpy()
    idx = z["topk_grad_index"]
    for c in range(10):
        shown = idx[:, c][idx[:, c] >= 0]
        assert len(shown) and (labels[shown] == c).all(), c


def test_snapshots_page_data_is_the_runs_index_filters_and_changes(tmp_path_factory):
    from knowloc.explore import build
    from knowloc.explore.embed import file_uri
    from knowloc.explore.target import open_target

    run = real_neuron_run(tmp_path_factory.getbasetemp())
    sec = section(build(open_target(run)), "snapshots")
    index = artefacts.read_index(run)
    assert [s["i"] for s in sec["snapshots"]] == [s["i"] for s in index["snapshots"]] == sec["kept"] == [0, 1]
    assert [s["tag"] for s in sec["snapshots"]][0] == "init"
    assert set(sec["filters"]) == {"conv1", "conv2"}
    for layer in ("conv1", "conv2"):
        for i in (0, 1):
            assert sec["filters"][layer][str(i)] == file_uri(artefacts.picture(run, layer, "weights", i))
    # the change views and their ranges, as the pictures were drawn (snapshots/filters/views.json)
    drawn = artefacts.read_views(run)
    for layer in ("conv1", "conv2"):
        for view in ("from_init", "from_prev"):
            for i in (0, 1):
                assert sec["change_frames"][layer][view][str(i)] == file_uri(
                    artefacts.picture(run, layer, view, i))
        info = sec["views_info"][layer]
        assert info["colour_scale"] == "run" and info["order"] == drawn[layer]["order"]
        for view in ("weights", "from_init", "from_prev"):
            for i in (0, 1):
                assert _close(info["views"][view]["scale"][str(i)], drawn[layer]["views"][view]["scale"][i])
        # the single-filter tiles use the pictures' ranges
        assert _close(sec["filter_views"][layer]["scale"], drawn[layer]["views"]["weights"]["scale"][0])
        assert _close(sec["filter_views"][layer]["change_scale"], drawn[layer]["views"]["from_init"]["scale"][0])
    with open(artefacts.CHANGES.at(run)) as f:
        rows = list(csv.DictReader(f))
    got = sec["changes"]
    assert len(got["rows"]) == len(rows) == 2 * len(index["layers"])
    col = got["header"].index("rel_dist_init")
    for g, r in zip(got["rows"], rows):
        assert _close(g[col], float(r["rel_dist_init"]))
    # at initialisation nothing has moved yet
    assert all(float(r["rel_dist_init"]) == 0 for r in rows if r["i"] == "0")


def test_alignment_page_data_is_the_runs_iia_table(tmp_path_factory):
    from knowloc.explore import build
    from knowloc.explore.target import open_target

    run = real_alignment_run(tmp_path_factory.getbasetemp())
    data = build(open_target(run))
    assert [s["type"] for s in data["sections"]] == ["overview", "metrics", "alignment", "files"]
    sec = section(data, "alignment")
    from knowloc.alignment.artefacts import IIA, NETWORK_TEST_ACC

    with open(IIA.at(run)) as f:
        rows = list(csv.DictReader(f))
    header = sec["iia"]["header"]
    assert header == list(rows[0])
    # layers x sizes x variables x methods (das, das_random_start, identity, random: no joint rotation
    # without "both")
    assert len(sec["iia"]["rows"]) == len(rows) == 2 * 2 * 2 * 4
    for got, r in zip(sec["iia"]["rows"], rows):
        g = dict(zip(header, got))
        assert (g["layer"], g["variable"], g["method"]) == (r["layer"], r["variable"], r["method"])
        assert g["size"] == int(r["size"]) and _close(g["iia_changed"], float(r["iia_changed"]))
    summary = json.loads((run / "summary.json").read_text())
    assert _close(sec["network_test_acc"], summary["metrics"][NETWORK_TEST_ACC])


def test_localization_page_data_is_the_runs_r_d_and_pixel_map(tmp_path_factory):
    import numpy as np

    from knowloc.explore import build
    from knowloc.explore.target import open_target
    from knowloc.localization import artefacts

    run = real_localization_run(tmp_path_factory.getbasetemp())
    data = build(open_target(run))
    assert [s["type"] for s in data["sections"]] == ["overview", "metrics", "localization", "files"]
    sec = section(data, "localization")
    z = artefacts.read_arrays(run)
    assert list(sec["tensors"]) == ["fc2.bias", "fc1.bias", "fc2.weight", "fc1.weight"]
    for name, t in sec["tensors"].items():
        r, d = z[f"{name}/r"], z[f"{name}/d"]
        assert t["shape"] == list(r.shape) and t["n"] == r.size and t["flat_index"] is None
        np.testing.assert_allclose(np.array(t["r"], dtype=float), r.reshape(-1), rtol=1e-3, atol=1e-7)
        np.testing.assert_allclose(np.array(t["d"], dtype=float), d.reshape(-1), rtol=1e-3, atol=1e-7)
        # the disagreement list: largest |r - d| first, each entry the parameter at that index
        gaps = [abs(e["r"] - e["d"]) for e in t["disagree"]]
        assert gaps == sorted(gaps, reverse=True)
        assert np.nanmax(np.abs(r - d)) == pytest.approx(gaps[0])
        for e in t["disagree"]:
            assert r[tuple(e["index"])] == pytest.approx(e["r"]) and d[tuple(e["index"])] == pytest.approx(e["d"])
        # shares: r and d lie in [0, 1]
        assert np.nanmin(r) >= 0 and np.nanmax(r) <= 1 and np.nanmin(d) >= 0 and np.nanmax(d) <= 1
    pm = np.array(sec["pixel_map"], dtype=float)
    assert pm.shape == (28, 28)
    np.testing.assert_allclose(pm.reshape(-1), z["pixel_map"], rtol=1e-3, atol=1e-7, equal_nan=True)


def test_cli_port_in_use_one_line_exit_2(sweep_dir, tmp_path, capsys):
    import socket

    from knowloc.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exc:
            main(["explore", str(sweep_dir / "0"), "--port", str(port), "--out", str(tmp_path / "o.html")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"knowloc: error: --port={port} is already in use; choose another port, or --port 0 for a free one"]
