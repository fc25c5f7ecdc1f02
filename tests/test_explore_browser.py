"""The explorer in a real browser: ``knowloc explore`` serves on a free loopback port and headless
Chromium (Debian's, driven by Playwright) clicks through the pages.

Skipped only when chromium is not installed (``.ci/run`` installs it, so CI runs these).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_explore import copy_run, real_sweep

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
    pg.set_default_timeout(20000)
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
        copy_run(sweep / str(i), root / str(i))
    bad = root / "damaged"
    bad.mkdir()
    text = (sweep / "0" / "summary.json").read_text()
    (bad / "summary.json").write_text(text[: len(text) // 3])  # cut off mid-write
    server = Served(root, tmp_path_factory.mktemp("cwd"))
    yield root, server
    server.stop()


def test_run_page_shows_the_record(page, served_root):
    root, server = served_root
    summary = json.loads((root / "0" / "summary.json").read_text())
    resp = page.goto(server.url + "?run=0")
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
    page.goto(server.url)
    page.wait_for_selector("#runs-table")
    assert page.locator("#runs-table tbody tr").count() == 3
    assert "cannot be read" in page.inner_text("#unreadable") and "damaged" in page.inner_text("#unreadable")
    page.click("#tabs a[data-id='compare']")
    page.select_option("#compare-by", "activation")
    for metric in ("test/acc", "test/loss"):
        page.select_option("#compare-metric", metric)
        assert page.inner_text("#compare-command").endswith(f"--by activation --metric {metric}")
        expected = compare([root / str(i) for i in range(3)], ["activation"], metric)
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
    assert "?run=2" in page.url
    assert page.locator(".pill", has_text="activation=tanh").count() == 1


def test_damaged_run_folder_gives_an_error_page_and_the_server_keeps_serving(page, served_root):
    root, server = served_root
    resp = page.goto(server.url + "?run=damaged")
    assert resp.status == 422
    msg = page.inner_text("#error-message")
    assert "damaged/summary.json is not valid JSON" in msg and "cut off" in msg
    assert "Traceback" not in page.content()
    resp = page.goto(server.url + "?run=no/such/run")
    assert resp.status == 404 and "does not exist" in page.inner_text("#error-message")
    resp = page.goto(server.url + "?run=../..")
    assert resp.status == 403 and "outside the served folder" in page.inner_text("#error-message")
    # a run whose record breaks while served: error page; repaired: the report again
    run = root / "1"
    good = (run / "summary.json").read_text()
    (run / "summary.json").write_text('{"status": "finished"}')
    resp = page.goto(server.url + "?run=1")
    assert resp.status == 422 and "missing key(s) metrics, config" in page.inner_text("#error-message")
    (run / "summary.json").write_text(good)
    resp = page.goto(server.url + "?run=1")
    assert resp.status == 200
    page.wait_for_selector("#run-status")
    assert server.alive()
