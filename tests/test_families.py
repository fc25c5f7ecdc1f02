"""One home per family: each family declares its options and its artefacts in its own package, and
no path of a family's artefact is written anywhere else in the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from knowloc import families
from knowloc.artifacts import Artefact

ROOT = Path(__file__).resolve().parents[1]
CODE = [p for d in ("src", "callbacks", "tests", "bench") for p in (ROOT / d).rglob("*.py")]


@pytest.mark.parametrize("family", families.FAMILIES)
def test_family_declares_options_and_artefacts(family):
    opts, arts = families.options(family), families.artefacts(family)
    assert opts is not None and arts is not None, f"knowloc.{family} needs options.py and artefacts.py"
    assert isinstance(opts.RULES, dict) and opts.RULES
    for key, (test, allowed) in opts.RULES.items():
        assert callable(test) and isinstance(allowed, str) and allowed, key
    assert arts.ARTEFACTS and all(isinstance(a, Artefact) and a.meaning for a in arts.ARTEFACTS)
    paths = [a.path for a in arts.ARTEFACTS]
    assert len(paths) == len(set(paths)), "an artefact declared twice"


@pytest.mark.parametrize("family", families.FAMILIES)
def test_no_artefact_path_written_twice(family):
    """The literal path of each artefact (with or without its suffix) appears only in the family's
    artefacts.py: writers and readers take it from the declaration."""
    arts = families.artefacts(family)
    if arts is None or not hasattr(arts, "ARTEFACTS"):
        pytest.fail(f"knowloc.{family} declares no ARTEFACTS")
    home = Path(arts.__file__).resolve()
    strings = set()
    for a in arts.ARTEFACTS:
        fixed = a.path.split("{", 1)[0]
        strings.add(a.path if "{" not in a.path else fixed)
        if "{" not in a.path:
            strings.add(a.key)
    found = []
    for p in CODE:
        if p.resolve() == home:
            continue
        text = p.read_text()
        for s in strings:
            if len(s) > 3 and re.search(r"[\"'`]" + re.escape(s) + r"(?:[\"'`]|$)", text, re.M):
                found.append(f"{p.relative_to(ROOT)}: {s}")
    assert not found, "artefact paths outside their declaration:\n" + "\n".join(found)


def test_family_rules_are_the_validation_rules():
    from knowloc.validation import RULES

    for key, rule in families.rules().items():
        assert RULES[key] is rule
