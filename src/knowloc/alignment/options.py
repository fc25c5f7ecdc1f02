"""The alignment family's choices and ranges: read by the preflight (``RULES``, merged into
:data:`knowloc.validation.RULES`), by :class:`~knowloc.alignment.AlignmentSearch` and the data
modules (their constructors check the same rules), and by the comments of
``conf/experiment/alignment.yaml``.

Options of the search (config node ``alignment.``, :data:`SEARCH_RULES`):

* ``variables``  the high-level variables searched: ``ab`` (a=b alone), ``cd`` (c=d alone), ``both``
                 (one rotation, a=b in coordinates [0, k), c=d in [k, 2k))
* ``rotations``  the learned maps R: ``orthogonal`` (DAS: R^{-1} = R^T) or ``linear`` (any invertible
                 R); :data:`KINDS` gives the method name of each in the tables
* ``baselines``  ``identity`` (the best k neurons, R = I) and ``random`` (an untrained Haar-random R)
* ``select``     which restart is reported: ``train_iia`` (argmax over restarts of the training-pair IIA)
                 or ``first`` (restart 0)
* ``init``       ``data`` (restarts 0 and 1 start from the spread matrices S_V of
                 :mod:`knowloc.alignment.starts`, restarts >= :data:`RANDOM_FROM` at random) or
                 ``random`` (every restart Haar-random)
* ``orthogonal_map``  PyTorch's map from free parameters A to R: ``cayley`` R = (I + A/2)^{-1}(I - A/2),
                 ``matrix_exp`` R = exp(A), ``householder``
* ``lr_schedule`` ``cosine`` (lr_t = lr (1 + cos(pi t / T)) / 2 over T = max_epochs) or ``constant``
* ``checkpoint`` null (train the network in the job) or where to load it from
  (:func:`knowloc.alignment.network.load_network`)

Options of the equality data (config node ``data.``, :data:`DATA_RULES`): ``vocab_size`` items of
dimension ``dim`` per vocabulary.
"""

from __future__ import annotations

from knowloc.rules import int_at_least, is_int as _int, list_of, one_of, positive_number

#: the high-level variables: a=b, c=d, and both in one rotation
VARIABLES = ("ab", "cd", "both")
#: rotation kind (``alignment.rotations``) -> its method name in the tables
KINDS = {"orthogonal": "das", "linear": "das_linear"}
BASELINES = ("identity", "random")
SELECTS = ("train_iia", "first")
#: where the rotations start (see :mod:`knowloc.alignment.starts`)
INITS = ("data", "random")
#: PyTorch's maps from free parameters to an orthogonal matrix (torch.nn.utils.parametrizations.orthogonal)
ORTHOGONAL_MAPS = ("cayley", "matrix_exp", "householder")
#: the rotations' learning rate over the run: cosine decay to 0 over max_epochs, or constant
LR_SCHEDULES = ("cosine", "constant")
#: first restart that starts at random when init=data (0 and 1 start from the data)
RANDOM_FROM = 2


def _equality_run(v) -> bool:
    """A run folder of experiment=equality (``checkpoints/last.ckpt``) or experiment=alignment (its
    :data:`~knowloc.alignment.artefacts.NETWORK`), or a weights file (.ckpt of an equality run, a
    state dict .pt)."""
    from pathlib import Path

    from knowloc.alignment.artefacts import NETWORK

    if not isinstance(v, str):
        return False
    p = Path(v).expanduser()
    if p.is_dir():
        return (p / "summary.json").is_file() and any(
            f.is_file() for f in (p / "checkpoints" / "last.ckpt", NETWORK.at(p)))
    return p.is_file()


#: the config node of the search options
SEARCH = "alignment."
#: search option -> (test, allowed) (:mod:`knowloc.rules`)
SEARCH_RULES = {
    "layers": ((lambda v: isinstance(v, list) and len(v) > 0 and all(_int(x) and x >= 0 for x in v)),
               "a non-empty list of layer numbers >= 0 (0: the input embeddings), e.g. [0, 1, 2]"),
    "sizes": ((lambda v: isinstance(v, list) and len(v) > 0 and all(_int(x) and x >= 1 for x in v)),
              "a non-empty list of subspace sizes >= 1, e.g. [1, 2, 4, 8]"),
    "variables": list_of(VARIABLES),
    "rotations": list_of(KINDS),
    "baselines": list_of(BASELINES, empty=True),
    "restarts": int_at_least(1),
    "select": one_of(*SELECTS),
    "init": one_of(*INITS),
    "orthogonal_map": one_of(*ORTHOGONAL_MAPS),
    "lr_schedule": one_of(*LR_SCHEDULES),
    "select_pairs": int_at_least(1),
    "baseline_pairs": int_at_least(1),
    "exhaustive_limit": int_at_least(0),
    "lr": positive_number(),
    "checkpoint": ((lambda v: v is None or _equality_run(v)),
                   "null (train the network in the job), a run folder of experiment=equality or "
                   "experiment=alignment, a .ckpt file of an equality run, or a state dict of the MLP (.pt)"),
}

#: the config node of the equality data (``EqualityDataModule``, ``InterchangeDataModule``)
DATA = "data."
DATA_RULES = {
    "vocab_size": int_at_least(2),
    "dim": int_at_least(1),
}

#: the rules are under two config nodes, so their keys carry the node and the prefix is empty
PREFIX = ""
#: full config key -> (test, allowed), merged into :data:`knowloc.validation.RULES`
RULES = {**{SEARCH + k: r for k, r in SEARCH_RULES.items()}, **{DATA + k: r for k, r in DATA_RULES.items()}}
