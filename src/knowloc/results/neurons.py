"""Ablation results: LeNet-5 on the embedded set, zero ablation of act3, knockout of one class.

``experiment=ablation`` (knowloc's default) and ``experiment=ablation_seed`` (the seed write-up's
protocol) over ``SEEDS`` seeds each (Hydra multiruns). Per seed: test accuracy, the
target class's accuracy before and after the knockout set is ablated, the set's size and units,
whether the constraints were met, the largest loss of any other class, and the largest drop of
the target class by one unit alone (``ablation/matrix/max_drop/<c>``); size: mean and t interval.
"""

from __future__ import annotations

import shutil

from knowloc.neurons import artefacts
from knowloc.records import config_value
from knowloc.results.report import Context, finished, fmt, fmt_ci, header, md_table, metric
from knowloc.results.steps import Step
from knowloc.stats import LOGIT, mean_ci, ranged_mean_ci

SEEDS = 5


#: preset name -> its experiment (knowloc's default and the seed write-up's protocol)
PRESETS = {"knowloc default": "ablation", "seed protocol": "ablation_seed"}


def steps(seeds: int) -> list[Step]:
    return [Step(exp, [f"experiment={exp}", f"seed=range({seeds})", "logger=csv"], multirun=True,
                 meta={"preset": name}) for name, exp in PRESETS.items()]


def _preset(ctx: Context, step: Step) -> tuple[list[str], list[dict]]:
    """The block lines of one preset and its rows."""
    import pandas as pd

    runs = ctx.runs(step.name)
    rows = []
    for folder, s in sorted(runs, key=lambda r: int(r[1]["seed"])):
        if s.get("status") != "finished":
            continue
        c = int(config_value(s, "callbacks.ablation.target_class"))
        ko = artefacts.read_knockout(folder)
        rows.append({"preset": step.meta["preset"], "seed": int(s["seed"]), "test_acc": metric(s, "test/acc"),
                     "target_class": c, "target_acc_before": metric(s, f"ablation/acc_before/{c}"),
                     "target_acc_after": metric(s, f"ablation/class_acc_after/{c}"),
                     "size": int(metric(s, "ablation/knockout/size")), "met": bool(metric(s, "ablation/knockout/met")),
                     "max_other_drop": metric(s, "ablation/knockout/max_other_drop"),
                     "max_single_unit_drop": metric(s, f"ablation/matrix/max_drop/{c}"),
                     "units": " ".join(map(str, ko.get("units", [])))})
    df = pd.DataFrame(rows)
    first, first_record = min(runs, key=lambda r: int(r[1]["seed"]))
    layer = config_value(first_record, "callbacks.ablation.layer")
    figs = []
    for src in (artefacts.KNOCKOUT_FIGURE.at(first), artefacts.MATRIX_FIGURE.at(first, layer=layer)):
        if src.is_file():
            dst = ctx.docs / f"{step.name}_seed{int(df.seed.min())}_{src.name}"
            shutil.copyfile(src, dst)
            ctx.files.append(dst)
            figs.append(dst)
    m, lo, hi, _ = mean_ci(df["size"].tolist())
    acc = tuple(100 * v for v in ranged_mean_ci(df["test_acc"].tolist(), method=LOGIT))  # logit t: stays in [0, 100]
    a = finished(runs)[0]
    cfg = {k: config_value(a, f"callbacks.ablation.{k}") for k in
           ("layer", "method", "target_class", "target_acc", "max_other_drop", "beam_width", "max_size")}
    table = md_table(["seed", "test acc %", f"class {cfg['target_class']} before → after %", "knockout size", "met",
                      "max other drop (points)", "largest single-unit drop (points)", "units (in order added)"],
                     [[r.seed, fmt(100 * r.test_acc, 1), f"{fmt(100 * r.target_acc_before, 1)} → "
                       f"{fmt(100 * r.target_acc_after, 1)}", r.size, "yes" if r.met else "NOT MET",
                       fmt(100 * r.max_other_drop, 1), fmt(100 * r.max_single_unit_drop, 1), r.units or "—"]
                      for r in df.itertuples()])
    lines = [
        f"**{step.meta['preset']}** (`experiment={PRESETS[step.meta['preset']]}`): knockout of class "
        f"{cfg['target_class']} ({cfg['method']} ablation of {cfg['layer']}; target: class accuracy below "
        f"{100 * cfg['target_acc']:g}% while no other class loses {100 * cfg['max_other_drop']:g} points or more; "
        f"beam {cfg['beam_width']}, at most {cfg['max_size']} units): constraints met in {int(df.met.sum())} of "
        f"{len(df)} seeds; knockout size mean {fmt(m, 1)}, 95% t interval [{fmt(lo, 1)}, {fmt(hi, 1)}]; test "
        f"accuracy {fmt_ci(*acc[:3], 1)} % (95% interval, t on the logit scale).", "", table, "",
        *(f"![{p.stem.replace('_', ' ')}]({ctx.link(p)})" for p in figs), ""]
    return lines, rows


def render(ctx: Context) -> str:
    import pandas as pd

    lines, rows, records = [], [], []
    for step in ctx.steps:
        records += [s for _, s in ctx.runs(step.name)]
        part, r = _preset(ctx, step)
        lines += part
        rows += r
    ctx.save_csv(pd.DataFrame(rows), "knockout_by_seed")
    return "\n".join([header(ctx, records), *lines,
                      f"Table: [neurons/knockout_by_seed.csv]({ctx.link(ctx.docs / 'knockout_by_seed.csv')}).", ""])
