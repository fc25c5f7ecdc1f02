"""``WeightSnapshots``: save chosen layers' weights at initialisation and every N epochs or M steps,
with filter images, a GIF per conv layer and weight-change curves.

Files (in the run folder; see :mod:`knowloc.snapshots`): ``snapshots/index.json`` and
``snapshots/NNNN.safetensors`` (the store), ``snapshots/filters/<layer>/NNNN.png`` and
``snapshots/filters/<layer>.gif``, ``snapshots/changes.csv`` and ``snapshots/changes.png``.
W&B (when on): filter images under ``snapshots/filters/<layer>``, change measures as metrics
``snapshots/<layer>/<measure>`` (with ``snapshots/epoch``), and the folder as an artifact of type
``snapshots``. The record (``summary.json``) gets ``snapshots/n`` and the last snapshot's
``snapshots/<layer>/{rel_dist_init,cos_init,sign_flip_init}``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Sequence

import lightning as L
import torch

from knowloc.errors import ConfigValueError
from knowloc.snapshots.changes import MEASURES, change, plot_changes
from knowloc.snapshots.filters import render, write_gif, write_png
from knowloc.snapshots.layers import select_layers
from knowloc.snapshots.store import DTYPES, FOLDER, SnapshotStore
from knowloc.snapshots.views import caption_of

log = logging.getLogger("knowloc")
KEY = "callbacks.weight_snapshots"


class WeightSnapshots(L.Callback):
    """Snapshots of the weights (and biases) of ``layers`` (names or patterns; None: every layer
    with parameters): one at initialisation (before the first step), one every ``every_n_epochs``
    epochs and/or every ``every_n_steps`` optimizer steps, and one at the end of training if the
    last step has none (``save_last``). Conv filter images use the colour map of
    :mod:`knowloc.snapshots.filters` with the symmetric range ±(``range_quantile`` quantile of |W|). Stored as ``dtype`` (float32 or float16; the change
    measures always use the full-precision weights of the running model).

    Memory stays flat: each snapshot goes straight to disk; the callback keeps only the initial
    and the previous weights of the chosen layers (for the change measures) and one row of
    measures per snapshot and layer. State (snapshot count, rows) is saved in checkpoints, so a
    resumed run appends to the same store (dropping snapshots taken after the checkpoint).
    """

    def __init__(self, layers: Sequence[str] | str | None = None, every_n_epochs: int | None = 1,
                 every_n_steps: int | None = None, dtype: str = "float32", save_last: bool = True,
                 filter_images: bool = True, range_quantile: float = 0.99, change_curves: bool = True,
                 gif_seconds_per_frame: float = 0.5, log_artifact: bool = True):
        if dtype not in DTYPES:
            raise ConfigValueError(f"{KEY}.dtype", dtype, list(DTYPES))
        for name, v in (("every_n_epochs", every_n_epochs), ("every_n_steps", every_n_steps)):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
                raise ConfigValueError(f"{KEY}.{name}", v, "null or an integer >= 1")
        self.layer_patterns = None if layers is None else ([layers] if isinstance(layers, str) else list(layers))
        self.every_n_epochs, self.every_n_steps = every_n_epochs, every_n_steps
        self.dtype, self.save_last = dtype, save_last
        if not isinstance(range_quantile, (int, float)) or not 0 < range_quantile <= 1:
            raise ConfigValueError(f"{KEY}.range_quantile", range_quantile, "a number in (0, 1]")
        self.filter_images, self.range_quantile, self.change_curves = filter_images, float(range_quantile), change_curves
        self.gif_seconds_per_frame, self.log_artifact = gif_seconds_per_frame, log_artifact
        self._layers: dict[str, torch.nn.Module] = {}
        self._store: SnapshotStore | None = None
        self._restored_n: int | None = None
        self._last_step: int | None = None
        self._batch_epoch = 0.0
        self._init: dict[str, torch.Tensor] = {}
        self._prev: dict[str, torch.Tensor] = {}
        self.rows: list[dict] = []

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"n": len(self._store) if self._store is not None else 0, "last_step": self._last_step,
                "rows": list(self.rows)}

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
            self._remove_images_from(keep)
            self.rows = [r for r in self.rows if r["i"] < keep]
        if len(self._store) == 0:
            self.rows, self._last_step = [], None
            self._take(trainer, epoch=0.0, tag="init")
        else:  # resumed: the change measures continue from the stored initial and last snapshots
            for name in self._weight_layers():
                self._init[name] = self._store.load(0, name, dtype=torch.float64).flatten()
                self._prev[name] = self._store.load(-1, name, dtype=torch.float64).flatten()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        n = trainer.num_training_batches
        self._batch_epoch = trainer.current_epoch + ((batch_idx + 1) / n if n and math.isfinite(n) else 0.0)
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._take(trainer, epoch=self._batch_epoch, tag="step")

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
        """A diverged or interrupted run keeps its GIFs, curves and results up to the last snapshot."""
        if self._store is not None and len(self._store):
            try:
                self._finish(trainer)
            except Exception as e:  # never hide the original error
                log.warning("snapshots: could not write the views after %s: %s", type(exception).__name__, e)

    # -- work ----------------------------------------------------------------------------------
    def _weight_layers(self) -> list[str]:
        return [n for n, m in self._layers.items() if isinstance(getattr(m, "weight", None), torch.Tensor)]

    def _take(self, trainer, epoch: float, tag: str) -> None:
        step = int(trainer.global_step)
        if self._last_step == step:  # one snapshot per step, whichever schedule asked first
            return
        tensors = {f"{name}.{p}": t for name, m in self._layers.items() for p, t in m.named_parameters(recurse=False)}
        entry = self._store.append(tensors, epoch=epoch, step=step, tag=tag)
        self._last_step = step
        metrics = {}
        for name in self._weight_layers():
            w = self._layers[name].weight.detach()
            w64 = w.to(torch.float64, copy=True).flatten()  # a copy, never a view of the live weight
            if entry["i"] == 0:
                self._init[name] = w64
            m = change(w64, self._init[name], self._prev.get(name))
            self._prev[name] = w64
            self.rows.append({"i": entry["i"], "epoch": entry["epoch"], "step": step, "layer": name, **m})
            metrics.update({f"snapshots/{name}/{k}": v for k, v in m.items()})
            if self.filter_images and w.ndim == 4:
                self._image(trainer, name, w, entry)
        if self.change_curves and metrics:
            metrics["snapshots/epoch"] = entry["epoch"]
            for lg in trainer.loggers:
                lg.log_metrics(metrics, step=step)

    def _image_dir(self, layer: str) -> Path:
        return self._store.dir / "filters" / layer

    def _image(self, trainer, layer: str, w: torch.Tensor, entry: dict) -> None:
        from knowloc.tracking import wandb_run_of

        text = caption_of(layer, entry)
        path = write_png(render(w, text, self.range_quantile), self._image_dir(layer) / f"{entry['i']:04d}.png")
        run = wandb_run_of(trainer)
        if run is not None:
            import wandb

            run.log({f"snapshots/filters/{layer}": wandb.Image(str(path), caption=text),
                     "trainer/global_step": entry["step"]})

    def _remove_images_from(self, n: int) -> None:
        folder = self._store.dir / "filters"
        for p in folder.glob("*/*.png") if folder.exists() else []:
            if p.stem.isdigit() and int(p.stem) >= n:
                p.unlink()

    def _finish(self, trainer) -> None:
        import pandas as pd

        from knowloc.artifacts import log_results, save_figure, save_image_file, save_table

        store = self._store
        if self.filter_images:
            for name in self._weight_layers():
                frames = sorted(self._image_dir(name).glob("*.png"))
                if frames:
                    gif = write_gif(frames, store.dir / "filters" / f"{name}.gif", self.gif_seconds_per_frame)
                    save_image_file(trainer, f"snapshots/filters/{name}_animation", gif)
        results = {"snapshots/n": len(store)}
        last = {}
        for r in self.rows:
            last[r["layer"]] = r
        for name, r in last.items():
            results.update({f"snapshots/{name}/{k}": r[k] for k in ("rel_dist_init", "cos_init", "sign_flip_init")})
        if self.change_curves and self.rows:
            save_table(trainer, f"{FOLDER}/changes", pd.DataFrame(self.rows, columns=["i", "epoch", "step", "layer", *MEASURES]))
            save_figure(trainer, f"{FOLDER}/changes", plot_changes(self.rows), tight=False)
        log_results(trainer, results)
        if self.log_artifact:
            self._log_artifact(trainer)

    def _log_artifact(self, trainer) -> None:
        from knowloc.tracking import wandb_run_of

        run = wandb_run_of(trainer)
        if run is None:
            return
        import wandb

        store = self._store
        art = wandb.Artifact(f"snapshots-{run.id}", type="snapshots",
                             metadata={"dtype": store.index["dtype"], "layers": store.index["layers"],
                                       "n": len(store), "epochs": store.epochs, "steps": store.steps})
        art.add_dir(str(store.dir))
        run.log_artifact(art)
