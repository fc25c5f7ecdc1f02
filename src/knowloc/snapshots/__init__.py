"""Weight snapshots over training and what they show; frozen layers.

Files a run with the ``WeightSnapshots`` callback leaves in its folder (``<run>/``)::

    snapshots/index.json                 the index: format, dtype, layers {name: {param: shape}},
                                         snapshots [{i, epoch, step, tag, file}] (tag: init|epoch|step|last)
    snapshots/NNNN.safetensors           snapshot i = NNNN: tensors "<layer>.weight", "<layer>.bias"
    snapshots/filters/<layer>/NNNN.png   filter picture of a conv layer at snapshot NNNN (colour map and
                                         layout in :mod:`knowloc.snapshots.filters`: red +, blue -, green 0)
    snapshots/filters/<layer>/from_init/NNNN.png, .../from_prev/NNNN.png
                                         W_t - W_0 and W_t - W_{t-1}, filters sorted by how much they moved
    snapshots/filters/<layer>.gif, <layer>.from_init.gif   animated, one colour range for the run
    snapshots/filters/views.json, moves.csv   ranges, captions, filter order (:mod:`knowloc.snapshots.views`)
    snapshots/changes.csv                i, epoch, step, layer, rel_dist_init, rel_dist_prev, cos_init,
                                         sign_flip_init, sign_flip_prev (:mod:`knowloc.snapshots.changes`)
    snapshots/changes.png                those measures vs epoch, one line per layer

``summary.json`` metrics: ``snapshots/n`` and, for each layer with a weight, the last snapshot's
``snapshots/<layer>/rel_dist_init``, ``.../cos_init``, ``.../sign_flip_init``.
A run with ``FreezeLayers`` adds ``freeze/frozen_params``, ``freeze/trainable_params`` and
``freeze/max_abs_change`` (0 when the frozen weights stayed bit-identical).

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
