"""The localization family's choices and ranges: read by the preflight (``RULES``, merged into
:data:`knowloc.validation.RULES`) and by the constructors (:class:`~knowloc.localization.data.
LocalizationDataModule`, :class:`~knowloc.localization.module.LocalizationModule`,
:class:`knowloc.callbacks.UpdateTally`), which check their arguments with :func:`check`.

Keys (full dotted config keys: the family's options sit in three config nodes, ``data``, ``model``
and ``callbacks.update_tally``, so ``PREFIX`` is empty):

* ``data.superclasses``: >= 2 super-classes of sub-classes, ``[[1,7],[6,8]]`` -> labels 0 and 1;
  ``data.pool_size``: the first N samples (null: all); phase 1 trains on the first
  n_1 = max(1, floor(``data.phase1_fraction`` x pool)) samples for ``data.phase1_epochs``, each fork
  on the rest without one sub-class for ``data.fork_epochs``; ``data.chunk_size``: per-sample steps
  per Lightning batch; ``data.dtype``: the arithmetic of the scaling.
* ``model.activations`` x ``model.seeds``: the stacked models (names from
  :data:`knowloc.activations.ACTIVATIONS`); ``model.hidden``: H of the MLP D -> H -> C;
  ``model.lr`` / ``model.fork_lr`` (null = ``lr``): the per-sample SGD step sizes; ``model.dtype``.
* ``callbacks.update_tally.window``: [start, end], fractions of the steps T of the tallied
  ``callbacks.update_tally.phase``: the steps t with floor(start x T) <= t < floor(end x T).
"""

from __future__ import annotations

from knowloc.activations import activation_names
from knowloc.rules import check_under, fraction, int_at_least, is_int as _int, is_number as _num, one_of, optional, positive_number

#: dtypes of the engine's weights and of the scaled inputs
DTYPES = ("float32", "float64")
#: the phases of the data module's plan, in order (the batch's ``"phase"``; the phase UpdateTally tallies)
PHASES = ("phase1", "forks")
#: the config nodes of the family's options (the keys below are full dotted keys)
PREFIX = ""


def _superclasses(v) -> bool:
    return isinstance(v, list) and len(v) >= 2 and all(
        (isinstance(g, list) and len(g) > 0 and all(_int(c) and c >= 0 for c in g)) or (_int(g) and g >= 0) for g in v)


def _window(v) -> bool:
    return isinstance(v, list) and len(v) == 2 and all(_num(x) for x in v) and 0 <= v[0] < v[1] <= 1


#: option -> (test, allowed) (:mod:`knowloc.rules`), merged into :data:`knowloc.validation.RULES`
RULES = {
    "data.superclasses": (_superclasses, "a list of at least two super-classes, each a list of classes, "
                                         "e.g. [[1,7],[6,8]]"),
    "data.pool_size": optional(int_at_least(1)),
    "data.phase1_fraction": fraction(False, False),
    "data.phase1_epochs": int_at_least(1),
    "data.fork_epochs": int_at_least(1),
    "data.chunk_size": int_at_least(1),
    "model.lr": positive_number(),
    "model.fork_lr": optional(positive_number()),
    "model.hidden": int_at_least(1),
    "model.activations": ((lambda v: isinstance(v, list) and len(v) > 0 and all(a in activation_names() for a in v)),
                          "a non-empty list of " + ", ".join(activation_names())),
    "model.seeds": ((lambda v: isinstance(v, list) and len(v) > 0 and all(_int(x) and x >= 0 for x in v)),
                    "a non-empty list of integers >= 0"),
    "model.dtype": one_of(*DTYPES),
    # after model.dtype: data.dtype follows it by default (a bad model.dtype is named as such)
    "data.dtype": one_of(*DTYPES),
    "callbacks.update_tally.window": (_window, "[start, end] with 0 <= start < end <= 1"),
    "callbacks.update_tally.phase": one_of(*PHASES),
}


def check(node: str, **values) -> None:
    """Check constructor arguments against :data:`RULES` under config node ``node`` (``"data"``,
    ``"model"``, ``"callbacks.update_tally"``): the same one-line error as the preflight's."""
    check_under(node, values, RULES)
