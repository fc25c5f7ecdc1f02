"""``knowloc compare PATH ... --by KEY --metric NAME``: a table over runs, with 95% t intervals.

Reads the local records (``summary.json``) under each PATH (a sweep folder, run folders), groups
finished runs by the value of each ``--by`` key (a Hydra group such as ``activation`` or a dotted
config key such as ``data.name``), and prints group, n, mean, CI low, CI high, std. Writes the
same table as CSV and a PNG with error bars. Needs no W&B.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Sequence

from knowloc.errors import UserError
from knowloc.records import config_value, find_runs
from knowloc.stats import mean_ci


def _metric(summary: dict, name: str):
    v = summary.get("metrics", {}).get(name)
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def compare(paths: Sequence[str | Path], by: Sequence[str], metric: str, level: float = 0.95,
            include_failed: bool = False):
    """Rows ``{group..., metric, n, mean, ci_low, ci_high, std, n_skipped}`` as a DataFrame."""
    import pandas as pd

    runs = find_runs(paths)
    if not runs:
        raise UserError(f"no run records (summary.json) under {', '.join(map(str, paths))}")
    groups: dict[tuple, list[float]] = {}
    skipped: dict[tuple, int] = {}
    for _, s in runs:
        key = tuple(str(config_value(s, b)) for b in by)
        v = _metric(s, metric)
        ok = s.get("status") == "finished" or include_failed
        if v is None or not ok or not math.isfinite(v):
            skipped[key] = skipped.get(key, 0) + 1
            continue
        groups.setdefault(key, []).append(v)
    if not groups:
        known = sorted({k for _, s in runs for k in s.get("metrics", {})})
        raise UserError(f"--metric {metric!r}: no finished run has it; metrics present: {', '.join(known) or 'none'}")
    rows = []
    for key in sorted(set(groups) | set(skipped)):
        vals = groups.get(key, [])
        m, lo, hi, sd = mean_ci(vals, level)
        rows.append({**dict(zip(by, key)), "metric": metric, "n": len(vals), "mean": m,
                     "ci_low": lo, "ci_high": hi, "std": sd, "n_skipped": skipped.get(key, 0)})
    return pd.DataFrame(rows)


def format_table(df) -> str:
    def fmt(v):
        return "—" if isinstance(v, float) and math.isnan(v) else (f"{v:.4f}" if isinstance(v, float) else str(v))

    cols = list(df.columns)
    cells = [cols] + [[fmt(r[c]) for c in cols] for _, r in df.iterrows()]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def plot(df, by: Sequence[str], metric: str, path: Path, level: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    labels = [" / ".join(str(r[b]) for b in by) for _, r in df.iterrows()]
    means = df["mean"].to_numpy(float)
    lo = np.nan_to_num(means - df["ci_low"].to_numpy(float))
    hi = np.nan_to_num(df["ci_high"].to_numpy(float) - means)
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(labels) + 2), 3.6))
    ax.bar(range(len(labels)), means, color="#88aadd", yerr=[lo, hi], capsize=4)
    for i, (_, r) in enumerate(df.iterrows()):
        ax.text(i, 0, f"n={r['n']}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} by {', '.join(by)} (mean, {int(level * 100)}% t CI)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="knowloc compare", description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="+", help="sweep folders, run folders or summary.json files")
    p.add_argument("--by", action="append", default=None, help="group key (repeatable), default activation")
    p.add_argument("--metric", default="test/acc")
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the t interval")
    p.add_argument("--out", default=None, help="folder for compare.csv and compare.png (default: first PATH)")
    p.add_argument("--include-failed", action="store_true")
    args = p.parse_args(argv)
    by = args.by or ["activation"]
    try:
        if not 0 < args.level < 1:
            raise UserError(f"--level={args.level} is not allowed; expected a number in (0, 1)")
        for path in args.paths:
            if not Path(path).exists():
                raise UserError(f"PATH={path!r} does not exist; expected a run or sweep folder")
        df = compare(args.paths, by, args.metric, args.level, args.include_failed)
    except UserError as e:
        print(f"knowloc: error: {e}", file=sys.stderr)
        sys.exit(2)
    out = Path(args.out) if args.out else (Path(args.paths[0]) if Path(args.paths[0]).is_dir() else Path("."))
    out.mkdir(parents=True, exist_ok=True)
    stem = "compare_" + "_".join(by) + "_" + args.metric.replace("/", "_")
    df.to_csv(out / f"{stem}.csv", index=False)
    plot(df, by, args.metric, out / f"{stem}.png", args.level)
    print(format_table(df))
    print(f"\nwrote {out / (stem + '.csv')} and {out / (stem + '.png')}")
