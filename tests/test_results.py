"""``make results``: the README's result blocks are the generated files; the machinery behind them."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from knowloc.errors import UserError
from knowloc.results import FAMILIES, localization
from knowloc.results.blocks import blocks, replace_block
from knowloc.results.report import Context, paired
from knowloc.results.steps import MARKER, Step, is_done, run_step
from knowloc.stats import mean_ci

ROOT = Path(__file__).resolve().parents[1]


def test_readme_result_blocks_equal_the_generated_files():
    readme = (ROOT / "README.md").read_text()
    found = blocks(readme)
    assert set(found) == set(FAMILIES)
    for family in FAMILIES:
        assert readme.count(f"<!-- results:{family}:begin -->") == 1
        md = ROOT / "docs" / "results" / f"{family}.md"
        assert md.is_file(), f"{md} missing: run make results FAMILY={family}"
        assert found[family] == md.read_text(), f"README block {family} differs from {md}: run make results"
        # every table and figure a block links to is committed beside it
        for link in re.findall(r"\]\((docs/results/[^)]+)\)", found[family]):
            assert (ROOT / link).is_file(), link
        assert "seeds per cell" in found[family] and "threads=" in found[family]


def test_replace_block_touches_nothing_outside_the_markers():
    text = "a\n<!-- results:x:begin -->\nold\n<!-- results:x:end -->\nb\n"
    new = replace_block(text, "x", "new | 1")
    assert new == "a\n<!-- results:x:begin -->\nnew | 1\n<!-- results:x:end -->\nb\n"
    assert blocks(new) == {"x": "new | 1\n"}
    with pytest.raises(UserError, match="results:y:begin"):
        replace_block(text, "y", "z")


def test_paired_difference_is_the_paired_t_test():
    a = {0: 0.30, 1: 0.12, 2: 0.25, 3: 0.05, 9: 1.0}
    b = {0: 0.10, 1: 0.15, 2: 0.05, 3: 0.01}          # seed 9 has no partner: left out
    d = paired(a, b)
    x, y = np.array([0.30, 0.12, 0.25, 0.05]), np.array([0.10, 0.15, 0.05, 0.01])
    assert d["n"] == 4 and d["diffs"] == pytest.approx({0: 0.2, 1: -0.03, 2: 0.2, 3: 0.04})
    assert d["p"] == pytest.approx(stats.ttest_rel(x, y).pvalue, rel=1e-12)
    m, lo, hi, sd = mean_ci(list(x - y))
    assert (d["mean"], d["ci_low"], d["ci_high"], d["std"]) == pytest.approx((m, lo, hi, sd))
    half = stats.t.ppf(0.975, 3) * np.std(x - y, ddof=1) / 2
    assert d["ci_high"] - d["mean"] == pytest.approx(half)


def test_a_finished_step_is_skipped_and_an_outdated_one_is_not(tmp_path, capsys):
    step = Step("s", ["experiment=localization", "seed=1"])
    assert not is_done(step, tmp_path)
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / MARKER).write_text(json.dumps({"command": step.argv(tmp_path), "seconds": 3.0}))
    assert is_done(step, tmp_path)
    assert run_step(step, tmp_path) == 0.0          # skipped: nothing ran
    assert "skipped" in capsys.readouterr().out
    assert not is_done(Step("s", ["experiment=localization", "seed=2"]), tmp_path)


def test_localization_block_from_real_stacked_runs(tmp_path):
    """Three tiny stacked jobs (one per learning rate) and the pixel-map run, rendered: the claim table
    is relu − sigmoid paired by seed, recomputed here from the per-model records."""
    from knowloc.api import run

    out, seeds = tmp_path / "out" / "localization", 3
    steps = localization.steps(seeds)
    tiny = ["data.pool_size=400", "trainer.enable_progress_bar=false"]
    for st in steps[:-1]:
        args = [a for a in st.args if not a.startswith("stack.activations")] + ["stack.activations=[relu,sigmoid]"]
        run(args + tiny, out / st.name)
    run(steps[-1].args + tiny, out / steps[-1].name)
    ctx = Context("localization", steps, out, tmp_path / "docs" / "localization", seeds)
    ctx.docs.mkdir(parents=True)
    md = localization.render(ctx)
    claim = pd.read_csv(ctx.docs / "claim_relu_vs_sigmoid.csv")
    assert list(claim.lr) == list(localization.LRS) and (claim.n_pairs == seeds).all()
    for st, row in zip(steps[:-1], claim.itertuples()):
        recs = [json.loads(p.read_text()) for p in sorted((out / st.name / "runs").glob("*/summary.json"))]
        val = {(r["choices"]["activation"], r["seed"]): r["metrics"]["localization/pearson/fc1.weight"] for r in recs}
        x = np.array([val["relu", s] for s in range(seeds)])
        y = np.array([val["sigmoid", s] for s in range(seeds)])
        assert row.diff_mean == pytest.approx((x - y).mean(), rel=1e-5)
        assert row.p == pytest.approx(stats.ttest_rel(x, y).pvalue, rel=1e-5)
        assert row.relu_mean == pytest.approx(x.mean(), rel=1e-5)
        assert f"| {st.meta['lr']} | {seeds} |" in md
    table = pd.read_csv(ctx.docs / "pearson_by_lr_activation.csv")
    assert set(table.tensor) == {"fc1.weight", "fc1.bias", "fc2.weight", "phase1/test_acc"}
    assert (table.n == seeds).all() and len(table) == len(localization.LRS) * 2 * 4
    assert (ctx.docs / "pearson_fc1_weight.png").stat().st_size > 1000
    assert "3 seeds per cell" in md and "`threads=1`" in md and "model.lr=0.002" in md
