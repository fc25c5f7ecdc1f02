"""``WeightSnapshots``: save chosen layers' weights at initialisation and every N epochs or M steps,
with filter pictures and GIFs per conv layer and weight-change curves.

Options: :mod:`knowloc.snapshots.options`. Files, results and W&B keys: the store, the views of
:mod:`knowloc.snapshots.views` and the change curves, all declared in
:mod:`knowloc.snapshots.artefacts`; W&B media in :mod:`knowloc.snapshots.media`; change measures
are also logged per snapshot as metrics ``snapshots/<layer>/<measure>`` (with ``snapshots/epoch``).

The training thread only copies the tensors; one background worker
(:class:`~knowloc.snapshots.recorder.SnapshotRecorder`, so snapshots are written in order) encodes
and writes each snapshot and computes its change measures. The pictures need the whole run's colour range, so they are drawn at the end, from the store. A crash
(any exception in training) joins the worker first: every snapshot taken is on disk and in the index.
"""

from __future__ import annotations

import logging
import math
from typing import Sequence

import lightning as L
import torch

from knowloc.snapshots import artefacts, options
from knowloc.snapshots.changes import MEASURES, flat64
from knowloc.snapshots.layers import select_layers
from knowloc.snapshots.recorder import SnapshotRecorder, missing_rows
from knowloc.snapshots.store import DTYPES, SnapshotStore

log = logging.getLogger("knowloc")
KEY = options.PREFIX + options.SNAPSHOTS


class WeightSnapshots(L.Callback):
    """Snapshots of the weights (and biases) of ``layers`` (names or patterns; None: every layer
    with parameters): one at initialisation (before the first step), one every ``every_n_epochs``
    epochs and/or every ``every_n_steps`` optimizer steps, and one at the end of training if the
    last step has none (``save_last``). Stored as ``dtype`` (float32, float16 or bfloat16; the
    change measures always use the full-precision weights of the running model).

    Conv filter pictures (``filter_images``): the views W_t, W_t - W_0 and W_t - W_{t-1} of
    :mod:`knowloc.snapshots.views`, on the symmetric colour range ±(``range_quantile`` quantile of
    |X|), one range per layer and view for the whole run (``colour_scale: run``: the maximum over
    snapshots) or per snapshot (``colour_scale: snapshot``).

    Memory stays flat: each snapshot goes to disk; the callback keeps the initial and the previous
    weights of the chosen layers (for the change measures), one row of measures per snapshot and
    layer, and at most :attr:`max_pending` snapshots copied but not yet written (the training thread
    waits beyond that). State (snapshot count, rows) is saved in checkpoints, so a resumed run
    appends to the same store (dropping snapshots taken after the checkpoint).
    """

    max_pending = 4

    def __init__(self, layers: Sequence[str] | str | None = None, every_n_epochs: int | None = 1,
                 every_n_steps: int | None = None, dtype: str = "float32", save_last: bool = True,
                 filter_images: bool = True, range_quantile: float = 0.99, colour_scale: str = "run",
                 change_curves: bool = True, gif_seconds_per_frame: float = 0.5, log_artifact: bool = True):
        options.check_snapshots(dtype=dtype, every_n_epochs=every_n_epochs, every_n_steps=every_n_steps,
                                range_quantile=range_quantile, colour_scale=colour_scale,
                                gif_seconds_per_frame=gif_seconds_per_frame)
        self.layer_patterns = None if layers is None else ([layers] if isinstance(layers, str) else list(layers))
        self.every_n_epochs, self.every_n_steps = every_n_epochs, every_n_steps
        self.dtype, self.save_last = dtype, save_last
        self.filter_images, self.range_quantile, self.colour_scale = filter_images, float(range_quantile), colour_scale
        self.change_curves = change_curves
        self.gif_seconds_per_frame, self.log_artifact = gif_seconds_per_frame, log_artifact
        self._layers: dict[str, torch.nn.Module] = {}
        self._store: SnapshotStore | None = None
        self._restored_n: int | None = None
        self._n = 0  # snapshots taken (written or pending)
        self._last_step: int | None = None
        self._batch_epoch = 0.0
        self._recorder: SnapshotRecorder | None = None
        self.rows: list[dict] = []

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        # rows of snapshots still being written are recomputed from the store on resume
        return {"n": self._n, "last_step": self._last_step, "rows": list(self.rows)}

    def load_state_dict(self, state_dict: dict) -> None:
        self._restored_n = int(state_dict.get("n", 0))
        self._last_step = state_dict.get("last_step")
        self.rows = list(state_dict.get("rows", []))

    # -- hooks ---------------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage == "fit":
            self._layers = select_layers(pl_module, self.layer_patterns, f"{KEY}.layers")

    def on_train_start(self, trainer, pl_module) -> None:
        from knowloc.artifacts import run_dir

        root = run_dir(trainer)
        self._store = SnapshotStore(root, self.dtype, create=True)
        keep = self._restored_n or 0
        if len(self._store) > keep or (self._restored_n is None and len(self._store)):
            self._store.truncate(keep)  # a fresh run in a used folder, or a resume from an earlier checkpoint
        self.rows = [r for r in self.rows if r["i"] < len(self._store)]
        self._n = len(self._store)
        self._recorder = SnapshotRecorder(self._store)
        if self._n == 0:
            self.rows, self._last_step = [], None
            self._take(trainer, epoch=0.0, tag="init")
        else:  # resumed: the change measures continue from the stored initial and last snapshots
            self._recorder.continue_from_store(self._weight_layers())
            self.rows = missing_rows(self._store, self._weight_layers(), self._recorder.initial, self.rows)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = trainer.num_training_batches
        self._batch_epoch = trainer.current_epoch + ((batch_idx + 1) / n if n and math.isfinite(n) else 0.0)
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._take(trainer, epoch=self._batch_epoch, tag="step")
        elif self._recorder.ready:
            self._drain(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        done = trainer.current_epoch + 1
        if self.every_n_epochs and done % self.every_n_epochs == 0:
            self._take(trainer, epoch=float(done), tag="epoch")

    def on_train_end(self, trainer, pl_module) -> None:
        if self._store is None:
            return
        if self.save_last:
            self._take(trainer, epoch=self._batch_epoch, tag="last")
        self._finish(trainer)

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        """A diverged or interrupted run keeps every snapshot taken, its pictures, curves and results."""
        if self._store is None:
            return
        try:
            self._join(trainer)
            if len(self._store):
                self._finish(trainer)
        except Exception as e:  # never hide the original error
            log.warning("snapshots: could not write the views after %s: %s", type(exception).__name__, e)

    def teardown(self, trainer, pl_module, stage: str) -> None:
        if self._recorder is not None:  # normally joined already; never leave the thread behind
            self._recorder.shutdown()

    # -- work ----------------------------------------------------------------------------------
    def _weight_layers(self) -> list[str]:
        return [n for n, m in self._layers.items() if isinstance(getattr(m, "weight", None), torch.Tensor)]

    def _take(self, trainer, epoch: float, tag: str) -> None:
        """Copy the tensors (training thread); encode, write and measure them in the worker."""
        step = int(trainer.global_step)
        if self._last_step == step:  # one snapshot per step, whichever schedule asked first
            return
        dtype = DTYPES[self.dtype]  # converted here: the worker runs no torch kernel (see SnapshotRecorder._write)
        tensors = {f"{name}.{p}": t.detach().to("cpu", dtype, copy=True)
                   for name, m in self._layers.items() for p, t in m.named_parameters(recurse=False)}
        weights = {name: flat64(self._layers[name].weight) for name in self._weight_layers()}
        while self._recorder.pending >= self.max_pending:
            self._drain(trainer, wait=True, most=1)
        self._recorder.submit(tensors, weights, epoch, step, tag)
        self._n += 1
        self._last_step = step
        self._drain(trainer)

    def _drain(self, trainer, wait: bool = False, most: int | None = None) -> None:
        """Collect finished snapshots in order (``wait``: the next ``most``, or all): their rows
        and metrics; an error in the worker is raised here, in the training thread."""
        self._log_rows(trainer, self._recorder.collect(wait, most))

    def _log_rows(self, trainer, done) -> None:
        """Keep each snapshot's rows (``done``: one list per snapshot) and log them as metrics."""
        for rows in done:
            self.rows += rows
            if self.change_curves and rows:
                metrics = {f"snapshots/{r['layer']}/{k}": r[k] for r in rows for k in MEASURES}
                metrics["snapshots/epoch"] = rows[0]["epoch"]
                for lg in trainer.loggers:
                    lg.log_metrics(metrics, step=rows[0]["step"])

    def _join(self, trainer) -> None:
        """Wait for every snapshot taken; stop the worker."""
        if self._recorder is not None:
            self._log_rows(trainer, self._recorder.join())

    def _finish(self, trainer) -> None:
        """Join the worker; the files, results and W&B media of :func:`knowloc.snapshots.artefacts.write`."""
        self._join(trainer)
        layers = [n for n in self._weight_layers() if self._layers[n].weight.ndim == 4] if self.filter_images else []
        artefacts.write(trainer, self._store, self.rows, layers, self.range_quantile, self.colour_scale,
                        self.gif_seconds_per_frame, self.change_curves, self.log_artifact)
