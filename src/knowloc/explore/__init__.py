"""knowloc.explore: a local web page to ask questions of a run (or a sweep) interactively.

``knowloc explore RUN_OR_SWEEP_DIR`` reads the folder's local record (``summary.json``,
``metrics/metrics.csv`` and the files the experiment families write; no W&B needed), writes one
self-contained HTML file (data as JSON inside the page, images as ``data:`` URIs, a little vanilla
JS, nothing loaded from the network) and serves it on ``http://127.0.0.1:PORT/``.

Modules: ``target`` (what PATH is: run or sweep; one-line errors), ``report`` (record -> page),
``overview`` / ``sweep`` (pages every run / sweep has), one module per family page
(``localization``, ``neurons``, ``snapshots``, ``alignment``; each shown only when the run holds
its files), ``server`` (http.server on 127.0.0.1), ``command`` (the CLI), and the page assets
``page.html``, ``explore.js``, ``explore.css``.
"""

from knowloc.explore.command import main
from knowloc.explore.report import build, render, write_report
from knowloc.explore.server import serve

__all__ = ["main", "build", "render", "write_report", "serve"]
