"""The explorer in a real browser: ``knowloc explore`` serves on a free loopback port and headless
Chromium (Debian's, driven by Playwright) clicks through the pages.

Skipped only when chromium is not installed (``.ci/run`` installs it, so CI runs these).
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from knowloc.localization import artefacts as localization_artefacts
from knowloc.neurons import artefacts
from knowloc.snapshots import artefacts as snapshot_artefacts
from test_explore import copy_run, real_alignment_run, real_localization_run, real_neuron_run, real_sweep

CHROMIUM = shutil.which("chromium") or next((p for p in ("/usr/bin/chromium", "/usr/lib/chromium/chromium")
                                             if Path(p).exists()), None)
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


class Served:
    """``knowloc explore PATH --port 0`` in a subprocess; ``url`` once it listens."""

    def __init__(self, path: Path, cwd: Path):
        exe = Path(sys.executable).with_name("knowloc")
        env = {**os.environ, "WANDB_MODE": "offline", "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([str(exe), "explore", str(path), "--port", "0", "--out", str(cwd / "report.html")],
                                     cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.url, lines, deadline = None, [], time.time() + 120
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            lines.append(line)
            m = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
            if m:
                self.url = m.group(1)
                break
        if self.url is None:
            err = self.stop()
            raise AssertionError("knowloc explore did not start serving:\n" + "".join(lines) + err)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.stderr.read() if self.proc.stderr else ""


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium driven by Playwright (which never downloads a browser here)."""
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh context; the test fails on any JavaScript error or any request beyond the loopback server."""
    ctx = browser.new_context(viewport={"width": 1300, "height": 900})
    pg = ctx.new_page()
    errors, external = [], []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("request", lambda r: None if r.url.startswith(("data:", "http://127.0.0.1", "file:", "about:"))
          else external.append(r.url))
    pg.set_default_timeout(30000)
    pg.set_default_navigation_timeout(120000)  # the first page of a run builds its report (slow on a busy machine)
    yield pg
    ctx.close()
    assert not errors, f"JavaScript errors: {errors}"
    assert not external, f"the report requested the network: {external}"


@pytest.fixture(scope="module")
def served_root(tmp_path_factory, browser):
    """A folder holding the real tiny sweep plus a damaged run folder, served by the real command."""
    base = tmp_path_factory.getbasetemp()
    sweep = real_sweep(base)
    root = tmp_path_factory.mktemp("served")
    for i in range(3):
        copy_run(sweep / str(i), root / "sweep" / str(i))
    copy_run(real_neuron_run(base), root / "neurons")
    copy_run(real_alignment_run(base), root / "align")
    copy_run(real_localization_run(base), root / "loc")
    bad = root / "sweep" / "damaged"
    bad.mkdir()
    text = (sweep / "0" / "summary.json").read_text()
    (bad / "summary.json").write_text(text[: len(text) // 3])  # cut off mid-write
    server = Served(root, tmp_path_factory.mktemp("cwd"))
    yield root, server
    server.stop()


def test_run_page_shows_the_record(page, served_root):
    root, server = served_root
    summary = json.loads((root / "sweep" / "0" / "summary.json").read_text())
    resp = page.goto(server.url + "?run=sweep/0")
    assert resp.status == 200
    page.wait_for_selector("body[data-ready='1']")
    assert page.inner_text("#run-status") == "finished"
    cell = page.locator("#final-metrics tr", has_text="test/acc").first.locator("td[data-col='1']")
    assert float(cell.inner_text()) == pytest.approx(summary["metrics"]["test/acc"], abs=5e-5)
    page.fill("#metric-filter", "test/loss")
    assert page.locator("#final-metrics tbody tr").count() == 1
    # metrics page: one chart per chosen metric; ticking one more adds its chart
    page.click("#tabs a[data-id='metrics']")
    page.wait_for_selector("#metric-charts [data-metric='val/acc'] svg circle")
    assert page.locator("#metric-charts [data-metric='test/loss']").count() == 0
    page.check("input[type=checkbox][data-metric='test/loss']")
    assert page.locator("#metric-charts [data-metric='test/loss'] svg").count() == 1


def test_sweep_page_compare_chooser_and_run_links(page, served_root):
    from knowloc.compare import compare

    root, server = served_root
    page.goto(server.url)  # the served folder itself: every run below it
    page.wait_for_selector("#runs-table")
    assert page.locator("#runs-table tbody tr").count() == 6
    page.goto(server.url + "?run=sweep")
    page.wait_for_selector("#runs-table")
    assert page.locator("#runs-table tbody tr").count() == 3
    assert "cannot be read" in page.inner_text("#unreadable") and "damaged" in page.inner_text("#unreadable")
    page.click("#tabs a[data-id='compare']")
    page.select_option("#compare-by", "activation")
    for metric in ("test/acc", "test/loss"):
        page.select_option("#compare-metric", metric)
        assert page.inner_text("#compare-command").endswith(f"--by activation --metric {metric}")
        expected = compare([root / "sweep"], ["activation"], metric)
        rows = page.locator("#compare-table tbody tr")
        assert rows.count() == len(expected) == 2
        for i, (_, e) in enumerate(expected.iterrows()):
            row = rows.nth(i)
            assert row.locator("td[data-col='activation']").inner_text() == e["activation"]
            assert int(row.locator("td[data-col='n']").inner_text()) == e["n"]
            assert float(row.locator("td[data-col='mean']").inner_text()) == pytest.approx(e["mean"], abs=5e-5)
            lo = row.locator("td[data-col='ci_low']").inner_text()
            assert lo == "NaN" if math.isnan(e["ci_low"]) else float(lo) == pytest.approx(e["ci_low"], abs=5e-5)
        assert page.locator("#compare-out svg rect.bar").count() == 2
    # a run link opens that run's page
    page.click("#tabs a[data-id='runs']")
    page.click("#runs-table a:text-is('2')")
    page.wait_for_selector("#run-status")
    assert "?run=sweep%2F2" in page.url
    assert page.locator(".pill", has_text="activation=tanh").count() == 1


def test_damaged_run_folder_gives_an_error_page_and_the_server_keeps_serving(page, served_root):
    root, server = served_root
    resp = page.goto(server.url + "?run=sweep/damaged")
    assert resp.status == 422
    msg = page.inner_text("#error-message")
    assert "damaged/summary.json is not valid JSON" in msg and "cut off" in msg
    assert "Traceback" not in page.content()
    resp = page.goto(server.url + "?run=no/such/run")
    assert resp.status == 404 and "does not exist" in page.inner_text("#error-message")
    resp = page.goto(server.url + "?run=../..")
    assert resp.status == 403 and "outside the served folder" in page.inner_text("#error-message")
    # /file serves viewable files inside the served folder only
    def served(art):  # the path of the run's file inside the served folder
        return art.at(root / "neurons", layer="act3").relative_to(root).as_posix()

    resp = page.goto(server.url + "file?path=" + served(artefacts.GRAD_IMAGES))
    assert resp.status == 200 and resp.headers["content-type"] == "image/png"
    assert resp.body() == artefacts.GRAD_IMAGES.at(root / "neurons", layer="act3").read_bytes()
    for bad in ("../../../etc/passwd", "neurons/checkpoints/last.ckpt", served(artefacts.STATS)):
        resp = page.goto(server.url + "file?path=" + bad)
        assert resp.status == 404 and "no such file inside the served folder" in page.inner_text("#error-message")
    # a run whose record breaks while served: error page; repaired: the report again
    run = root / "sweep" / "1"
    good = (run / "summary.json").read_text()
    (run / "summary.json").write_text('{"status": "finished"}')
    resp = page.goto(server.url + "?run=sweep/1")
    assert resp.status == 422 and "missing key(s) metrics, config" in page.inner_text("#error-message")
    (run / "summary.json").write_text(good)
    resp = page.goto(server.url + "?run=sweep/1")
    assert resp.status == 200
    page.wait_for_selector("#run-status")
    # a damaged family file breaks only its own page
    broken = copy_run(root / "neurons", root / "broken-neurons")
    stats = artefacts.STATS.at(broken, layer="act3")
    stats.write_bytes(stats.read_bytes()[:1000])
    resp = page.goto(server.url + "?run=broken-neurons#neurons")
    assert resp.status == 200
    box = page.locator("#page-neurons .error-box")
    assert box.locator("h2").inner_text() == "Cannot show the Neurons page"
    assert "act3_stats.npz cannot be read" in box.inner_text() and "damaged or was cut off" in box.inner_text()
    page.click("#tabs a[data-id='snapshots']")
    page.wait_for_selector("img.filter-grid")
    assert server.alive()


RED, BLUE = np.array([178.0, 24, 43]), np.array([33.0, 102, 172])


def signed_colours(a: np.ndarray) -> np.ndarray:
    """What a signed image tile should look like: t = a / max|a|, white at 0, red at +1, blue at -1."""
    a = np.asarray(a, dtype=np.float64).reshape(a.shape[-2:])
    if not np.isfinite(a).any():  # no sample of the class moved the unit: a light grey "no data" tile
        return np.full((*a.shape, 3), 235.0)
    a = np.nan_to_num(a)
    t = (a / (np.abs(a).max() or 1.0))[..., None]
    return np.where(t >= 0, 255 + t * (RED - 255), 255 - t * (BLUE - 255))


def canvas_rgb(page, selector: str) -> np.ndarray:
    page.wait_for_selector(selector + "[data-drawn='1']", state="attached")
    px = page.eval_on_selector(selector, """c => { const d = c.getContext("2d").getImageData(0, 0, c.width, c.height);
        return [c.height, c.width, Array.from(d.data)]; }""")
    return np.array(px[2], dtype=float).reshape(px[0], px[1], 4)[..., :3]


def shown_number(page, stat: str, c: int) -> float:
    return float(page.inner_text(f"#unit-class-row td[data-stat='{stat}'][data-class='{c}']"))


def test_choosing_a_unit_shows_that_units_numbers_and_images(page, served_root):
    from knowloc.data import load_source

    root, server = served_root
    run = root / "neurons"
    z = artefacts.read_stats(run, "act3")
    abl = artefacts.read_matrix(run, "act3")
    images = load_source("mnist_embedded").images.numpy()
    page.goto(server.url + "?run=neurons#neurons")
    page.wait_for_selector("#unit-panel[data-unit='0']")
    # the unit that cares most about class 7 (largest mean |dl/da|), and the one that cares least
    u = int(np.nanargmax(z["mean_abs_grad"][:, 7]))
    v = int(np.nanargmin(z["mean_abs_grad"][:, 7]))
    assert u != v
    page.select_option("#care-class", "7")
    page.select_option("#care-stat", "mean_abs_grad")
    page.click(f"#care-table tr[data-unit='{u}']")  # first row of the ranking
    assert page.locator("#care-table tbody tr").first.get_attribute("data-unit") == str(u)
    page.wait_for_selector(f"#unit-panel[data-unit='{u}']")
    for unit in (u, v):
        if unit == v:  # choose by typing the unit number
            page.fill("#neuron-unit", str(v))
            page.press("#neuron-unit", "Tab")
            page.wait_for_selector(f"#unit-panel[data-unit='{v}']")
        assert page.inner_text("#unit-panel h2") == f"act3 · unit {unit}"
        assert f"unit={unit}" in page.url  # shareable link
        # its class row of every statistic and of the ablation matrix
        for stat in ("mean_act", "mean_grad", "mean_abs_grad", "fire_rate", "anomaly_score"):
            for c in range(10):
                assert shown_number(page, stat, c) == pytest.approx(z[stat][unit, c], rel=2e-3, abs=6e-5), (stat, c)
        for c in range(10):
            assert shown_number(page, "drop", c) == pytest.approx(abl["drop"][unit, c], abs=6e-5)
            assert shown_number(page, "acc_after", c) == pytest.approx(abl["acc_after"][unit, c], abs=6e-5)
        # its gradient- and activation-weighted images, class by class, pixel by pixel
        for kind in ("grad_image", "act_image"):
            for c in (0, 7):
                got = canvas_rgb(page, f"#unit-images canvas[data-kind='{kind}'][data-class='{c}']")
                assert np.abs(got - signed_colours(z[kind][unit, c])).max() <= 2.5, (kind, c)
                other = z[kind][u if unit == v else v, c]
                if np.isfinite(other).any() and np.isfinite(z[kind][unit, c]).any():
                    assert np.abs(got - signed_colours(other)).max() > 20  # another unit's tile would not pass
        # its top examples of class 7: the recorded data-set images, in order
        page.select_option("#topk-class", "7")
        shown = [int(i) for i in page.eval_on_selector_all(
            "#top-examples [data-kind='grad'] figure", "fs => fs.map(f => f.dataset.index)")]
        expected = [int(i) for i in z["topk_grad_index"][unit, 7] if i >= 0]
        assert shown == expected and shown
        first = canvas_rgb(page, f"#top-examples [data-kind='grad'] canvas[data-index='{shown[0]}']")
        assert np.array_equal(first[..., 0], images[shown[0], 0].astype(float))
    # the anomaly ranking: its first row opens that unit with that class's top examples
    with open(artefacts.ANOMALIES.at(run, layer="act3")) as f:
        first = next(csv.DictReader(f))
    page.locator("#anomaly-table tbody tr").first.click()
    page.wait_for_selector(f"#unit-panel[data-unit='{first['unit']}']")
    assert page.input_value("#topk-class") == first["class"]
    shown = page.eval_on_selector_all("#top-examples [data-kind='grad'] figure", "fs => fs.map(f => f.dataset.index)")
    assert " ".join(shown) == first["top_grad_images"]
    # clicking a unit's column in a heat map chooses it
    w = int(page.eval_on_selector(".heatmap", "c => c.width")) / 120
    page.locator(".heatmap").first.click(position={"x": (u + 0.5) * w, "y": 5})
    page.wait_for_selector(f"#unit-panel[data-unit='{u}']")
    # knockout: the panel says whether the unit is in the class-0 knockout set
    ko = artefacts.read_knockout(run)
    outside = next(w for w in range(120) if w not in ko["units"])
    t = ko["target_class"]
    for unit, note in [(outside, f"Not in the knockout set for class {t}")] + [
            (w, f"In the knockout set for class {t}") for w in ko["units"][:1]]:
        page.fill("#neuron-unit", str(unit))
        page.press("#neuron-unit", "Tab")
        page.wait_for_selector(f"#unit-panel[data-unit='{unit}']")
        assert page.inner_text("#knockout-note").startswith(note)


def test_snapshot_slider_shows_that_snapshots_filters_and_changes(page, served_root):
    from knowloc.explore.embed import file_uri

    root, server = served_root
    run = root / "neurons"
    with open(snapshot_artefacts.CHANGES.at(run)) as f:
        rows = list(csv.DictReader(f))
    page.goto(server.url + "?run=neurons#snapshots")
    slider = page.locator("#snapshot-slider")
    for key, i in (("Home", 0), ("End", 1)):
        slider.focus()
        page.keyboard.press(key)
        page.wait_for_selector(f"#page-snapshots[data-snapshot='{i}']")
        assert page.inner_text("#snapshot-label").startswith(f"#{i} · epoch {i}")
        for layer in ("conv1", "conv2"):
            src = page.get_attribute(f"img.filter-grid[data-layer='{layer}']", "src")
            assert src == file_uri(snapshot_artefacts.picture(run, layer, "weights", i))
        shown = page.locator("#snapshot-table tbody tr")
        expected = [r for r in rows if int(r["i"]) == i]
        assert shown.count() == len(expected) == len(snapshot_artefacts.read_index(run)["layers"])
        for k, r in enumerate(expected):
            row = shown.nth(k)
            assert row.locator("td[data-col='layer']").inner_text() == r["layer"]
            assert float(row.locator("td[data-col='rel_dist_init']").inner_text()) == pytest.approx(
                float(r["rel_dist_init"]), abs=5e-5)
        assert page.locator("#snapshot-charts [data-measure='rel_dist_init'] line.marker").count() == 1


def test_alignment_page_iia_vs_size_per_layer(page, served_root):
    root, server = served_root
    from knowloc.alignment.artefacts import IIA

    with open(IIA.at(root / "align")) as f:
        rows = list(csv.DictReader(f))
    page.goto(server.url + "?run=align#alignment")
    page.select_option("#align-variable", "cd")
    page.select_option("#align-measure", "iia_changed")
    # one chart per layer, one line per method
    for layer in ("1", "2"):
        card = page.locator(f"#align-charts [data-layer='{layer}']")
        assert card.locator("h3").inner_text() == f"layer {layer}: iia_changed (cd)"
        assert card.locator(".legend span").all_inner_texts() == ["das", "das_random_start", "identity", "random"]
        assert card.locator("svg path").count() == 4
    shown = page.locator("#align-table tbody tr")
    expected = [r for r in rows if r["variable"] == "cd"]
    assert shown.count() == len(expected) == 16  # 2 layers x 2 sizes x 4 methods
    for k, r in enumerate(expected):
        row = shown.nth(k)
        assert row.locator("td[data-col='method']").inner_text() == r["method"]
        assert float(row.locator("td[data-col='iia_changed']").inner_text()) == pytest.approx(float(r["iia_changed"]), abs=5e-5)


def test_localization_scatter_hover_names_the_parameter(page, served_root):
    root, server = served_root
    z = localization_artefacts.read_arrays(root / "loc")
    page.goto(server.url + "?run=loc#localization")
    page.select_option("#loc-tensor", "fc2.weight")
    r, d = z["fc2.weight/r"], z["fc2.weight/d"]
    # hover over the point of fc2.weight[1, 37]: the tooltip names that parameter and its r and d
    target = (1, 37)
    canvas = page.locator("#loc-scatter canvas")
    box = canvas.bounding_box()
    W, H, m = 420, 380, {"l": 56, "r": 12, "t": 12, "b": 40}
    x = m["l"] + r[target] * (W - m["l"] - m["r"])
    y = m["t"] + (1 - d[target]) * (H - m["t"] - m["b"])
    # the nearest point under the cursor may be a neighbour with (almost) the same r and d
    page.mouse.move(box["x"] + x, box["y"] + y)
    tip = page.inner_text("#tooltip")
    name = tip.splitlines()[0]
    idx = tuple(int(v) for v in name[len("fc2.weight["):-1].split(", "))
    assert abs(r[idx] - r[target]) < 0.01 and abs(d[idx] - d[target]) < 0.01
    assert f"r = {r[idx]:.4f}" in tip and f"d = {d[idx]:.4f}" in tip
    # statistics: the run's correlations row for this tensor
    with open(localization_artefacts.CORRELATIONS.at(root / "loc")) as f:
        row = next(r for r in csv.DictReader(f) if r["param"] == "fc2.weight")
    assert f"{float(row['pearson']):.4f}" in page.inner_text("#loc-stats")
    # the pixel map: 28 x 28 pixels; clicking the pixel of the strongest correlation marks the 100 weights
    # leaving it in fc1.weight's scatter
    assert page.eval_on_selector("#loc-pixel-map canvas", "c => [c.width, c.height]") == [28 * 12, 28 * 12]
    j = int(np.nanargmax(np.abs(z["pixel_map"])))
    row, col = divmod(j, 28)
    page.locator("#loc-pixel-map canvas").click(position={"x": col * 12 + 6, "y": row * 12 + 6})
    assert page.input_value("#loc-tensor") == "fc1.weight"
    finite = np.isfinite(z["fc1.weight/r"][:, j] + z["fc1.weight/d"][:, j]).sum()
    assert page.get_attribute("#loc-scatter .scatter", "data-highlighted") == str(int(finite))
    note = page.inner_text("#loc-pixel-note")
    assert note.startswith(f"pixel {j} (row {row}, col {col}): the 100 weights fc1.weight[:, {j}]")
    assert note.endswith(f"= {z['pixel_map'][j]:.4f}")


def test_a_run_that_just_started_shows_its_record_and_reloads(page, served_root):
    from knowloc.records import RunRecord

    root, server = served_root
    record = RunRecord(root / "starting", {"seed": 0, "model": {"hidden": 100}}, 0, {"activation": "relu"}, ["seed=0"])
    page.goto(server.url + "?run=starting")
    page.wait_for_selector("#run-status")
    assert page.inner_text("#run-status") == "running"
    assert page.get_attribute("#status", "title") == "running: this page reloads every 15 s"
    assert page.locator("#tabs a").all_inner_texts() == ["Overview", "Files"]  # no metrics history yet
    assert "none yet (no metrics/metrics.csv" in page.inner_text("#page-overview")
    # the run finishes with a metric; the next load shows it
    record.finish("finished", {"test/acc": 0.5})
    page.goto(server.url + "?run=starting")
    page.wait_for_selector("#run-status")
    assert page.inner_text("#run-status") == "finished"
    assert page.locator("#final-metrics tbody tr").all_inner_texts() == ["test/acc\t0.5000"]


def test_one_filter_over_training_is_the_stored_weights(page, served_root):
    from safetensors.numpy import load_file

    from knowloc.explore.embed import file_uri

    root, server = served_root
    run = root / "neurons"
    index = snapshot_artefacts.read_index(run)
    w = np.stack([load_file(str(snapshot_artefacts.SNAPSHOT.at(run, i=s["i"])))["conv1.weight"].astype(np.float64) for s in index["snapshots"]])
    F = w.shape[1]  # LeNet-5: 6 filters of 1 x 5 x 5
    change = np.linalg.norm((w - w[:1]).reshape(len(w), F, -1), axis=2) / np.linalg.norm(w[0].reshape(F, -1), axis=1)
    f = int(np.argmax(change[-1]))  # the conv1 filter that moved most
    drawn = snapshot_artefacts.read_views(run)["conv1"]["views"]
    scale = drawn["weights"]["scale"][0]  # the range of the layer's pictures, the same for every snapshot
    assert scale == pytest.approx(max(np.quantile(np.abs(x), 0.99) for x in w), rel=1e-9)
    page.goto(server.url + "?run=neurons#snapshots")
    page.select_option("#filter-layer", "conv1")
    slider = page.locator("#snapshot-slider")
    slider.focus()
    page.keyboard.press("End")
    page.locator("#filter-ranking tbody tr").first.click()  # the ranking's first row is that filter
    page.wait_for_selector(f"#filter-card[data-filter='{f}'][data-snapshot='1']")
    assert page.inner_text("#filter-change") == f"‖W − W₀‖ / ‖W₀‖ = {change[-1, f]:.4f}"
    for sel, k in (("#filter-init", 0), ("#filter-now", len(w) - 1)):
        got = canvas_rgb(page, sel)  # 5 x 5: one input channel
        t = np.clip(w[k, f, 0] / scale, -1, 1)
        expected = np.where(t[..., None] >= 0, 255 + t[..., None] * (RED - 255), 255 - t[..., None] * (BLUE - 255))
        assert np.abs(got - expected).max() <= 2.5, sel
    got = canvas_rgb(page, "#filter-moved")  # W - W_0 on the range of the layer's W_t - W_0 pictures
    t = np.clip((w[-1, f, 0] - w[0, f, 0]) / drawn["from_init"]["scale"][0], -1, 1)
    expected = np.where(t[..., None] >= 0, 255 + t[..., None] * (RED - 255), 255 - t[..., None] * (BLUE - 255))
    assert np.abs(got - expected).max() <= 2.5
    assert f"W ±{drawn['weights']['scale'][0]:.4f}" in page.inner_text("#filter-scale")
    # the pictures: the change views with the range in their caption
    page.select_option("#snapshot-view", "from_init")
    src = page.get_attribute("img.filter-grid[data-layer='conv1']", "src")
    assert src == file_uri(snapshot_artefacts.picture(run, "conv1", "from_init", 1))
    shown = page.inner_text(".filter-caption[data-layer='conv1']")
    assert shown == " ".join(drawn["from_init"]["caption"][1].split())  # HTML collapses the double spaces
    slider.focus()
    page.keyboard.press("Home")
    page.wait_for_selector(f"#filter-card[data-filter='{f}'][data-snapshot='0']")
    assert page.inner_text("#filter-change") == "‖W − W₀‖ / ‖W₀‖ = 0"
