"""Writing snapshots in the background, in order, and measuring each one's change (the work of
:class:`~knowloc.callbacks.WeightSnapshots`; the callback decides when and logs the rows).

The training thread only copies the tensors; one background worker (a single-thread executor, so
snapshots are written in order) appends each snapshot to the :class:`~knowloc.snapshots.store.SnapshotStore`
and computes its change measures (:func:`knowloc.snapshots.changes.change`, one row
``{i, epoch, step, layer, <measures>}`` per layer with a weight) against the first snapshot W_0
and the previous one W_{t-1}. An error in the worker is raised where the rows are collected.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Iterator

import numpy as np
import torch

from knowloc.snapshots.changes import change, flat64


class SnapshotRecorder:
    """The worker of one run's snapshots into ``store``."""

    def __init__(self, store):
        self.store = store
        self._init: dict[str, np.ndarray] = {}  # worker-owned once started
        self._prev: dict[str, np.ndarray] = {}
        self._worker: ThreadPoolExecutor | None = ThreadPoolExecutor(max_workers=1, thread_name_prefix="weight-snapshots")
        self._pending: deque[Future] = deque()

    @property
    def pending(self) -> int:
        """Snapshots submitted whose rows were not collected yet."""
        return len(self._pending)

    @property
    def initial(self) -> dict[str, np.ndarray]:
        """W_0 per layer (flat float64)."""
        return self._init

    @property
    def ready(self) -> bool:
        """Whether the oldest pending snapshot is written."""
        return bool(self._pending) and self._pending[0].done()

    def continue_from_store(self, layers) -> None:
        """A resumed run: W_0 and W_{t-1} of ``layers`` from the first and the last stored snapshot."""
        for name in layers:
            self._init[name] = flat64(self.store.load(0, name))
            self._prev[name] = flat64(self.store.load(-1, name))

    def submit(self, tensors: dict[str, torch.Tensor], weights: dict[str, np.ndarray], epoch: float, step: int,
               tag: str) -> None:
        """Queue one snapshot: ``tensors`` as stored, ``weights`` (flat float64) for the measures."""
        self._pending.append(self._worker.submit(self._write, tensors, weights, epoch, step, tag))

    def _write(self, tensors: dict[str, torch.Tensor], weights: dict, epoch: float, step: int, tag: str) -> list[dict]:
        """Worker: append the snapshot to the store, then its change measures (one row per layer,
        from the full-precision ``weights``). NumPy only: a torch kernel run here would start a
        second OpenMP thread team next to the training's and change how its threads wait."""
        entry = self.store.append(tensors, epoch=epoch, step=step, tag=tag)
        rows = []
        for name, w64 in weights.items():
            if entry["i"] == 0:
                self._init[name] = w64
            rows.append({"i": entry["i"], "epoch": entry["epoch"], "step": step, "layer": name,
                         **change(w64, self._init[name], self._prev.get(name))})
            self._prev[name] = w64
        return rows

    def collect(self, wait: bool = False, most: int | None = None) -> Iterator[list[dict]]:
        """The rows of finished snapshots, in order, one list per snapshot, each as it is taken
        from the queue (``wait``: the next ``most``, or all)."""
        done = 0
        while self._pending and (wait or self._pending[0].done()) and (most is None or done < most):
            rows = self._pending.popleft().result()
            done += 1
            yield rows

    def join(self) -> Iterator[list[dict]]:
        """Wait for every snapshot submitted and stop the worker; their rows, as :meth:`collect`."""
        if self._worker is None:
            return
        self._worker.shutdown(wait=True)
        self._worker = None
        try:
            yield from self.collect(wait=True)
        finally:
            self._pending.clear()

    def shutdown(self) -> None:
        """Stop the worker (normally joined already; never leave the thread behind)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None


def missing_rows(store, layers, init: dict, rows: list[dict]) -> list[dict]:
    """``rows`` plus the rows of stored snapshots not in it (written after a checkpoint was saved),
    measured against ``init`` (W_0 per layer), sorted by snapshot."""
    have = {r["i"] for r in rows}
    out = list(rows)
    for layer in layers:
        prev = None
        for e, w in store.series(layer):
            if e["i"] not in have:
                out.append({"i": e["i"], "epoch": e["epoch"], "step": e["step"], "layer": layer,
                            **change(w, init[layer], prev)})
            prev = w
    out.sort(key=lambda r: r["i"])
    return out
