"""Weight snapshots over training and what they show; frozen layers.

The family's one home. Its options (choices, ranges, ``RULES`` of ``callbacks.weight_snapshots.*``
and ``callbacks.freeze_layers.*``) are in :mod:`knowloc.snapshots.options`; every file a run with
the ``WeightSnapshots`` callback leaves in ``<run>/snapshots/`` (the store's index and one
safetensors file per snapshot, the filter pictures, GIFs, ``views.json``/``moves.csv`` of the views,
the change table and plot), with its writer and reader, is declared in
:mod:`knowloc.snapshots.artefacts`, together with the results (``summary.json`` metrics) of both
callbacks. ``FreezeLayers`` writes no file.

Modules: ``store`` (:class:`SnapshotStore`), ``changes`` (change measures and their plot),
``filters`` (colour map and layout of a filter picture), ``views`` (the pictures of a run),
``layers`` (choosing layers by pattern), ``media`` (W&B images, GIFs, artifact), ``options``,
``artefacts``.

>>> from knowloc.snapshots import SnapshotStore, load_snapshot
>>> w = load_snapshot("outputs/runs/<run>", "conv1", 0)     # conv1.weight at initialisation
>>> store = SnapshotStore("outputs/runs/<run>"); store.epochs, store.layers
>>> from knowloc.snapshots.views import write_views; write_views("outputs/runs/<run>")  # redraw from the store
>>> write_views("outputs/runs/<run>", colour_scale="snapshot")   # each picture on its own range
"""

# Loaded on first use: the preflight imports ``options`` (through knowloc.validation) before Hydra sets
# up logging, and must not load torch, Lightning or W&B on the way.
_EXPORTS = {"MEASURES": "changes", "change": "changes", "changes_from_store": "changes", "plot_changes": "changes",
            "colour": "filters", "filter_grid": "filters", "render": "filters", "write_gif": "filters",
            "select_layers": "layers", "SnapshotStore": "store", "load_snapshot": "store"}
__all__ = list(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
