"""``AblationAnalysis``: after training, the unit x class ablation matrix and a class knockout."""

from __future__ import annotations

import logging
import time

import lightning as L
import numpy as np
import pandas as pd
import torch

from knowloc.errors import ConfigValueError
from knowloc.neurons.ablation import METHODS, AblationEvaluator
from knowloc.neurons.knockout import knockout_search

log = logging.getLogger("knowloc")
SPLITS = ("test", "val")


def _collect(loader, limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys, n = [], [], 0
    for x, y in loader:
        xs.append(x)
        ys.append(y)
        n += len(y)
        if limit is not None and n >= limit:
            break
    x, y = torch.cat(xs), torch.cat(ys)
    return (x[:limit], y[:limit]) if limit is not None else (x, y)


class AblationAnalysis(L.Callback):
    """At the end of ``fit``, on the ``split`` data of the datamodule: ablate each unit of ``layer``
    (``method`` zero / mean / resample; reference = the whole training split in data-set order when
    ``reference_size`` is null, the default, so a mean ablation uses the unit's mean over the whole
    training set; else the first ``reference_size`` samples of the shuffled train loader) and measure every class's accuracy (:class:`~knowloc.neurons.ablation.AblationEvaluator`),
    then search a knockout set for ``target_class`` (:func:`~knowloc.neurons.knockout.knockout_search`).

    Writes ``ablation/<layer>_matrix.{csv,npz,png}``, ``ablation/knockout.json``,
    ``ablation/knockout_curve.{csv,png}`` and the results ``ablation/...`` (see :mod:`knowloc.neurons`).
    """

    def __init__(self, layer: str = "act3", method: str = "zero", split: str = "test", target_class: int | None = 0,
                 target_acc: float = 0.2, max_other_drop: float = 0.05, beam_width: int = 1, max_size: int = 10,
                 reference_size: int | None = None, seed: int = 0, batch_size: int = 1000):
        super().__init__()
        if method not in METHODS:
            raise ConfigValueError("callbacks.ablation.method", method, METHODS)
        if split not in SPLITS:
            raise ConfigValueError("callbacks.ablation.split", split, SPLITS)
        self.layer, self.method, self.split = str(layer), method, split
        self.target_class = None if target_class is None else int(target_class)
        self.target_acc, self.max_other_drop = float(target_acc), float(max_other_drop)
        self.beam_width, self.max_size = int(beam_width), int(max_size)
        self.reference_size = None if reference_size is None else int(reference_size)
        self.seed, self.batch_size = int(seed), int(batch_size)
        self.matrix: torch.Tensor | None = None
        self.knockout: dict | None = None

    def check(self, pl_module) -> None:
        """Before training (knowloc's job calls it before any logger exists): the layer exists."""
        from knowloc.neurons.trace import get_layer

        get_layer(getattr(pl_module, "net", pl_module), self.layer, "callbacks.ablation.layer")

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.check(pl_module)
        val = getattr(trainer.datamodule, "val_split", None)
        if self.split == "val" and val is not None and len(val) == 0:
            raise ConfigValueError("callbacks.ablation.split", self.split,
                                   "test (this data has no validation split; data.split=index needs data.ranges.val)")

    def on_fit_end(self, trainer, pl_module) -> None:
        dm = trainer.datamodule
        if dm is None:
            log.warning("AblationAnalysis: no datamodule, nothing to analyse")
            return
        dm.setup("test" if self.split == "test" else "validate")
        loader = dm.test_dataloader() if self.split == "test" else dm.val_dataloader()
        x, y = _collect(loader)
        ref = self._reference(dm) if self.method != "zero" else None
        self.reference_n = 0 if ref is None else len(ref)
        net = getattr(pl_module, "net", pl_module)
        num_classes = int(getattr(pl_module, "num_classes", 0) or int(y.max()) + 1)
        if self.target_class is not None and not 0 <= self.target_class < num_classes:
            raise ConfigValueError("callbacks.ablation.target_class", self.target_class,
                                   f"a class index in [0, {num_classes - 1}] or null")
        was_training = net.training
        net.eval()
        try:
            t0 = time.perf_counter()
            ev = AblationEvaluator(net, self.layer, x, y, num_classes, self.method, ref, self.seed, self.batch_size)
            self.matrix = ev.matrix()
            t_matrix = time.perf_counter() - t0
            self._write_matrix(trainer, ev, t_matrix)
            if self.target_class is not None:
                t0 = time.perf_counter()
                self.knockout = knockout_search(ev, self.target_class, self.target_acc, self.max_other_drop,
                                                self.beam_width, self.max_size)
                self.knockout["seconds"] = round(time.perf_counter() - t0, 3)
                self._write_knockout(trainer, self.knockout)
        finally:
            net.train(was_training)

    def _reference(self, dm) -> torch.Tensor:
        """Reference inputs: the whole training split (data-set order) or the first
        ``reference_size`` samples of the train loader."""
        split = getattr(dm, "train_split", None)
        if self.reference_size is None and split is not None and hasattr(split, "x"):
            return split.x
        return _collect(dm.train_dataloader(), self.reference_size)[0]

    def _write_matrix(self, trainer, ev: AblationEvaluator, seconds: float) -> None:
        from knowloc import artifacts
        from knowloc.neurons import plots

        before = ev.acc_before.cpu().numpy()
        after = self.matrix.cpu().numpy()
        drop = before[None] - after
        counts = np.bincount(ev.y.cpu().numpy(), minlength=ev.num_classes)
        all_before = float(np.nansum(before * counts) / counts.sum())
        all_after = np.nansum(after * counts[None], 1) / counts.sum()
        folder = artifacts.run_dir(trainer) / "ablation"
        folder.mkdir(parents=True, exist_ok=True)
        extra = {"reference_mean": ev.mean.numpy()} if ev.mean is not None else {}
        np.savez_compressed(folder / f"{self.layer}_matrix.npz", layer=np.array(self.layer),
                            method=np.array(self.method), acc_before=before, acc_after=after, drop=drop,
                            counts=counts, split=np.array(self.split), reference_n=np.int64(self.reference_n),
                            **extra)
        table = pd.DataFrame({"unit": np.arange(len(drop)),
                              **{f"drop/{c}": drop[:, c] for c in range(drop.shape[1])},
                              "drop/all": all_before - all_after})
        artifacts.save_table(trainer, f"ablation/{self.layer}_matrix", table)
        fig = plots.heatmaps([(100 * drop, f"{self.split} accuracy drop (points) when the unit is ablated ({self.method})")],
                             f"{self.layer}: ablation matrix, {len(drop)} units x {drop.shape[1]} classes, "
                             f"n={len(ev.y)}")
        artifacts.save_figure(trainer, f"ablation/{self.layer}_matrix", fig)
        results = {f"ablation/acc_before/{c}": float(before[c]) for c in range(len(before))}
        results.update({f"ablation/matrix/max_drop/{c}": float(np.nanmax(drop[:, c])) for c in range(drop.shape[1])})
        results["ablation/matrix/max_drop"] = float(np.nanmax(drop))
        results["ablation/matrix/seconds"] = round(seconds, 3)
        artifacts.log_results(trainer, results)

    def _write_knockout(self, trainer, res: dict) -> None:
        from knowloc import artifacts
        from knowloc.neurons import plots
        from knowloc.records import write_json

        write_json(artifacts.run_dir(trainer) / "ablation" / "knockout.json", res)
        curve = pd.DataFrame([{"size": c["size"], "units": " ".join(map(str, c["units"])),
                               "target_acc": c["target_acc"], "max_other_drop": c["max_other_drop"],
                               **{f"acc/{k}": a for k, a in enumerate(c["acc"])}} for c in res["curve"]])
        artifacts.save_table(trainer, "ablation/knockout_curve", curve)
        artifacts.save_figure(trainer, "ablation/knockout_curve", plots.knockout_curve(res))
        results = {"ablation/knockout/size": res["size"], "ablation/knockout/met": int(res["met"]),
                   "ablation/knockout/target_acc_after": res["target_acc_after"],
                   "ablation/knockout/max_other_drop": res["max_other_drop_after"],
                   "ablation/knockout/seconds": res["seconds"]}
        results.update({f"ablation/class_acc_after/{c}": a for c, a in enumerate(res["acc_after"])})
        artifacts.log_results(trainer, results)
        (log.info if res["met"] else log.warning)("knockout: %s", res["message"])
