"""Alignment results: DAS vs best neurons vs a random rotation, ReLU vs sigmoid networks.

The sweep ``sweeps/alignment_activations.yaml`` (default settings) over ``SEEDS`` seeds, and the
same with ``alignment.restarts=3``. Measure: IIA on label-changing held-out pairs
(``alignment/<method>iia_changed/layer<L>/size<k>/<variable>``), mean and 95% t interval over
seeds per activation; rows as in ``ROWS``.
"""

from __future__ import annotations

import pandas as pd

from knowloc.results.report import Context, by_seed, finished, fmt, fmt_ci, header, md_table
from knowloc.results.steps import Step
from knowloc.stats import mean_ci

SEEDS = 5
ACTIVATIONS = ("relu", "sigmoid")
RESTARTS = 3
METHODS = {"": "DAS", "identity_": "best neurons", "random_": "random rotation"}
VARIABLES = {"ab": "a=b", "cd": "c=d", "both": "both"}
#: (layer, size, methods shown): every method at k=8, DAS alone at the smaller sizes
ROWS = [(layer, size, tuple(METHODS) if size == 8 else ("",)) for layer in (1, 2) for size in (8, 4, 1)]
#: the cell shown per seed and with restarts
FOCUS = (1, 8, "both")


def steps(seeds: int) -> list[Step]:
    base = ["--config-dir", "sweeps", "--config-name", "alignment_activations", f"seed=range({seeds})", "logger=csv"]
    return [Step("activations", base, multirun=True),
            Step(f"restarts{RESTARTS}", base + [f"alignment.restarts={RESTARTS}"], multirun=True)]


def _cell(recs, name: str) -> dict[str, tuple]:
    return {a: mean_ci(list(by_seed(recs, name, activation=a).values())) + (len(by_seed(recs, name, activation=a)),)
            for a in ACTIVATIONS}


def _figure(recs):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
    sizes = sorted({k for _, k, _ in ROWS})
    for ax, layer in zip(axes, (1, 2)):
        for a, colour in zip(ACTIVATIONS, ("C0", "C1")):
            for prefix, style in zip(METHODS, ("-", "--", ":")):
                means = [mean_ci(list(by_seed(recs, f"alignment/{prefix}iia_changed/layer{layer}/size{k}/both",
                                              activation=a).values()))[0] for k in sizes]
                ax.plot(sizes, means, style, color=colour, marker="o", label=f"{a}, {METHODS[prefix]}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(k) for k in sizes])
        ax.set_title(f"layer {layer}, both variables")
        ax.set_xlabel("subspace size k")
    axes[0].set_ylabel("IIA, label-changing pairs (mean)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def render(ctx: Context) -> str:
    main_runs, restart_runs = ctx.runs(ctx.steps[0].name), ctx.runs(ctx.steps[1].name)
    recs, rrecs = finished(main_runs), finished(restart_runs)
    rows, md_rows = [], []

    def add(label, name, pool, setting):
        cell = _cell(pool, name)
        rows.append({"measure": label, "setting": setting, "metric": name,
                     **{f"{a}_{k}": v for a in ACTIVATIONS for k, v in zip(("mean", "ci_low", "ci_high", "std", "n"),
                                                                           cell[a])}})
        md_rows.append([label + ("" if setting == "default" else f" ({setting})"),
                        *(fmt_ci(*cell[a][:3], 2) for a in ACTIVATIONS), "/".join(str(cell[a][4]) for a in ACTIVATIONS)])

    add("network test accuracy", "alignment/network/test_acc", recs, "default")
    for layer, size, methods in ROWS:
        for var, vname in VARIABLES.items():
            for prefix in methods:
                add(f"layer {layer}, k={size}, {vname}: {METHODS[prefix]}",
                    f"alignment/{prefix}iia_changed/layer{layer}/size{size}/{var}", recs, "default")
    layer, size, var = FOCUS
    add(f"layer {layer}, k={size}, {VARIABLES[var]}: DAS", f"alignment/iia_changed/layer{layer}/size{size}/{var}",
        rrecs, f"alignment.restarts={RESTARTS}")
    table = pd.DataFrame(rows)
    ctx.save_csv(table, "iia_changed")
    focus = f"alignment/iia_changed/layer{layer}/size{size}/{var}"
    per_seed = pd.DataFrame([{"activation": a, "seed": k, "iia_changed": v}
                             for a in ACTIVATIONS for k, v in sorted(by_seed(recs, focus, activation=a).items())])
    ctx.save_csv(per_seed, "per_seed_layer1_size8_both")
    fig = ctx.save_figure(_figure(recs), "iia_vs_size")
    seeds_txt = "; ".join(f"{a}: " + ", ".join(fmt(v, 2) for v in per_seed[per_seed.activation == a].iia_changed)
                          for a in ACTIVATIONS)
    return "\n".join([
        header(ctx, [s for _, s in main_runs + restart_runs]),
        "IIA on label-changing held-out pairs (a no-op scores 0), mean [95% t interval] over seeds:", "",
        md_table(["measure", *ACTIVATIONS, "seeds"], md_rows), "",
        f"Per seed, layer {layer}, k={size}, {VARIABLES[var]}, DAS ({', '.join(ACTIVATIONS)} in seed order): {seeds_txt}.",
        "", f"![IIA vs subspace size]({ctx.link(fig)})", "",
        "Tables: " + ", ".join(f"[{p.name}]({ctx.link(p)})" for p in ctx.files if p.suffix == ".csv") + ".", ""])
