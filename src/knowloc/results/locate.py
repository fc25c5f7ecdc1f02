"""Locate results: which cheap signal predicts the causal effect of ablating units, per net and activation.

One sweep, ``sweeps/locate_activations.yaml`` restricted to ``MODELS`` x ``ACTIVATIONS`` over ``SEEDS``
seeds (``experiment=locate``: train the net, then every method's per-unit scores on it). Measures per
run: ``locate/area/<method>`` (area under selectivity(k), k = 1..K: drop of the target class minus the
mean drop of the others when the method's top-k units are ablated) and
``locate/spearman_vs_ablation/<method>`` (rank agreement with the single-unit ablation drop). Reported:
mean and 95% t interval over seeds per (net, activation) and method; each predictor minus the random
ranking, paired by seed, with Holm-adjusted p-values over the predictors of a cell.
"""

from __future__ import annotations

import pandas as pd

from knowloc.locate.options import METHODS, PREDICTORS
from knowloc.results.report import Context, by_seed, finished, fmt_ci, fmt_p, header, md_table, paired
from knowloc.results.steps import Step
from knowloc.stats import holm, mean_ci

SEEDS = 5
MODELS = ("mlp", "lenet5")
ACTIVATIONS = ("relu", "sigmoid")
#: level of the paired test against the random ranking (Holm-adjusted over the predictors of a cell)
ALPHA = 0.05


def steps(seeds: int) -> list[Step]:
    return [Step("sweep", ["--config-dir", "sweeps", "--config-name", "locate_activations",
                           f"model={','.join(MODELS)}", f"activation={','.join(ACTIVATIONS)}",
                           f"seed=range({seeds})", "logger=csv"], multirun=True)]


def render(ctx: Context) -> str:
    runs = ctx.runs(ctx.steps[0].name)
    recs = finished(runs)
    rows, md_area, md_rho, md_diff, verdicts = [], [], [], [], []
    for model in MODELS:
        for act in ACTIVATIONS:
            where = {"activation": act}
            cell = [r for r in recs if (r.get("choices") or {}).get("model") == model]
            area_line, rho_line = [model, act], [model, act]
            for method in METHODS:
                a = by_seed(cell, f"locate/area/{method}", **where)
                r = by_seed(cell, f"locate/spearman_vs_ablation/{method}", **where)
                ma, ra = mean_ci(list(a.values())), mean_ci(list(r.values()))
                rows.append({"model": model, "activation": act, "method": method, "n": len(a),
                             "area_mean": ma[0], "area_ci_low": ma[1], "area_ci_high": ma[2],
                             "spearman_mean": ra[0], "spearman_ci_low": ra[1], "spearman_ci_high": ra[2]})
                area_line.append(fmt_ci(*ma[:3], 3))
                if method != "ablation":
                    rho_line.append(fmt_ci(*ra[:3], 2))
            area_line.append(str(len(by_seed(cell, "locate/area/random", **where))))
            md_area.append(area_line)
            md_rho.append(rho_line)
            rnd = by_seed(cell, "locate/area/random", **where)
            diffs = {m: paired(by_seed(cell, f"locate/area/{m}", **where), rnd) for m in PREDICTORS}
            adj = dict(zip(PREDICTORS, holm([diffs[m]["p"] for m in PREDICTORS])))
            best = max(PREDICTORS, key=lambda m: diffs[m]["mean"] if diffs[m]["n"] else float("-inf"))
            beats = [m for m in PREDICTORS if diffs[m]["n"] > 1 and diffs[m]["mean"] > 0 and adj[m] < ALPHA]
            verdicts.append(f"{model}, {act}: " + (f"{', '.join(beats)} beat{'s' if len(beats) == 1 else ''} the "
                                                    f"random ranking (Holm-adjusted p < {ALPHA}); highest mean area: "
                                                    f"{best}" if beats else
                                                    f"no predictor beats the random ranking (Holm-adjusted p < "
                                                    f"{ALPHA}); highest mean area: {best}"))
            for m in PREDICTORS:
                d = diffs[m]
                md_diff.append([model, act, m + (" (best mean)" if m == best else ""),
                                fmt_ci(d["mean"], d["ci_low"], d["ci_high"], 3, sign=True), fmt_p(d["p"]),
                                fmt_p(adj[m]), str(d["n"])])
    ctx.save_csv(pd.DataFrame(rows), "locate_by_method")
    predictors = [m for m in METHODS if m != "ablation"]
    return "\n".join([
        header(ctx, [s for _, s in runs]),
        "Area under selectivity(k), k = 1..K (drop of the target class minus the mean drop of the other classes "
        "when a method's top-k units are ablated; higher = the method finds the units that carry the class). "
        "`ablation` ranks by the single-unit drop itself (the causal measure), `random` is the floor. "
        "Mean [95% t interval] over seeds:", "",
        md_table(["net", "activation", *METHODS, "seeds"], md_area), "",
        "Each predictor minus the random ranking, paired by seed (same net), with the paired t-test p and "
        "Holm's adjustment over the five predictors of a row group:", "",
        md_table(["net", "activation", "method", "area − random", "p", "p (Holm)", "pairs"], md_diff), "",
        "What this shows, per net and activation (generated from the table above):", "",
        *[f"- {v}" for v in verdicts], "",
        "Spearman correlation of each method's unit scores with the single-unit ablation drop (mean [95% t "
        "interval] over seeds):", "",
        md_table(["net", "activation", *predictors], md_rho), "",
        "Tables: " + ", ".join(f"[{p.name}]({ctx.link(p)})" for p in ctx.files if p.suffix == ".csv") + ".", ""])
