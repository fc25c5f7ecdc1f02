"""The snapshots family's choices and ranges: weight snapshots (``callbacks.weight_snapshots.*``,
:class:`~knowloc.callbacks.WeightSnapshots`) and frozen layers (``callbacks.freeze_layers.*``,
:class:`~knowloc.callbacks.FreezeLayers`). Read by the preflight (``RULES``, merged into
:data:`knowloc.validation.RULES`), by the constructors (:func:`check_snapshots`,
:func:`check_freeze`), the store and the views; the config files (``conf/snapshots/default.yaml``,
``conf/freeze/*.yaml``) document the same keys.

Colour range of a filter view, with Q_q the ``range_quantile`` quantile of |X_t| over a layer's
weights: ``run``: s = max_t Q_q(|X_t|) (one range per layer and view for the run); ``snapshot``:
s_t = Q_q(|X_t|) per picture.
"""

from __future__ import annotations

from knowloc.rules import check_under, fraction, int_at_least, one_of, optional, positive_number

#: storage dtypes of a snapshot (the change measures use the full-precision weights)
DTYPES = ("float32", "float16", "bfloat16")
#: colour range of a filter view: one per run and view, or one per picture
COLOUR_SCALES = ("run", "snapshot")
#: filter views: name -> what is drawn (W_t, its change from initialisation, from the previous snapshot)
VIEWS = {"weights": "W_t", "from_init": "W_t - W_0", "from_prev": "W_t - W_(t-1)"}
#: views that also get a GIF (W_t - W_(t-1) would flicker)
GIF_VIEWS = ("weights", "from_init")
#: at most this many evenly spaced frames (first and last always) in a GIF
GIF_FRAMES = 100

#: the config nodes of these options: ``callbacks.weight_snapshots.<key>``, ``callbacks.freeze_layers.<key>``
PREFIX = "callbacks."
SNAPSHOTS = "weight_snapshots"
FREEZE = "freeze_layers"
#: option -> (test, allowed) (:mod:`knowloc.rules`), keys below ``PREFIX``
RULES = {
    f"{SNAPSHOTS}.every_n_epochs": optional(int_at_least(1)),
    f"{SNAPSHOTS}.every_n_steps": optional(int_at_least(1)),
    f"{SNAPSHOTS}.dtype": one_of(*DTYPES),
    f"{SNAPSHOTS}.gif_seconds_per_frame": positive_number(),
    f"{SNAPSHOTS}.range_quantile": fraction(False, True),
    f"{SNAPSHOTS}.colour_scale": one_of(*COLOUR_SCALES),
    f"{FREEZE}.at_epoch": int_at_least(0),
}


def key(node: str, option: str) -> str:
    """The full config key, e.g. ``key(SNAPSHOTS, "dtype")`` = ``callbacks.weight_snapshots.dtype``."""
    return f"{PREFIX}{node}.{option}"


def check_snapshots(**values) -> None:
    """Raise :class:`~knowloc.errors.ConfigValueError` for the first ``callbacks.weight_snapshots``
    value that breaks its rule (the constructor's check; the preflight checks the same ``RULES``)."""
    check_under(SNAPSHOTS, values, RULES, PREFIX)


def check_freeze(**values) -> None:
    """The same for ``callbacks.freeze_layers``."""
    check_under(FREEZE, values, RULES, PREFIX)
