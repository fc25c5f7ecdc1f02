"""Alignment results: where the search starts, at the input and the hidden layers, ReLU vs sigmoid.

Two sweeps of ``sweeps/alignment_activations.yaml`` over ``SEEDS`` seeds per activation:

* ``activations``: knowloc's defaults (layers 0, 1, 2; ``alignment.init=data``, 3 restarts: two data
  starts and one random start, Cayley rotations). Each job reports ``das`` (best restart by
  training-pair IIA) and ``das_random_start`` (the random restart alone) side by side.
* ``original``: the original DAS protocol (``alignment.init=random alignment.restarts=1
  alignment.orthogonal_map=matrix_exp alignment.lr_schedule=constant``), the search as it was before
  data starts.

Measure: IIA on label-changing held-out pairs (:func:`knowloc.alignment.artefacts.result_name`),
mean and 95% interval over seeds per activation (a t interval on the logit scale, so it stays in
[0, 1]); the paired difference (data-started minus original,
matched by seed: same network, same pairs) with its t interval; and how many networks reach the
issue's target at the input (label-changing IIA >= ``TARGET`` for a=b with k = 4).
"""

from __future__ import annotations

import pandas as pd

from knowloc.alignment.artefacts import result_name
from knowloc.results.report import Context, by_seed, finished, fmt, fmt_ci, fmt_p, header, md_table, paired
from knowloc.results.steps import Step
from knowloc.stats import LOGIT, ranged_mean_ci

SEEDS = 8
ACTIVATIONS = ("relu", "sigmoid")
ORIGINAL = ["alignment.init=random", "alignment.restarts=1", "alignment.orthogonal_map=matrix_exp",
            "alignment.lr_schedule=constant"]
#: (label, method, step): the methods of a table row (method as in the run's tables)
METHODS = [("DAS, data starts (default)", "das", "activations"),
           ("DAS, random start", "das_random_start", "activations"),
           ("DAS, original protocol", "das", "original"),
           ("best neurons", "identity", "activations"),
           ("random rotation", "random", "activations")]
VARIABLES = {"ab": "a=b", "cd": "c=d", "both": "both"}
#: (layer, size, variables) shown
ROWS = [(0, 4, ("ab", "cd", "both")), (0, 8, ("ab", "both")), (1, 4, ("ab", "cd", "both")),
        (1, 8, ("ab", "cd", "both")), (2, 4, ("ab", "both")), (2, 8, ("ab", "both"))]
#: the input cell of the issue's target, and its threshold
TARGET_CELL, TARGET = (0, 4, "ab"), 0.95


def steps(seeds: int) -> list[Step]:
    base = ["--config-dir", "sweeps", "--config-name", "alignment_activations", f"seed=range({seeds})", "logger=csv"]
    return [Step("activations", base, multirun=True), Step("original", base + ORIGINAL, multirun=True)]


def _name(method: str, layer: int, size: int, var: str) -> str:
    return result_name(method, "iia_changed", layer, size, var)


def _figure(pools):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), sharey=True)
    sizes = [1, 2, 4, 8]
    for ax, layer in zip(axes, (0, 1, 2)):
        for a, colour in zip(ACTIVATIONS, ("C0", "C1")):
            for (label, method, step), style in zip(METHODS[:3], ("-", "--", ":")):
                means = [ranged_mean_ci(list(by_seed(pools[step], _name(method, layer, k, "ab"),
                                                     activation=a).values()), method=LOGIT)[0] for k in sizes]
                ax.plot(sizes, means, style, color=colour, marker="o", label=f"{a}, {label}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(k) for k in sizes])
        ax.set_title(f"layer {layer}{' (input)' if layer == 0 else ''}, a=b")
        ax.set_xlabel("subspace size k")
    axes[0].set_ylabel("IIA, label-changing pairs (mean)")
    axes[2].legend(fontsize=6)
    fig.tight_layout()
    return fig


def render(ctx: Context) -> str:
    runs = {s.name: ctx.runs(s.name) for s in ctx.steps}
    pools = {name: finished(r) for name, r in runs.items()}
    rows = []
    md_rows = {a: [] for a in ACTIVATIONS}
    seeds_seen = {a: set() for a in ACTIVATIONS}
    for layer, size, variables in ROWS:
        for var in variables:
            line = {a: [f"{layer}", f"{size}", VARIABLES[var]] for a in ACTIVATIONS}
            for label, method, step in METHODS:
                name = _name(method, layer, size, var)
                for a in ACTIVATIONS:
                    vals = by_seed(pools[step], name, activation=a)
                    cell = ranged_mean_ci(list(vals.values()), method=LOGIT)
                    seeds_seen[a].add(len(vals))
                    rows.append({"layer": layer, "size": size, "variable": var, "method": label, "metric": name,
                                 "sweep": step, "activation": a, "mean": cell[0], "ci_low": cell[1],
                                 "ci_high": cell[2], "std": cell[3], "n": len(vals)})
                    line[a].append(fmt_ci(*cell[:3], 2))
            for a in ACTIVATIONS:
                md_rows[a].append(line[a])
    ctx.save_csv(pd.DataFrame(rows), "iia_changed")

    # paired: data-started search minus the original protocol (same network, same pairs)
    diff_rows, diff_md = [], []
    for layer, size, variables in ROWS:
        for var in variables:
            for a in ACTIVATIONS:
                new = by_seed(pools["activations"], _name("das", layer, size, var), activation=a)
                old = by_seed(pools["original"], _name("das", layer, size, var), activation=a)
                d = paired(new, old)
                diff_rows.append({"layer": layer, "size": size, "variable": var, "activation": a,
                                  **{k: v for k, v in d.items() if k != "diffs"}})
                diff_md.append([f"{layer}", f"{size}", VARIABLES[var], a,
                                fmt_ci(d["mean"], d["ci_low"], d["ci_high"], 3, sign=True), fmt_p(d["p"]), str(d["n"])])
    ctx.save_csv(pd.DataFrame(diff_rows), "data_minus_original_paired")

    layer, size, var = TARGET_CELL
    per_seed, target_lines = [], []
    for a in ACTIVATIONS:
        for label, method, step in METHODS[:3]:
            vals = by_seed(pools[step], _name(method, layer, size, var), activation=a)
            for s, v in sorted(vals.items()):
                per_seed.append({"activation": a, "method": label, "seed": s, "iia_changed": v})
            hit = sum(v >= TARGET for v in vals.values())
            target_lines.append(f"{a}, {label}: {hit} of {len(vals)} networks "
                                f"({', '.join(fmt(v, 3) for _, v in sorted(vals.items()))})")
    ctx.save_csv(pd.DataFrame(per_seed), "per_seed_input_size4_ab")
    fig = ctx.save_figure(_figure(pools), "iia_vs_size")
    return "\n".join([
        header(ctx, [s for r in runs.values() for _, s in r]),
        "IIA on label-changing held-out pairs (a no-op scores 0), mean [95% interval: t on the logit scale] over "
        "seeds (seeds "
        "per activation in the last column). Layer 0 is the input [a, b, c, d]; layer 2 is the last hidden "
        "layer, where any interchange is bounded (IIA on all pairs <= 0.75).", "",
        *[part for a in ACTIVATIONS for part in (
            f"**{a}** ({'/'.join(str(n) for n in sorted(seeds_seen[a]))} networks):", "",
            md_table(["layer", "k", "variable", *(label for label, _, _ in METHODS)], md_rows[a]), "")],
        f"Input, k={size}, {VARIABLES[var]}: networks whose label-changing IIA reaches {TARGET} "
        "(per seed in parentheses):", "",
        *[f"- {line}" for line in target_lines], "",
        "Data-started search minus the original protocol, paired by seed (same network and pairs): "
        "mean difference [95% t interval], paired t-test p-value:", "",
        md_table(["layer", "k", "variable", "activation", "difference", "p", "pairs"], diff_md), "",
        f"![IIA vs subspace size]({ctx.link(fig)})", "",
        "Tables: " + ", ".join(f"[{p.name}]({ctx.link(p)})" for p in ctx.files if p.suffix == ".csv") + ".", ""])
