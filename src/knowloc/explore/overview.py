"""Pages every run has: overview (status, config, final metrics), metrics history, files."""

from __future__ import annotations

import math
from pathlib import Path

from knowloc.explore.embed import IMAGE_SUFFIXES, file_uri, num, read_csv
from knowloc.explore.target import Run

METRICS_CSV = Path("metrics") / "metrics.csv"
#: folders of a run that are not its results
SKIP_DIRS = {"wandb", ".hydra", "__pycache__"}
#: the report itself, when written into the run folder
REPORT = "explore.html"
#: images embedded in the Files page (larger ones are listed, and linked when served)
MAX_IMAGE_BYTES = 600_000
MAX_IMAGES_BYTES = 6_000_000
MAX_TABLE_ROWS = 300
MAX_TABLES = 40


def overview(run: Run) -> dict:
    s = run.summary
    metrics = [[k, num(v, 6)] for k, v in sorted(s.get("metrics", {}).items())]
    return {
        "id": "overview", "title": "Overview", "type": "overview",
        "name": run.path.name, "path": str(run.path), "status": s.get("status"), "error": s.get("error"),
        "started": s.get("started"), "duration_s": s.get("duration_s"), "seed": s.get("seed"),
        "choices": s.get("choices") or {}, "overrides": s.get("overrides") or [], "data": s.get("data"),
        "git_commit": s.get("git_commit"), "wandb_dir": s.get("wandb_dir"), "versions": s.get("versions") or {},
        "metrics": metrics, "config": s.get("config") or {},
        "has_history": (run.path / METRICS_CSV).is_file(),
    }


def history(run: Run) -> dict | None:
    """``metrics/metrics.csv`` (Lightning's CSVLogger) as one series per column: step, epoch, value."""
    path = run.path / METRICS_CSV
    if not path.is_file():
        return None
    header, rows = read_csv(path)
    if "step" not in header:
        raise ValueError(f"{path}: no 'step' column; expected a Lightning CSVLogger file")
    i_step = header.index("step")
    i_epoch = header.index("epoch") if "epoch" in header else None
    series: dict[str, dict[str, list]] = {}
    for j, name in enumerate(header):
        if j in (i_step, i_epoch):
            continue
        s = {"step": [], "epoch": [], "value": []}
        for row in rows:
            if j >= len(row) or row[j] == "":
                continue
            try:
                v = float(row[j])
            except ValueError:
                continue
            s["step"].append(int(float(row[i_step])))
            s["epoch"].append(int(float(row[i_epoch])) if i_epoch is not None and row[i_epoch] != "" else None)
            s["value"].append(num(v, 6) if math.isfinite(v) else None)
        if s["value"]:
            series[name] = s
    return {"id": "metrics", "title": "Metrics", "type": "metrics", "file": str(METRICS_CSV), "series": series}


def files(run: Run) -> dict:
    """Every file of the run folder; images embedded and CSV tables previewed (within size caps)."""
    entries, images, tables, budget, skipped = [], [], [], MAX_IMAGES_BYTES, []
    for p in sorted(run.path.rglob("*")):
        rel = p.relative_to(run.path)
        if not p.is_file() or SKIP_DIRS & set(rel.parts) or p.name.endswith(".tmp") or str(rel) == REPORT:
            continue
        size = p.stat().st_size
        entries.append([str(rel), size])
        if p.suffix.lower() in IMAGE_SUFFIXES:
            if size <= min(MAX_IMAGE_BYTES, budget):
                budget -= size
                images.append({"name": str(rel), "src": file_uri(p)})
            else:
                skipped.append(str(rel))
        elif p.suffix.lower() == ".csv" and rel != METRICS_CSV and len(tables) < MAX_TABLES:
            header, rows = read_csv(p, MAX_TABLE_ROWS + 1)
            tables.append({"name": str(rel), "header": header, "rows": rows[:MAX_TABLE_ROWS],
                           "truncated": len(rows) > MAX_TABLE_ROWS})
    return {"id": "files", "title": "Files", "type": "files", "files": entries, "images": images,
            "images_not_embedded": skipped, "tables": tables}
