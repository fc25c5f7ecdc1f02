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


def family_rules(family: str) -> dict:
    """One family's rules, keyed by their full dotted config key ({} without options)."""
    mod = options(family)
    if mod is None or not getattr(mod, "RULES", None):
        return {}
    prefix = getattr(mod, "PREFIX", "")
    return {prefix + k: v for k, v in mod.RULES.items()}


def rules() -> dict:
    """Every family's rules, keyed by their full dotted config key."""
    return {k: v for family in FAMILIES for k, v in family_rules(family).items()}


def lazy_exports(package: str, exports: dict[str, list[str]]):
    """A package's ``__getattr__`` (PEP 562) that imports ``module -> [names]`` on first use: reading
    a family's options (the preflight) does not import its engine, torch or Lightning.
    ``from knowloc.alignment import AlignmentSearch`` and Hydra's ``_target_`` work as before."""
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name: str):
        if name in where:
            return getattr(importlib.import_module(where[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__, sorted(where)
