"""The alignment page: interchange intervention accuracy (IIA) vs subspace size, per layer.

Reads what :class:`~knowloc.alignment.AlignmentSearch` writes (see :mod:`knowloc.alignment`)::

    alignment/iia.csv       layer, size, variable, method, iia_all, iia_changed, train_iia, restart, n_pairs, n_changed
    alignment/restarts.csv  layer, size, variable, method, restart, selected, train_iia, iia_all, iia_changed

The page draws, for a chosen variable (ab, cd, both) and measure (iia_all: all held-out pairs,
a no-op scores about 0.5; iia_changed: pairs whose high-level label the intervention changes,
a no-op scores 0), one chart per layer with one line per method against the subspace size.
"""

from __future__ import annotations

from knowloc.explore.embed import num, read_csv
from knowloc.explore.target import Run

FOLDER = "alignment"
TEXT_COLUMNS = {"layer", "variable", "method", "neurons", "search", "selected"}


def _table(path) -> dict:
    header, rows = read_csv(path)
    return {"header": header,
            "rows": [[v if h in TEXT_COLUMNS else num(v) for h, v in zip(header, r)] for r in rows]}


def section(run: Run) -> dict | None:
    path = run.path / FOLDER / "iia.csv"
    if not path.is_file():
        return None
    out = {"id": "alignment", "title": "Alignment", "type": "alignment", "iia": _table(path), "restarts": None}
    restarts = run.path / FOLDER / "restarts.csv"
    if restarts.is_file():
        out["restarts"] = _table(restarts)
    metrics = run.summary.get("metrics", {})
    out["network_test_acc"] = num(metrics.get("alignment/network/test_acc"))
    return out
