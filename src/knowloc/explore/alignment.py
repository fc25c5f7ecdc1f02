"""The alignment page: interchange intervention accuracy (IIA) vs subspace size, per layer.

Reads what :class:`~knowloc.alignment.AlignmentSearch` writes: the tables ``IIA`` and ``RESTARTS``
of :mod:`knowloc.alignment.artefacts` (their columns are listed there).

The page draws, for a chosen variable (ab, cd, both) and measure (iia_all: all held-out pairs,
a no-op scores about 0.5; iia_changed: pairs whose high-level label the intervention changes,
a no-op scores 0), one chart per layer with one line per method against the subspace size.
"""

from __future__ import annotations

from knowloc.alignment.artefacts import IIA, NETWORK_TEST_ACC, RESTARTS
from knowloc.explore.embed import num, read_csv
from knowloc.explore.target import Run

TEXT_COLUMNS = {"layer", "variable", "method", "neurons", "search", "selected"}


def _table(path) -> dict:
    header, rows = read_csv(path)
    return {"header": header,
            "rows": [[v if h in TEXT_COLUMNS else num(v) for h, v in zip(header, r)] for r in rows]}


def section(run: Run) -> dict | None:
    if not IIA.exists(run.path):
        return None
    out = {"id": "alignment", "title": "Alignment", "type": "alignment", "iia": _table(IIA.at(run.path)),
           "restarts": None}
    if RESTARTS.exists(run.path):
        out["restarts"] = _table(RESTARTS.at(run.path))
    metrics = run.summary.get("metrics", {})
    out["network_test_acc"] = num(metrics.get(NETWORK_TEST_ACC))
    return out
