"""knowloc.alignment: distributed alignment search (DAS) on hierarchical equality.

``knowloc experiment=equality`` trains the MLP 16-16-16-2 on y = ((a = b) = (c = d));
``knowloc experiment=alignment`` trains (or loads, ``alignment.checkpoint=RUN``) that network and
searches its input (layer 0) and hidden layers for the variables a=b and c=d with learned rotations,
started from the data (:mod:`knowloc.alignment.starts`) and at random.

Files written into the run folder
---------------------------------
``alignment/iia.csv``
    one row per (layer, size, variable, method) for the selected rotation: columns
    ``layer, size, variable, method, iia_all, iia_changed, train_iia, restart, n_pairs, n_changed``
    (+ ``neurons, search`` for the identity baseline). ``variable`` is ab, cd or both;
    ``method`` is ``das`` (orthogonal rotation searched for that target, best restart by training
    IIA), ``das_random_start`` (the same search restricted to its random restarts: with
    ``alignment.init=data`` restarts 0 and 1 start from the data, 2 and later at random), ``das_joint`` (the
    "both" rotation evaluated on a=b or c=d alone), ``das_linear``/``das_linear_joint`` (free
    linear map), ``identity`` (best k neurons), ``random`` (untrained random rotation).
    ``iia_all``: IIA on all held-out pairs (a no-op scores ~0.5); ``iia_changed``: on the pairs
    whose high-level label the intervention changes (a no-op scores 0).
``alignment/restarts.csv``
    every restart of the learned maps: ``layer, size, variable, method, restart, selected,
    train_iia, iia_all, iia_changed``.
``alignment/iia_vs_size.png``
    IIA vs subspace size per layer (top: all pairs, bottom: label-changing pairs).
``alignment/network.pt``
    state_dict of the network trained in the job (absent when loaded from a checkpoint).

Scalar results (``summary.json`` metrics and the W&B summary)
-------------------------------------------------------------
``alignment/<prefix>iia/layer<L>/size<k>/<variable>`` and ``alignment/<prefix>iia_changed/...``
with prefix "" (das), ``random_start_`` (das_random_start), ``joint_``, ``linear_``, ``linear_joint_``,
``identity_``, ``random_`` (and ``joint_random_start_`` ...);
``alignment/train_iia/layer<L>/size<k>/<variable>`` (training-pair IIA of the selected das
rotation); ``alignment/network/test_acc``; ``alignment/restarts``; ``alignment/select``.
"""

from knowloc.alignment.data import EqualityDataModule, InterchangeDataModule
from knowloc.alignment.network import equality_network
from knowloc.alignment.search import AlignmentSearch

__all__ = ["EqualityDataModule", "InterchangeDataModule", "equality_network", "AlignmentSearch"]
