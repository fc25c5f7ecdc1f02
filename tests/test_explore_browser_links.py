"""The explorer in headless Chromium (issue 11): a unit link opens that unit on load and reload, the
snapshots page has no stray "null", and the localization scatter says how many parameters its
statistics exclude (NaN r or d)."""

from __future__ import annotations

import csv

import numpy as np

from knowloc.localization import artefacts
from test_explore_browser import browser, page, served_root  # noqa: F401  (the same real runs and server)


def test_unit_link_opens_that_unit_on_load_and_reload(page, served_root):  # noqa: F811
    root, server = served_root
    page.goto(server.url + "?run=neurons#neurons?layer=act3&unit=17")
    for _ in range(2):  # load, then reload
        page.wait_for_selector("#unit-panel[data-unit='17']")
        assert page.is_visible("#page-neurons") and not page.is_visible("#page-overview")
        assert page.get_attribute("#tabs a.active", "data-id") == "neurons"
        assert page.input_value("#neuron-unit") == "17"
        page.reload()


def test_snapshots_page_shows_no_stray_null(page, served_root):  # noqa: F811
    root, server = served_root
    page.goto(server.url + "?run=neurons#snapshots")
    page.wait_for_selector("#page-snapshots[data-snapshot]")
    text = page.inner_text("#page-snapshots")
    assert "null" not in text and "undefined" not in text
    assert page.evaluate("""() => [...document.querySelector('#page-snapshots').childNodes]
        .filter(n => n.nodeType === Node.TEXT_NODE && n.textContent.trim()).map(n => n.textContent)""") == []


def test_localization_scatter_says_how_many_parameters_are_excluded(page, served_root):  # noqa: F811
    root, server = served_root
    z = artefacts.read_arrays(root / "loc")
    with open(artefacts.CORRELATIONS.at(root / "loc")) as f:
        n_stats = {r["param"]: int(float(r["n"])) for r in csv.DictReader(f)}
    page.goto(server.url + "?run=loc#localization")
    page.select_option("#loc-tensor", "fc1.weight")
    r, d = z["fc1.weight/r"], z["fc1.weight/d"]
    finite = int(np.isfinite(r + d).sum())
    assert finite == n_stats["fc1.weight"] < r.size  # blank border pixels: never updated, r = 0/0
    assert page.inner_text("#loc-scatter h2") == f"fc1.weight: r vs d ({r.size} parameters)"
    assert page.inner_text("#loc-excluded").startswith(
        f"statistics over n = {finite}: {r.size - finite} parameters excluded, their r or d is NaN")
    page.select_option("#loc-tensor", "fc2.weight")  # every fc2 weight has a finite r and d: no note
    if np.isfinite(z["fc2.weight/r"] + z["fc2.weight/d"]).all():
        assert page.locator("#loc-excluded").count() == 0
