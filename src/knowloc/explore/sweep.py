"""Pages of a sweep folder: its runs, and the ``knowloc compare`` table and plot for any --by / --metric.

The compare tables are computed here with :func:`knowloc.compare.compare` (mean and t interval over
seeds, the same numbers ``knowloc compare`` prints) for every metric and every candidate --by key:
each config key or Hydra group that takes more than one value across the sweep's runs (seed
excepted: seeds are the replicates the interval is taken over), and all of them together.
"""

from __future__ import annotations

from knowloc.compare import compare
from knowloc.errors import UserError
from knowloc.explore.embed import num
from knowloc.explore.target import Sweep
from knowloc.records import SUMMARY, config_value

#: keys that are replicates or bookkeeping, never a --by candidate
NOT_FACTORS = {"seed", "hydra", "paths", "resume", "threads", "tags", "experiment"}
#: the metric the compare page opens with, the first of these a sweep has
PREFERRED_METRICS = ("test/acc", "val/acc", "localization/pearson/fc1.weight", "phase1/test_acc",
                     "alignment/network/test_acc")
#: most compare tables embedded in one page (metrics x keys)
MAX_TABLES = 600
#: most record reads for all tables together (tables x runs)
MAX_RECORD_READS = 40_000


def _override_keys(summary: dict) -> list[str]:
    keys = []
    for o in summary.get("overrides") or []:
        k = o.split("=", 1)[0].lstrip("+~")
        if "=" in o and not k.startswith("hydra"):
            keys.append(k)
    return keys


def factors(sweep: Sweep) -> dict[str, list[str]]:
    """``{key: sorted distinct values}`` of the keys that vary across the sweep's runs."""
    keys: list[str] = []
    for r in sweep.runs:
        for k in list(r.summary.get("choices") or {}) + _override_keys(r.summary):
            if k not in keys and k.split(".")[0] not in NOT_FACTORS and not k.startswith("hydra"):
                keys.append(k)
    out = {}
    for k in keys:
        values = {str(config_value(r.summary, k)) for r in sweep.runs}
        if len(values) > 1:
            out[k] = sorted(values)
    return out


def numeric_metrics(sweep: Sweep) -> list[str]:
    names = set()
    for r in sweep.runs:
        for k, v in (r.summary.get("metrics") or {}).items():
            try:
                float(v)
                names.add(k)
            except (TypeError, ValueError):
                pass
    return sorted(names)


def runs_section(sweep: Sweep, varying: dict[str, list[str]], metrics: list[str]) -> dict:
    headline = [m for m in ("test/acc", "val/acc", "test/loss") if m in metrics] or metrics[:3]
    rows = []
    for r in sweep.runs:
        s = r.summary
        rows.append({"run": str(r.path.relative_to(sweep.path)) if r.path != sweep.path else ".",
                     "status": s.get("status"), "seed": s.get("seed"),
                     "factors": {k: str(config_value(s, k)) for k in varying},
                     "metrics": {m: num((s.get("metrics") or {}).get(m)) for m in headline},
                     "duration_s": s.get("duration_s"), "error": s.get("error")})
    return {"id": "runs", "title": f"Runs ({len(sweep.runs)})", "type": "runs", "factors": list(varying),
            "headline": headline, "rows": rows,
            "unreadable": [[str(p.relative_to(sweep.path)), msg] for p, msg in sweep.unreadable]}


def compare_section(sweep: Sweep, varying: dict[str, list[str]], metrics: list[str]) -> dict:
    """``tables[by][metric]`` = rows of ``knowloc compare --by ... --metric ...``."""
    options = [[k] for k in varying] + ([list(varying)] if len(varying) > 1 else [])
    if not options:
        options = [["activation"]]
    default_metric = next((m for m in PREFERRED_METRICS if m in metrics),
                          next((m for m in metrics if m.endswith("/acc")), metrics[0] if metrics else None))
    # each table reads every run's record again: keep tables x runs bounded on huge folders
    n_tables = min(MAX_TABLES, max(len(options), MAX_RECORD_READS // max(1, len(sweep.runs))))
    omitted = max(0, len(metrics) - max(1, n_tables // len(options)))
    metrics = sorted(metrics, key=lambda m: m != default_metric)[:max(1, n_tables // len(options))]
    paths = [r.path / SUMMARY for r in sweep.runs]  # the same records `knowloc compare SWEEP` finds, read directly
    tables: dict[str, dict[str, object]] = {}
    for by in options:
        key = " + ".join(by)
        tables[key] = {}
        for m in metrics:
            try:
                df = compare(paths, by, m)
            except UserError as e:
                tables[key][m] = {"error": str(e)}
                continue
            tables[key][m] = {"rows": [{c: _cell(v) for c, v in row.items()} for row in df.to_dict("records")]}
    return {"id": "compare", "title": "Compare", "type": "compare", "by_options": [" + ".join(b) for b in options],
            "by_keys": {" + ".join(b): b for b in options}, "metrics": metrics, "default_metric": default_metric,
            "level": 0.95, "tables": tables, "omitted_metrics": omitted,
            "command": "knowloc compare {path} --by {by} --metric {metric}", "path": str(sweep.path)}


def sections(sweep: Sweep) -> list[dict]:
    varying = factors(sweep)
    metrics = numeric_metrics(sweep)
    return [runs_section(sweep, varying, metrics), compare_section(sweep, varying, metrics)]


def _cell(v):
    v = v.item() if hasattr(v, "item") else v
    return num(v) if isinstance(v, float) else v
