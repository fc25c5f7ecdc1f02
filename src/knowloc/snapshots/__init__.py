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

from knowloc.snapshots.changes import MEASURES, change, changes_from_store, plot_changes
from knowloc.snapshots.filters import colour, filter_grid, render, write_gif
from knowloc.snapshots.layers import select_layers
from knowloc.snapshots.store import SnapshotStore, load_snapshot

__all__ = ["MEASURES", "change", "changes_from_store", "plot_changes", "colour", "filter_grid", "render",
           "write_gif", "select_layers", "SnapshotStore", "load_snapshot"]
