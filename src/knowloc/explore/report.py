"""Build the explorer's page: the run's (or sweep's) record read into JSON, embedded in one HTML file.

``build(target)`` reads the record into ``{"kind", "title", "path", "sections": [...]}``; each
section is one page of the report (``type`` picks its renderer in ``explore.js``). A family's page
appears only when the run holds that family's files; a family file that cannot be read gives an
error box on that page, never a broken report. ``render(data)`` inlines the template, CSS, JS and
data (``<`` escaped, so no file content can close the script element) into a self-contained page:
no network, no CDN, images as ``data:`` URIs.
"""

from __future__ import annotations

import html
import json
import time
import traceback
from importlib import resources
from pathlib import Path
from typing import Callable

from knowloc.errors import UserError
from knowloc.explore import alignment, localization, locate, neurons, overview, snapshots, sweep
from knowloc.explore.embed import FileProblem
from knowloc.explore.target import Run, Sweep, nested, open_target

#: pages of a run, in tab order; each returns a section dict (or a list of them), or None when
#: the run does not hold its files
RUN_PAGES: list[Callable[[Run], dict | list | None]] = [
    overview.overview, overview.history, localization.section, neurons.section, snapshots.section,
    alignment.section, locate.section, overview.files,
]


#: the page's scripts, concatenated: the core (widgets, generic pages), then the family pages
JS_FILES = ("explore.js", "families.js")


def _asset(name: str) -> str:
    return resources.files("knowloc.explore").joinpath(name).read_text(encoding="utf-8")


def _page(builder: Callable, target) -> list[dict]:
    try:
        out = builder(target)
    except Exception as e:  # a damaged family file: show it on its page, keep the rest
        name = builder.__name__ if builder.__module__.endswith(".overview") else builder.__module__.rsplit(".", 1)[-1]
        name = {"history": "metrics"}.get(name, name)  # the tab's id, as when the page works
        message = str(e) if isinstance(e, FileProblem) else f"{type(e).__name__}: {e}"
        return [{"id": name, "title": name.capitalize(), "type": "error",
                 "message": message, "detail": traceback.format_exc(limit=3)}]
    if out is None:
        return []
    return out if isinstance(out, list) else [out]


def build(target: Run | Sweep) -> dict:
    """The report's data for a run or a sweep folder."""
    if isinstance(target, Run):
        sections = [s for b in RUN_PAGES for s in _page(b, target)]
        inner = nested(target)
        if inner is not None:  # a stacked run: one record per model inside it
            for s in _page(sweep.sections, inner):
                if s["type"] == "runs":
                    s["title"] = f"Models ({len(inner.runs)})"
                sections.insert(-1, s)
        name = target.path.name
        if name.isdigit():  # a multirun job folder: say which sweep it belongs to
            name = f"{target.path.parent.name}/{name}"
        title = f"{name} — {target.summary.get('status', '?')}"
        kind = "run"
    else:
        sections = [s for b in (sweep.sections,) for s in _page(b, target)]
        title = f"sweep {target.path.name} — {len(target.runs)} runs"
        kind = "sweep"
    return {"kind": kind, "title": title, "path": str(target.path),
            "generated": time.strftime("%Y-%m-%d %H:%M:%S"), "sections": sections}


def to_json(data: dict) -> str:
    """JSON safe to put inside ``<script>``: ``<``, ``>`` and ``&`` escaped as \\u sequences."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"), default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def render(data: dict, served: bool = False) -> str:
    """The self-contained HTML page of the report."""
    page = _asset("page.html")
    parts = {"TITLE": html.escape(data.get("title", "knowloc explore")), "CSS": _asset("explore.css"),
             "JS": "\n".join(_asset(f) for f in JS_FILES), "DATA": to_json(data), "SERVED": "true" if served else "false"}
    out = []
    for i, chunk in enumerate(page.split("@@")):
        out.append(parts[chunk] if i % 2 else chunk)
    return "".join(out)


def error_page(message: str, path: str | None = None, status: int = 400) -> str:
    """A readable page for input the explorer cannot show (missing folder, damaged record)."""
    css = _asset("explore.css")
    where = f"<p class='muted'>path: <code>{html.escape(path)}</code></p>" if path else ""
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>knowloc explore: error</title>"
            f"<style>{css}</style></head><body><header><h1>knowloc explore</h1></header><main>"
            f"<div class='error-box' id='error' data-status='{status}'><h2>Cannot show this run</h2>"
            f"<p id='error-message'>{html.escape(message)}</p>{where}"
            f"<p class='muted'>A run folder holds <code>summary.json</code> (written by every knowloc run); "
            f"a sweep folder holds run folders.</p></div></main></body></html>")


def write_report(path: str | Path, out: str | Path | None = None) -> Path:
    """Build the report of ``path`` and write it to ``out`` (default ``<path>/explore.html``)."""
    target = open_target(path)
    out = Path(out) if out else target.path / overview.REPORT
    text = render(build(target))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as e:
        raise UserError(f"--out={str(out)!r}: cannot write the report ({e.strerror or e}); "
                        f"expected a writable file path") from None
    return out
