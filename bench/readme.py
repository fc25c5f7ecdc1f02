"""The README's benchmark table, generated from a ``results.json`` of ``make bench``.

``make bench`` (``bench/run.py``) copies ``bench/results.json`` to ``docs/results/bench.json`` (the
committed figures) and replaces the README block between ``<!-- bench:begin -->`` and
``<!-- bench:end -->`` with :func:`table` of it; ``python bench/readme.py`` redraws the block from the
committed file. No benchmark figure is typed by hand.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "docs" / "results" / "bench.json"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
#: long descriptive fields, shown once under the table rather than in a cell
TEXT = ("how", "units", "iia_measure", "note", "module", "machine", "measured_at")


def _value(v) -> str | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, str) and len(v) <= 40:
        return v
    return None


def table(results: dict) -> str:
    """One row per benchmark: key, ratio, the raw figures (short ones), when and where measured;
    then each benchmark's method and units."""
    rows = ["| benchmark (key in bench/results.json) | ratio | figures | measured |", "| --- | --- | --- | --- |"]
    notes = []
    for name in sorted(results):
        e = results[name]
        figures = ", ".join(f"{k} {s}" for k, v in e.items() if k not in ("ratio", *TEXT)
                            and (s := _value(v)) is not None)
        rows.append(f"| `{name}` | **{_value(e.get('ratio')) or '—'}** | {figures} | "
                    f"{e.get('measured_at', '?')}, {e.get('machine', '?')} |")
        text = "; ".join(f"{k}: {e[k]}" for k in ("how", "units", "iia_measure", "note") if e.get(k))
        if text:
            notes.append(f"- `{name}`: {text}")
    return "\n".join(rows + [""] + notes)


def update_readme(results: dict, readme: Path = ROOT / "README.md") -> None:
    text = readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{readme}: no {BEGIN} ... {END} block")
    a, b = text.index(BEGIN) + len(BEGIN), text.index(END)
    readme.write_text(text[:a] + "\n" + table(results) + "\n" + text[b:])


def publish(results_json: Path) -> None:
    """Copy a ``make bench`` result file to docs/results/bench.json and redraw the README block."""
    results = json.loads(results_json.read_text())
    COMMITTED.parent.mkdir(parents=True, exist_ok=True)
    COMMITTED.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    update_readme(results)


if __name__ == "__main__":
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else COMMITTED
    update_readme(json.loads(src.read_text()))
