"""Every file the alignment family writes, under ``<run>/alignment/``: :data:`ARTEFACTS` (path and
meaning of each), and the names of its scalar results. :class:`~knowloc.alignment.AlignmentSearch`
writes through :func:`write`, :func:`~knowloc.alignment.network.equality_network` through
:func:`save_network`; the explorer page, the network loader and the tests read through :func:`read`
and the declarations.

Columns: ``IIA``: one row per (layer, size, variable, method) for the selected rotation:
``layer, size, variable, method, iia_all, iia_changed, train_iia, restart, n_pairs, n_changed``
(+ ``neurons, search`` for the identity baseline). ``variable`` is ab, cd or both; ``method`` is
``das`` (orthogonal rotation searched for that target, best restart by training IIA),
``das_random_start`` (the same search restricted to its random restarts: with ``alignment.init=data``
restarts 0 and 1 start from the data, 2 and later at random), ``das_joint`` (the "both" rotation
evaluated on a=b or c=d alone), ``das_linear``/``das_linear_joint`` (free linear map), ``identity``
(best k neurons), ``random`` (untrained random rotation). ``iia_all``: IIA on all held-out pairs (a
no-op scores ~0.5); ``iia_changed``: on the pairs whose high-level label the intervention changes (a
no-op scores 0). ``RESTARTS``: every restart of the learned maps: ``layer, size, variable, method,
restart, selected, train_iia, iia_all, iia_changed``.

Results (``summary.json`` metrics and the W&B summary): :func:`result_name`, i.e.
``alignment/<prefix>iia/layer<L>/size<k>/<variable>`` and ``alignment/<prefix>iia_changed/...`` with
the prefix of each method in :data:`METHOD_PREFIX`; ``alignment/train_iia/layer<L>/size<k>/<variable>``
(training-pair IIA of the selected das rotation); :data:`NETWORK_TEST_ACC`, :data:`RESTARTS_RESULT`,
:data:`SELECT_RESULT`.
"""

from __future__ import annotations

from pathlib import Path

from knowloc.artifacts import Artefact

FOLDER = "alignment"
IIA = Artefact("alignment/iia.csv", "IIA on held-out pairs of the selected rotation per layer, size, variable, method")
RESTARTS = Artefact("alignment/restarts.csv", "training and held-out IIA of every restart of the learned maps")
IIA_FIGURE = Artefact("alignment/iia_vs_size.png",
                      "IIA vs subspace size per layer (top: all pairs, bottom: label-changing pairs)")
NETWORK = Artefact("alignment/network.pt",
                   "state_dict of the equality network trained in the job (absent when loaded from a checkpoint)")
ARTEFACTS = (IIA, RESTARTS, IIA_FIGURE, NETWORK)

#: result-name prefix of each method: alignment/<prefix>iia/layerL/sizeK/V
METHOD_PREFIX = {"das": "", "das_joint": "joint_", "das_linear": "linear_", "das_linear_joint": "linear_joint_",
                 "das_random_start": "random_start_", "das_joint_random_start": "joint_random_start_",
                 "das_linear_random_start": "linear_random_start_",
                 "das_linear_joint_random_start": "linear_joint_random_start_",
                 "identity": "identity_", "random": "random_"}
#: test accuracy of the searched network (trained in the job, or that of the run it was loaded from)
NETWORK_TEST_ACC = "alignment/network/test_acc"
#: the number of restarts and the selection rule of the run
RESTARTS_RESULT = "alignment/restarts"
SELECT_RESULT = "alignment/select"


def result_name(method: str, measure: str, layer: int, size: int, variable: str) -> str:
    """``alignment/<prefix><measure>/layer<L>/size<k>/<variable>``, e.g. alignment/iia_changed/layer1/size8/both."""
    return f"alignment/{METHOD_PREFIX[method]}{measure}/layer{layer}/size{size}/{variable}"


def present(run_dir: Path) -> bool:
    return IIA.exists(run_dir)


def write(trainer, rows: list[dict], info: dict, restarts: int, select: str) -> dict:
    """Write ``IIA``, ``RESTARTS`` and ``IIA_FIGURE`` (and the W&B tables, image and summary) for the
    evaluated entries ``rows`` of a search; returns the scalar results."""
    from knowloc import artifacts
    from knowloc.alignment import report

    table, every = report.tables(rows)
    artifacts.save_table(trainer, IIA.key, table)
    artifacts.save_table(trainer, RESTARTS.key, every)
    results = report.results(table, info, restarts, select)
    artifacts.log_results(trainer, results)
    artifacts.save_figure(trainer, IIA_FIGURE.key, report.iia_figure(table))
    report.log_table(table)
    return results


def save_network(net, run_dir: str | Path) -> Path:
    """``NETWORK`` in ``run_dir``: the net's ``state_dict`` on the CPU."""
    import torch

    path = NETWORK.at(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.cpu() for k, v in net.state_dict().items()}, path)
    return path


def read(run_dir: str | Path) -> dict:
    """The alignment tables of a run as pandas DataFrames: ``iia`` and ``restarts`` (None when absent)."""
    import pandas as pd

    return {key: pd.read_csv(art.at(run_dir)) if art.exists(run_dir) else None
            for key, art in (("iia", IIA), ("restarts", RESTARTS))}
