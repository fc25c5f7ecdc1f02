"""The experiment families and where each one lives.

Each family is one package, ``knowloc.<family>``, holding its logic and two declarations:

* ``options.py``: its choices and ranges, ``RULES`` (config key below ``PREFIX`` -> rule, see
  :mod:`knowloc.rules`); the preflight and the job check them, constructors and ``--help`` read them;
* ``artefacts.py``: every file it writes into a run folder, ``ARTEFACTS`` (a tuple of
  :class:`knowloc.artifacts.Artefact`), with the functions that write and read them back; callbacks
  write through it, the explorer, ``compare`` and the tests read through it.

The platform (records, explorer, compare) never names a family's file; it asks the family.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: every family, by package name under ``knowloc``
FAMILIES = ("localization", "neurons", "snapshots", "alignment", "locate")


def _part(family: str, part: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"knowloc.{family}.{part}")
    except ModuleNotFoundError as e:
        if e.name == f"knowloc.{family}.{part}":
            return None
        raise


def options(family: str) -> ModuleType | None:
    """``knowloc.<family>.options`` (None while a family has none)."""
    return _part(family, "options")


def artefacts(family: str) -> ModuleType | None:
    """``knowloc.<family>.artefacts`` (None while a family has none)."""
    return _part(family, "artefacts")


def rules() -> dict:
    """Every family's rules, keyed by their full dotted config key."""
    out = {}
    for family in FAMILIES:
        mod = options(family)
        if mod is not None and hasattr(mod, "RULES"):
            prefix = getattr(mod, "PREFIX", "")
            out.update({prefix + k: v for k, v in mod.RULES.items()})
    return out


def declared_artefacts() -> dict:
    """family -> its ``ARTEFACTS`` (families that declare them)."""
    out = {}
    for family in FAMILIES:
        mod = artefacts(family)
        if mod is not None and hasattr(mod, "ARTEFACTS"):
            out[family] = tuple(mod.ARTEFACTS)
    return out
