"""Localization results: learning rate x activation x seed, the stacked engine, one job per lr.

Grid: ``LRS`` x ``ACTIVATIONS`` x ``SEEDS`` seeds (``experiment=localization_stack``; ``model.lr``
is one number per job, so one stacked job per learning rate). The seed write-up's claim, "ReLU
shows a clear positive correlation (r vs d of fc1.weight), sigmoid does not", is judged per
learning rate, paired by seed: Δ_s = ρ_s(relu) − ρ_s(sigmoid), mean Δ with its 95% t interval and
the paired t-test's p. It *holds* at a learning rate when ReLU's interval lies above 0, sigmoid's
does not, and Δ's interval lies above 0.
"""

from __future__ import annotations

import shutil

from knowloc.localization import artefacts
from knowloc.results.report import (Context, by_seed, finished, fmt, fmt_ci, fmt_p, group_stats, header, md_table,
                                    paired)
from knowloc.results.steps import Step

LRS = (0.002, 0.005, 0.01)
ACTIVATIONS = ("relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid")
SEEDS = 50
TENSORS = ("fc1.weight", "fc1.bias", "fc2.weight")
CLAIM = ("relu", "sigmoid")
#: the single run whose pixel map is shown
PIXEL_MAP = {"activation": "relu", "seed": 0, "lr": 0.01}


def steps(seeds: int) -> list[Step]:
    acts = "[" + ",".join(ACTIVATIONS) + "]"
    out = [Step(f"lr{lr}", ["experiment=localization_stack", f"model.lr={lr}", f"stack.activations={acts}",
                            f"stack.seeds=[{','.join(map(str, range(seeds)))}]", "logger=csv"], meta={"lr": lr})
           for lr in LRS]
    pm = PIXEL_MAP
    out.append(Step("pixel_map", ["experiment=localization", f"activation={pm['activation']}", f"seed={pm['seed']}",
                                  f"model.lr={pm['lr']}", "logger=csv"]))
    return out


def _stats_rows(ctx: Context):
    import pandas as pd

    frames = []
    for st in ctx.steps[:-1]:
        for tensor in TENSORS:
            df = group_stats([ctx.out / st.name / "runs"], ["activation"], f"localization/pearson/{tensor}")
            frames.append(df.assign(lr=st.meta["lr"], tensor=tensor))
        df = group_stats([ctx.out / st.name / "runs"], ["activation"], "phase1/test_acc")
        frames.append(df.assign(lr=st.meta["lr"], tensor="phase1/test_acc"))
    table = pd.concat(frames, ignore_index=True)
    order = {a: i for i, a in enumerate(ACTIVATIONS)}
    table = table.sort_values(["lr", "activation"], key=lambda c: c.map(order) if c.name == "activation" else c,
                              kind="stable", ignore_index=True)
    cols = ["lr", "activation", "tensor", "n", "mean", "ci_low", "ci_high", "std", "n_skipped"]
    return table[cols]


def _claim(ctx: Context, table):
    import pandas as pd

    rows = []
    for st in ctx.steps[:-1]:
        recs = finished(ctx.runs(st.name, "runs"))
        a = by_seed(recs, "localization/pearson/fc1.weight", activation=CLAIM[0])
        b = by_seed(recs, "localization/pearson/fc1.weight", activation=CLAIM[1])
        d = paired(a, b)
        cell = table[(table.lr == st.meta["lr"]) & (table.tensor == "fc1.weight")].set_index("activation")
        ra, rb = cell.loc[CLAIM[0]], cell.loc[CLAIM[1]]
        holds = bool(ra.ci_low > 0 and not rb.ci_low > 0 and d["ci_low"] > 0)
        rows.append({"lr": st.meta["lr"], "n_pairs": d["n"], f"{CLAIM[0]}_mean": ra["mean"],
                     f"{CLAIM[0]}_ci_low": ra.ci_low, f"{CLAIM[0]}_ci_high": ra.ci_high, f"{CLAIM[1]}_mean": rb["mean"],
                     f"{CLAIM[1]}_ci_low": rb.ci_low, f"{CLAIM[1]}_ci_high": rb.ci_high, "diff_mean": d["mean"],
                     "diff_ci_low": d["ci_low"], "diff_ci_high": d["ci_high"], "diff_std": d["std"], "p": d["p"],
                     "holds": holds})
    return pd.DataFrame(rows)


def _figure(ctx: Context, table):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    t = table[table.tensor == "fc1.weight"]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    width = 0.8 / len(LRS)
    for i, lr in enumerate(LRS):
        c = t[t.lr == lr].set_index("activation").reindex(list(ACTIVATIONS))
        x = np.arange(len(ACTIVATIONS)) + (i - (len(LRS) - 1) / 2) * width
        err = [np.nan_to_num(c["mean"] - c.ci_low), np.nan_to_num(c.ci_high - c["mean"])]
        ax.bar(x, c["mean"], width, yerr=err, capsize=3, label=f"lr {lr}")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(range(len(ACTIVATIONS)), ACTIVATIONS)
    ax.set_ylabel("Pearson r vs d (fc1.weight)")
    ax.set_title(f"mean and 95% t interval over {ctx.seeds} seeds per bar")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def render(ctx: Context) -> str:
    table = _stats_rows(ctx)
    claim = _claim(ctx, table)
    ctx.save_csv(table, "pearson_by_lr_activation")
    ctx.save_csv(claim, "claim_relu_vs_sigmoid")
    fig = ctx.save_figure(_figure(ctx, table), "pearson_fc1_weight")
    pm_src = artefacts.PIXEL_MAP.at(ctx.out / "pixel_map")
    pm = ctx.docs / f"pixel_map_{PIXEL_MAP['activation']}_seed{PIXEL_MAP['seed']}_lr{PIXEL_MAP['lr']}.png"
    shutil.copyfile(pm_src, pm)
    ctx.files.append(pm)

    recs = [s for st in ctx.steps[:-1] for s in (r for _, r in ctx.runs(st.name, "runs"))]
    recs += [r for _, r in ctx.runs("pixel_map")]
    rows = []
    for _, g in table.groupby(["lr", "activation"], sort=False):
        cells = g.set_index("tensor")
        w = cells.loc["fc1.weight"]
        rows.append([w.lr, w.activation, int(w.n), fmt_ci(w["mean"], w.ci_low, w.ci_high), fmt(w["std"]),
                     *(fmt_ci(cells.loc[t]["mean"], cells.loc[t].ci_low, cells.loc[t].ci_high) for t in TENSORS[1:]),
                     fmt(100 * cells.loc["phase1/test_acc"]["mean"], 1)])
    grid = md_table(["lr", "activation", "n", "fc1.weight: mean r vs d [95% CI]", "std", "fc1.bias [95% CI]",
                     "fc2.weight [95% CI]", "phase-1 test acc %"], rows)
    a, b = CLAIM
    crow = [[r.lr, int(r.n_pairs), fmt_ci(r[f"{a}_mean"], r[f"{a}_ci_low"], r[f"{a}_ci_high"]),
             fmt_ci(r[f"{b}_mean"], r[f"{b}_ci_low"], r[f"{b}_ci_high"]),
             fmt_ci(r.diff_mean, r.diff_ci_low, r.diff_ci_high, sign=True), fmt_p(r.p),
             "holds" if r.holds else "does not hold"] for _, r in claim.iterrows()]
    claim_md = md_table(["lr", "seeds (pairs)", f"{a} [95% CI]", f"{b} [95% CI]", f"{a} − {b}, paired [95% CI]",
                         "p (paired t)", "claim"], crow)
    failed = sum(1 for s in recs if s.get("status") != "finished")
    return "\n".join([
        header(ctx, recs),
        f"**The seed's claim, per learning rate** (Pearson r vs d of fc1.weight; {a} − {b} paired by seed; "
        f"\"holds\" = {a}'s interval above 0, {b}'s not, and the paired difference's interval above 0):", "",
        claim_md, "",
        f"**Every cell** ({len(ACTIVATIONS)} activations x {len(LRS)} learning rates x {ctx.seeds} seeds; "
        f"mean and 95% t interval over seeds; {failed} of {len(recs)} runs not finished):", "",
        grid, "",
        f"![r-vs-d correlation of fc1.weight by activation and learning rate]({ctx.link(fig)})",
        f"![pixel map, {PIXEL_MAP['activation']} seed {PIXEL_MAP['seed']}, lr {PIXEL_MAP['lr']}]({ctx.link(pm)})", "",
        f"Tables: [{ctx.docs.name}/pearson_by_lr_activation.csv]({ctx.link(ctx.docs / 'pearson_by_lr_activation.csv')}), "
        f"[claim_relu_vs_sigmoid.csv]({ctx.link(ctx.docs / 'claim_relu_vs_sigmoid.csv')}).", ""])
