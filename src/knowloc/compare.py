"""``knowloc compare PATH ... --by KEY --metric NAME``: a table over runs, with intervals kept in range.

Reads the local records (``summary.json``) under each PATH (a sweep folder, run folders), groups
finished runs by the value of each ``--by`` key (a Hydra group such as ``activation`` or a dotted
config key such as ``model.optimizer.lr``) and reports per group n, mean, interval and std.
Runs pooled in one group must not differ in other config keys (seed aside) unless ``--allow-mixed``.
``--paired --baseline VALUE`` reports, per variant, the mean of the per-seed differences against the
baseline group with its t interval, p-value and Holm-adjusted p. Two ``--by`` keys also give a rows x
columns grid and a heat map. Needs no W&B. From Python: :func:`compare`, :func:`compare_paired`,
:func:`grid`.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import sys
from pathlib import Path
from typing import Sequence

from knowloc.errors import ConfigValueError, UserError
from knowloc.records import config_value, scan_runs
from knowloc.stats import holm, interval_method, paired_t, ranged_mean_ci

#: config subtrees and leaf names that are bookkeeping, not treatment (never "mixed", never a factor)
BOOKKEEPING_ROOTS = {"paths", "hydra", "logger", "tags", "task_name", "resume", "threads"}
BOOKKEEPING_LEAVES = {"seed", "enable_progress_bar", "enable_model_summary", "log_every_n_steps", "num_workers",
                      "root", "download", "save_dir", "dirpath", "data_dir", "output_dir", "log_dir"}
BOOKKEEPING_GROUPS = {"paths", "logger", "hydra", "callbacks", "trainer"}


def _metric(summary: dict, name: str):
    v = summary.get("metrics", {}).get(name)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def _flat(node, prefix: str = ""):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _flat(v, f"{prefix}{k}.")
    else:
        yield prefix[:-1], node


def _treatment(summary: dict) -> dict[str, str]:
    """A run's config as ``{dotted key: JSON text}``, bookkeeping left out (folders, loggers, seeds)."""
    out_dir = str((summary.get("config") or {}).get("paths", {}).get("output_dir") or "\0")
    out = {}
    for k, v in _flat(summary.get("config") or {}):
        parts = k.split(".")
        if parts[0] in BOOKKEEPING_ROOTS or parts[-1] in BOOKKEEPING_LEAVES:
            continue
        if isinstance(v, str) and out_dir in v:
            continue
        out[k] = json.dumps(v, sort_keys=True)
    return out


def _covered(key: str, keys: Sequence[str]) -> bool:
    return any(key == b or key.startswith(b + ".") for b in keys)


def differing(summaries: Sequence[dict], exclude: Sequence[str] = ()) -> dict[str, list[str]]:
    """``{key: distinct values}`` of the config keys that differ between ``summaries`` (bookkeeping
    and the ``exclude`` keys with their subtrees left out)."""
    flats = [_treatment(s) for s in summaries]
    keys = sorted({k for f in flats for k in f})
    out = {}
    for k in keys:
        if _covered(k, exclude):
            continue
        vals = sorted({f.get(k, "(absent)") for f in flats})
        if len(vals) > 1:
            out[k] = vals
    return out


def varying_keys(summaries: Sequence[dict]) -> list[str]:
    """Hydra group choices and config keys that take more than one value across the runs."""
    groups = sorted({g for s in summaries for g in (s.get("choices") or {}) if g not in BOOKKEEPING_GROUPS
                     and len({str((s2.get("choices") or {}).get(g)) for s2 in summaries}) > 1})
    return groups + [k for k in differing(summaries) if k not in groups]


class Records:
    """The run records under some paths: ``runs`` [(folder, summary)], ``damaged`` [(file, reason)]."""

    def __init__(self, paths: Sequence[str | Path]):
        self.paths = [str(p) for p in paths]
        self.runs, self.damaged = scan_runs(paths)
        if not self.runs:
            extra = f" ({len(self.damaged)} damaged record(s): {self.damaged[0][0]})" if self.damaged else ""
            raise UserError(f"no run records (summary.json) under {', '.join(self.paths)}{extra}")

    def check_by(self, by: Sequence[str]) -> None:
        """A ``--by`` key that no run has is an error listing the keys that vary (closest first)."""
        summaries = [s for _, s in self.runs]
        for b in by:
            if all(config_value(s, b) is None for s in summaries):
                keys = varying_keys(summaries)
                close = difflib.get_close_matches(b, keys, n=len(keys), cutoff=0.0)
                allowed = ("a key the runs have; keys that vary across these runs: " + ", ".join(close)
                           if close else "a key the runs have (nothing varies across these runs besides the seed)")
                raise ConfigValueError("--by", b, allowed)

    def groups(self, by: Sequence[str], metric: str, include_failed: bool):
        """``{key tuple: [(summary, value)]}`` of usable runs and ``{key tuple: n skipped}``."""
        groups: dict[tuple, list[tuple[dict, float]]] = {}
        skipped: dict[tuple, int] = {}
        for _, s in self.runs:
            key = tuple(str(config_value(s, b)) for b in by)
            v = _metric(s, metric)
            ok = s.get("status") == "finished" or include_failed
            if v is None or not ok or not math.isfinite(v):
                skipped[key] = skipped.get(key, 0) + 1
                continue
            groups.setdefault(key, []).append((s, v))
        if not groups:
            known = sorted({k for _, s in self.runs for k in s.get("metrics", {})})
            raise UserError(f"--metric {metric!r}: no finished run has it; metrics present: {', '.join(known) or 'none'}")
        return groups, skipped


def _mixed_text(mixed: dict[str, list[str]]) -> str:
    return "; ".join(f"{k} ({', '.join(v)})" for k, v in mixed.items())


def _guard(groups: dict, by: Sequence[str], replicate: str, allow_mixed: bool) -> dict[tuple, str]:
    """Per group, the keys its runs differ in besides ``by`` and the replicate key; an error unless allowed."""
    mixed = {k: differing([s for s, _ in runs], list(by) + [replicate]) for k, runs in groups.items()}
    bad = {k: m for k, m in mixed.items() if m}
    if bad and not allow_mixed:
        parts = [f"{', '.join(f'{b}={v}' for b, v in zip(by, k))}: {_mixed_text(m)}" for k, m in bad.items()]
        keys = sorted({key for m in bad.values() for key in m})
        raise UserError(f"runs pooled in one group differ in more than --by and {replicate}: {' | '.join(parts)}; "
                        f"add the key to --by (--by {keys[0]}) or pass --allow-mixed to pool them anyway")
    return {k: _mixed_text(m) for k, m in mixed.items()}


def compare(paths: Sequence[str | Path], by: Sequence[str], metric: str, level: float = 0.95,
            include_failed: bool = False, allow_mixed: bool = False, interval: str = "auto"):
    """Rows ``{group..., metric, n, mean, ci_low, ci_high, std, n_skipped, interval, mixed, note}``.

    ``interval`` (see :func:`knowloc.stats.ranged_mean_ci`): ``auto`` = logit t for accuracies,
    Fisher-z t for correlations, t otherwise; or ``logit`` / ``fisher`` / ``t``. ``df.attrs`` holds
    ``damaged`` (records that could not be read) and ``level``.
    """
    import pandas as pd

    recs = Records(paths)
    recs.check_by(by)
    groups, skipped = recs.groups(by, metric, include_failed)
    mixed = _guard(groups, by, "seed", allow_mixed)
    method = interval_method(metric, [v for runs in groups.values() for _, v in runs], interval)
    rows = []
    for key in sorted(set(groups) | set(skipped)):
        vals = [v for _, v in groups.get(key, [])]
        m, lo, hi, sd = ranged_mean_ci(vals, level, method)
        note = ("n=1: no interval (an interval needs two or more runs to estimate the spread)" if len(vals) == 1
                else "no usable run" if not vals else "")
        rows.append({**dict(zip(by, key)), "metric": metric, "n": len(vals), "mean": m, "ci_low": lo, "ci_high": hi,
                     "std": sd, "n_skipped": skipped.get(key, 0), "interval": f"{method} {level:.0%}",
                     "mixed": mixed.get(key, ""), "note": note})
    df = pd.DataFrame(rows)
    df.attrs.update(damaged=[(str(p), r) for p, r in recs.damaged], level=level)
    return df


def compare_paired(paths: Sequence[str | Path], by: Sequence[str], metric: str, baseline: str,
                   pair_by: str = "seed", level: float = 0.95, include_failed: bool = False,
                   allow_mixed: bool = False):
    """Per variant group: the mean of the per-pair differences (variant - baseline; pairs share
    ``pair_by``, the seed by default) with its paired t interval, two-sided p, and Holm-adjusted p
    over the variants (:func:`knowloc.stats.paired_t`, :func:`knowloc.stats.holm`).

    Rows ``{group..., baseline, metric, n_pairs, mean_diff, ci_low, ci_high, std_diff, t, p, p_holm,
    n_unpaired, interval, mixed, note}``.
    """
    import pandas as pd

    recs = Records(paths)
    recs.check_by(list(by) + [pair_by])
    groups, _ = recs.groups(by, metric, include_failed)
    mixed = _guard(groups, by, pair_by, allow_mixed)
    label = {k: " / ".join(k) for k in groups}
    base = next((k for k in groups if label[k] == str(baseline)), None)
    if base is None:
        raise ConfigValueError("--baseline", baseline, "a group with finished runs: " + ", ".join(sorted(label.values())))

    def by_pair(key):
        out = {}
        for s, v in groups[key]:
            p = str(config_value(s, pair_by))
            if p in out:
                raise UserError(f"group {label[key]} has two runs with {pair_by}={p}: cannot pair them; "
                                f"add the key that tells them apart to --by or name another --pair-by")
            out[p] = v
        return out

    ref = by_pair(base)
    rows = []
    for key in sorted(k for k in groups if k != base):
        mine = by_pair(key)
        common = sorted(set(mine) & set(ref), key=lambda p: (len(p), p))
        res = paired_t([mine[p] - ref[p] for p in common], level)
        note = ("" if res["n_pairs"] >= 2 else
                f"n_pairs={res['n_pairs']}: no interval (an interval needs two or more pairs)")
        rows.append({**dict(zip(by, key)), "baseline": label[base], "metric": metric, **res, "p_holm": math.nan,
                     "n_unpaired": len(set(mine) ^ set(ref)), "interval": f"paired t {level:.0%}, pairs by {pair_by}",
                     "mixed": mixed.get(key, ""), "note": note})
    if not rows:
        raise UserError(f"--baseline {baseline}: there is no other group to compare with it")
    adjusted = holm([r["p"] for r in rows])
    for r, p in zip(rows, adjusted):
        r["p_holm"] = p
        if len(rows) > 1:
            r["note"] = "; ".join(x for x in (r["note"], f"p_holm: Holm-adjusted over {len(rows)} comparisons") if x)
    df = pd.DataFrame(rows)
    df.attrs.update(damaged=[(str(p), r) for p, r in recs.damaged], level=level)
    return df


def _cell(r) -> str:
    if r["n"] == 0:
        return "—"
    if math.isnan(r["ci_low"]):
        return f"{r['mean']:.4f} (n={r['n']}, no CI)"
    return f"{r['mean']:.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}] n={r['n']}"


def grid(df, by: Sequence[str]):
    """(means, cells): rows = values of ``by[0]``, columns = values of ``by[1]``; ``cells`` holds
    ``mean [ci_low, ci_high] n=k`` per cell (the long table ``df`` from :func:`compare`)."""
    rows, cols = by
    means = df.pivot_table(index=rows, columns=cols, values="mean", aggfunc="first", dropna=False)
    cells = df.assign(cell=df.apply(_cell, axis=1)).pivot(index=rows, columns=cols, values="cell")
    cells = cells.reindex(index=means.index, columns=means.columns).fillna("—")
    return means, cells


def format_table(df, columns: Sequence[str] | None = None) -> str:
    def fmt(v):
        if isinstance(v, float):
            return "—" if math.isnan(v) else f"{v:.4f}" if abs(v) >= 1e-4 or v == 0 else f"{v:.2e}"
        return str(v)

    cols = list(columns or df.columns)
    cells = [[str(c) for c in cols]] + [[fmt(r[c]) for c in cols] for _, r in df.iterrows()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def shown_columns(df) -> list[str]:
    """Columns worth printing: text columns that are empty in every row are left out."""
    return [c for c in df.columns if not (c in ("mixed", "note") and not df[c].astype(str).str.len().any())]


HELP_OUT = ("folder for the outputs (default: the first PATH): compare_<by>_<metric>.csv (the printed table) "
            "and .png (bars with intervals); two --by keys add compare_<by>_<metric>_grid.csv and _heatmap.png; "
            "--paired writes compare_paired_<by>_<metric>.csv and .png")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="knowloc compare", description=__doc__.split("\n\n")[0].replace("``", ""),
                                epilog="Intervals: logit t for accuracies (stays in [0, 1]), Fisher-z t for "
                                       "correlations (stays in [-1, 1]), t otherwise; n=1 gives none.")
    p.add_argument("paths", nargs="+", help="sweep folders, run folders or summary.json files")
    p.add_argument("--by", action="append", default=None,
                   help="group key (repeatable; two give a grid): a Hydra group (activation) or a dotted config "
                        "key (model.optimizer.lr); default activation")
    p.add_argument("--metric", default="test/acc", help="the metric of summary.json to compare (default test/acc)")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals (default 0.95)")
    p.add_argument("--interval", choices=("auto", "logit", "fisher", "t"), default="auto",
                   help="interval scale: auto (logit for accuracies, Fisher-z for correlations, else t)")
    p.add_argument("--out", default=None, help=HELP_OUT)
    p.add_argument("--include-failed", action="store_true",
                   help="also average runs whose status is not finished (failed, interrupted) when they have the metric")
    p.add_argument("--allow-mixed", action="store_true",
                   help="pool runs whose configs differ in keys other than --by and the seed (listed per group)")
    p.add_argument("--paired", action="store_true",
                   help="paired comparison against --baseline: mean of per-seed differences, t interval, p, Holm p")
    p.add_argument("--baseline", default=None, help="the baseline group for --paired (e.g. relu, none)")
    p.add_argument("--pair-by", default="seed", help="the key that pairs runs for --paired (default seed)")
    args = p.parse_args(argv)
    by = args.by or ["activation"]
    try:
        if not 0 < args.level < 1:
            raise UserError(f"--level={args.level} is not allowed; expected a number in (0, 1)")
        for path in args.paths:
            if not Path(path).exists():
                raise UserError(f"PATH={path!r} does not exist; expected a run or sweep folder")
        if args.paired != (args.baseline is not None):
            raise UserError("--paired and --baseline go together: --paired --baseline VALUE (e.g. --baseline relu)")
        if args.paired:
            df = compare_paired(args.paths, by, args.metric, args.baseline, args.pair_by, args.level,
                                args.include_failed, args.allow_mixed)
        else:
            df = compare(args.paths, by, args.metric, args.level, args.include_failed, args.allow_mixed,
                         args.interval)
    except UserError as e:
        print(f"knowloc: error: {e}", file=sys.stderr)
        sys.exit(2)
    out = Path(args.out) if args.out else (Path(args.paths[0]) if Path(args.paths[0]).is_dir() else Path("."))
    out.mkdir(parents=True, exist_ok=True)
    stem = ("compare_paired_" if args.paired else "compare_") + "_".join(by) + "_" + args.metric.replace("/", "_")
    written = [out / f"{stem}.csv", out / f"{stem}.png"]
    df.to_csv(written[0], index=False)
    report(df, by, args.metric, args.paired, args.level, written, stem, out)


def report(df, by, metric, paired, level, written, stem, out) -> None:
    """Print the table (and grid) and write the figures."""
    from knowloc import compare_plots

    for path, reason in df.attrs.get("damaged", []):
        print(f"knowloc: warning: damaged record skipped: {path} ({reason})", file=sys.stderr)
    print(format_table(df, shown_columns(df)))
    if paired:
        title = f"{metric}: variant - {df['baseline'].iat[0]} (mean of paired differences, {df['interval'].iat[0]})"
        compare_plots.bars(df, by, "mean_diff", f"Δ {metric}", title, written[1])
        print(f"\nmean_diff: mean over pairs of (variant - baseline); interval: {df['interval'].iat[0]}; "
              f"p: two-sided paired t test" + ("; p_holm: Holm-adjusted" if len(df) > 1 else ""))
    else:
        compare_plots.bars(df, by, "mean", metric, f"{metric} by {', '.join(by)} (mean, {df['interval'].iat[0]})",
                           written[1])
        print(f"\ninterval: {df['interval'].iat[0]} interval over seeds"
              + ("" if df["interval"].iat[0].startswith("t ") else " (t interval on that scale, mapped back)"))
        if len(by) == 2:
            means, cells = grid(df, by)
            cells.to_csv(out / f"{stem}_grid.csv")
            compare_plots.heatmap(means, cells, f"{metric}: mean [{df['interval'].iat[0]}] n", out / f"{stem}_heatmap.png")
            written += [out / f"{stem}_grid.csv", out / f"{stem}_heatmap.png"]
            print(f"\n{by[0]} (rows) x {by[1]} (columns): mean [{df['interval'].iat[0]} interval] n")
            print(format_table(cells.reset_index().rename(columns={by[0]: f"{by[0]} \\ {by[1]}"})))
    if df.attrs.get("damaged"):
        print(f"{len(df.attrs['damaged'])} damaged record(s) skipped (listed above)")
    print(f"\nwrote {', '.join(map(str, written))}")
