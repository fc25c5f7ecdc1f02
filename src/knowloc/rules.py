"""Building blocks of option rules: ``(test, allowed)`` pairs.

A rule is a test of a plain value and the one-line text of what is allowed; a failed test gives
``knowloc: error: KEY=VALUE is not allowed; expected ALLOWED``. Each family lists its rules in its
own ``options.py`` (:data:`knowloc.families.FAMILIES`), the platform's are in
:mod:`knowloc.validation`; the preflight, the job and the constructors all check against them.
This module imports nothing of knowloc, so an ``options.py`` can use it at no cost.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

Rule = tuple[Callable[[Any], bool], str]


def is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def int_at_least(lo: int) -> Rule:
    return (lambda v: is_int(v) and v >= lo), f"an integer >= {lo}"


def positive_number() -> Rule:
    return (lambda v: is_number(v) and v > 0), "a number > 0"


def fraction(closed_low=True, closed_high=True) -> Rule:
    lo, hi = ("[" if closed_low else "("), ("]" if closed_high else ")")

    def ok(v):
        return is_number(v) and (v >= 0 if closed_low else v > 0) and (v <= 1 if closed_high else v < 1)

    return ok, f"a number in {lo}0, 1{hi}"


def one_of(*choices) -> Rule:
    return (lambda v: v in choices), "one of " + ", ".join(map(str, choices))


def optional(rule: Rule) -> Rule:
    test, text = rule
    return (lambda v: v is None or test(v)), f"null or {text}"


def list_of(choices: Iterable, empty: bool = False, example: str | None = None) -> Rule:
    """A list whose entries are all in ``choices`` (non-empty unless ``empty``)."""
    choices = tuple(choices)
    text = ("a list of " if empty else "a non-empty list of ") + ", ".join(map(str, choices))
    if empty:
        text += " (may be empty)"
    if example:
        text += f", e.g. {example}"
    return (lambda v: isinstance(v, list) and (empty or len(v) > 0) and all(x in choices for x in v)), text


def plain(v):
    """A Hydra container (a constructor's argument from a config) as plain Python lists and dicts;
    anything else as it is."""
    from omegaconf import OmegaConf

    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def check(values: dict, rules: dict[str, Rule], prefix: str = "") -> None:
    """Raise :class:`~knowloc.errors.ConfigValueError` (key ``prefix + key``) for the first plain
    value of ``values`` that breaks its rule (keys without a rule, or absent, are skipped)."""
    from knowloc.errors import ConfigValueError

    for key, (test, allowed) in rules.items():
        if key in values and not test(values[key]):
            raise ConfigValueError(prefix + key, values[key], allowed)


def check_under(node: str, values: dict, rules: dict[str, Rule], base: str = "") -> None:
    """:func:`check` of a constructor's ``values`` (keys relative to config node ``node``) against the
    rules under that node; ``rules`` are keyed relative to ``base`` (a family's ``PREFIX``), so the
    error names the full key ``base + node + "." + key``, as the preflight does."""
    prefix = node + "."
    check(values, {k[len(prefix):]: r for k, r in rules.items() if k.startswith(prefix)}, base + prefix)
