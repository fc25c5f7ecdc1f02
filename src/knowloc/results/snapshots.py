"""Trained vs frozen conv layers (and how far the trained weights move) on the embedded set.

For each preset in ``PRESETS`` (the one place to edit: name -> overrides), one multirun
``<preset> +snapshots=default freeze=none,conv`` over ``SEEDS`` seeds and ``EPOCHS``
epochs. Reported: test accuracy per arm (mean, t interval), the gap trained − frozen paired by
seed (mean, t interval, paired t-test p), and the trained arm's change of every layer from
initialisation after the last epoch: relative L2 ‖W_T − W_0‖/‖W_0‖, cosine(W_T, W_0) and the
fraction of weights whose sign flipped.
"""

from __future__ import annotations

import shutil

from knowloc.results.report import (Context, by_seed, finished, fmt, fmt_ci, fmt_p, header, md_table, paired)
from knowloc.results.steps import Step
from knowloc.snapshots.artefacts import CHANGES_FIGURE
from knowloc.stats import LOGIT, mean_ci, ranged_mean_ci

SEEDS = 5
EPOCHS = 5
#: preset name -> its overrides, the experiment included (the seed-protocol preset goes here as a second
#: entry, e.g. "seed protocol": ["experiment=<its preset>"]); each preset is one multirun
PRESETS: dict[str, list[str]] = {
    "knowloc default": ["experiment=freeze"],
    "seed protocol": ["experiment=freeze_seed"],
    "He init, [0, 1] inputs": ["experiment=freeze", "model.net.init=he", "data.scaling=unit"],
}
LAYERS = ("conv1", "conv2", "fc1", "fc2")
MEASURES = {"rel_dist_init": "relative L2 from init", "cos_init": "cosine to init", "sign_flip_init": "signs flipped"}


def _slug(name: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in name).strip("_")


def steps(seeds: int) -> list[Step]:
    return [Step(_slug(name), [*extra, "+snapshots=default", "freeze=none,conv", f"seed=range({seeds})",
                               f"trainer.max_epochs={EPOCHS}", "logger=csv"], multirun=True,
                 meta={"preset": name}) for name, extra in PRESETS.items()]


def render(ctx: Context) -> str:
    import pandas as pd

    acc_rows, gap_rows, change_rows, records = [], [], [], []
    for st in ctx.steps:
        runs = ctx.runs(st.name)
        records += [s for _, s in runs]
        recs = finished(runs)
        arms = {arm: by_seed(recs, "test/acc", freeze=arm) for arm in ("none", "conv")}
        for arm, vals in arms.items():
            m, lo, hi, sd = (100 * v for v in ranged_mean_ci(list(vals.values()), method=LOGIT))  # stays in [0, 100]
            acc_rows.append({"preset": st.meta["preset"], "freeze": arm, "n": len(vals), "mean": m, "ci_low": lo,
                             "ci_high": hi, "std": sd})
        d = paired({k: 100 * v for k, v in arms["none"].items()}, {k: 100 * v for k, v in arms["conv"].items()})
        gap_rows.append({"preset": st.meta["preset"], **{k: d[k] for k in ("n", "mean", "ci_low", "ci_high", "std", "p")},
                         "per_seed": " ".join(f"{v:+.2f}" for v in d["diffs"].values())})
        for layer in LAYERS:
            for key in MEASURES:
                vals = list(by_seed(recs, f"snapshots/{layer}/{key}", freeze="none").values())
                m, lo, hi, sd = mean_ci(vals)
                change_rows.append({"preset": st.meta["preset"], "layer": layer, "measure": key, "n": len(vals),
                                    "mean": m, "ci_low": lo, "ci_high": hi, "std": sd})
        trained = sorted((int(s["seed"]), f) for f, s in runs if s.get("status") == "finished"
                         and s.get("choices", {}).get("freeze") == "none" and CHANGES_FIGURE.exists(f))
        if trained:
            dst = ctx.docs / f"changes_{st.name}_seed{trained[0][0]}.png"
            shutil.copyfile(CHANGES_FIGURE.at(trained[0][1]), dst)
            ctx.files.append(dst)
    acc, gap, change = pd.DataFrame(acc_rows), pd.DataFrame(gap_rows), pd.DataFrame(change_rows)
    ctx.save_csv(acc, "test_acc_by_arm")
    ctx.save_csv(gap, "gap_trained_minus_frozen")
    ctx.save_csv(change, "changes_from_init")
    arm_name = {"none": "trained (`freeze=none`)", "conv": "frozen at init (`freeze=conv`)"}
    acc_md = md_table(["preset", "conv layers", "n", "test accuracy % [95% CI]", "std"],
                      [[r.preset, arm_name[r.freeze], r.n, fmt_ci(r.mean, r.ci_low, r.ci_high, 2), fmt(r.std, 2)]
                       for r in acc.itertuples()])
    gap_md = md_table(["preset", "seeds (pairs)", "trained − frozen, points [95% CI]", "p (paired t)", "per seed"],
                      [[r.preset, r.n, fmt_ci(r.mean, r.ci_low, r.ci_high, 2, sign=True), fmt_p(r.p), r.per_seed]
                       for r in gap.itertuples()])
    rows = []
    for (preset, layer), g in change.groupby(["preset", "layer"], sort=False):
        c = g.set_index("measure")
        rows.append([preset, layer, *(fmt_ci(c.loc[k]["mean"], c.loc[k].ci_low, c.loc[k].ci_high) for k in MEASURES)])
    change_md = md_table(["preset", "layer (trained arm)", *MEASURES.values()], rows)
    figs = [p for p in ctx.files if p.suffix == ".png"]
    return "\n".join([
        header(ctx, records),
        f"Embedded MNIST subset, {EPOCHS} epochs, seeds 0-{ctx.seeds - 1}; test accuracy, mean and 95% interval "
        "(t on the logit scale, so it stays in [0, 100]):", "",
        acc_md, "", "Paired by seed:", "", gap_md, "",
        f"How far the trained arm's weights moved from initialisation after {EPOCHS} epochs (mean [95% CI] over seeds):",
        "", change_md, "",
        *(f"![weight changes, {p.stem.replace('_', ' ')}]({ctx.link(p)})" for p in figs), "",
        "Tables: " + ", ".join(f"[{p.name}]({ctx.link(p)})" for p in ctx.files if p.suffix == ".csv") + ".", ""])
