"""The localization page of a run (to be filled from knowloc.localization's documented run-folder layout)."""

from __future__ import annotations

from knowloc.explore.target import Run


def section(run: Run) -> dict | None:
    return None
