"""``NeuronStats``: per unit x class activation and gradient statistics of chosen layers during training."""

from __future__ import annotations

import logging

import lightning as L
import numpy as np
import torch

from knowloc.neurons import artefacts
from knowloc.neurons.options import STATS_NODE, NeuronStatsOptions
from knowloc.neurons.statistics import UnitClassStats
from knowloc.neurons.trace import Trace, get_layer, unit_grads, unit_values

log = logging.getLogger("knowloc")


class NeuronStats(L.Callback):
    """Accumulates, over every training step, the statistics of :mod:`knowloc.neurons.statistics`
    for each layer in ``layers`` (names of the net's modules; the net is ``pl_module.net``).

    A unit's value is the layer's *output*: ``act3`` is fc1 after its activation (what fc2 reads;
    the default), ``fc1`` the pre-activation; conv layers (``act1``, ``act2``) give one unit per
    channel (spatial mean; the gradient is the sum over space). Gradients are those of each
    sample's own loss: the hooks see dL/da of the batch loss L = (1/B) Σ ℓ_i, multiplied by B
    (the module's loss must be a batch mean, as ``ClassifierModule``'s cross-entropy is).

    Top-k images are kept as indices: the position in the training split when the train loader's
    sampler replays its order (``EpochSeededSampler`` does; each batch is checked against the data
    set, else top-k is switched off with a warning), mapped to the data-set index when the data set
    exposes it. Options: :class:`~knowloc.neurons.options.NeuronStatsOptions`. At fit end it
    writes, per layer, the files of :mod:`knowloc.neurons.artefacts` (statistics, tables, image
    grids, heat maps, the anomaly figure; also to W&B).
    """

    def __init__(self, **options):
        super().__init__()
        self.options = NeuronStatsOptions.of(**options)
        self.layers = self.options.layers
        self.stats: dict[str, UnitClassStats] = {}
        self._traces: list[Trace] = []
        self._active = False
        self._acts: dict[str, torch.Tensor] = {}
        self._grads: dict[str, torch.Tensor] = {}
        self._batch = None
        self._order: list[int] | None = None
        self._index_ok = True

    # -- hooks -----------------------------------------------------------------------------------
    @staticmethod
    def _net(pl_module):
        return getattr(pl_module, "net", pl_module)

    def check(self, pl_module) -> None:
        """Before training (knowloc's job calls it before any logger exists): every layer exists."""
        for name in self.layers:
            get_layer(self._net(pl_module), name, STATS_NODE + "layers")

    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit" or self._traces:
            return
        net = self._net(pl_module)
        self.check(pl_module)
        for name in self.layers:
            self._traces.append(Trace(net, name, edit_output=self._watch(name), retain_output=False))

    def teardown(self, trainer, pl_module, stage: str) -> None:
        for t in self._traces:
            t.close()
        self._traces = []

    def _watch(self, name: str):
        """The layer's output, unchanged; during a training batch its unit values are kept and a
        tensor hook keeps the per-sample unit gradients when the backward pass reaches it."""
        def watch(out):
            if self._active and torch.is_grad_enabled() and out.requires_grad:
                self._acts[name] = unit_values(out.detach())
                batch = len(out)

                def grad_hook(grad):
                    self._grads[name] = unit_grads(grad.detach()) * batch

                out.register_hook(grad_hook)
            return out
        return watch

    # -- sample indices ----------------------------------------------------------------------------
    def on_train_epoch_start(self, trainer, pl_module) -> None:
        dl = trainer.train_dataloader
        sampler = getattr(dl, "sampler", None)
        self._order = list(iter(sampler)) if sampler is not None and self._index_ok else None

    def _indices(self, trainer, batch, batch_idx) -> torch.Tensor | None:
        """Positions of the batch's samples in the training data set (None if they cannot be known)."""
        if self._order is None:
            return None
        dl = trainer.train_dataloader
        bs = dl.batch_size
        pos = self._order[batch_idx * bs: batch_idx * bs + len(batch[1])]
        ds = dl.dataset
        items = ds.__getitems__(pos) if hasattr(ds, "__getitems__") else dl.collate_fn([ds[i] for i in pos])
        same = len(pos) == len(batch[1]) and all(  # the replayed copy is on the CPU, the batch on the run's device
            torch.equal(items[i].to(batch[i].device), batch[i]) for i in (1, 0))
        if not same:
            log.warning("NeuronStats: the train loader's order cannot be replayed; top-k images are off")
            self._index_ok, self._order = False, None
            return None
        pos = torch.as_tensor(pos)
        split = getattr(ds, "split", None)
        return split.index[pos] if split is not None and hasattr(split, "index") else pos

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._acts, self._grads = {}, {}
        self._batch = (batch[0], batch[1], self._indices(trainer, batch, batch_idx))
        self._active = True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._active = False
        if self._batch is None:
            return
        x, y, index = self._batch
        num_classes = int(getattr(pl_module, "num_classes", 0) or int(y.max()) + 1)
        for name in self.layers:
            if name not in self._acts or name not in self._grads:
                continue
            act, grad = self._acts[name], self._grads[name]
            if name not in self.stats:
                self.stats[name] = UnitClassStats(act.shape[1], num_classes,
                                                  tuple(x.shape[1:]) if self.options.images else None,
                                                  self.options.topk)
            self.stats[name].update(act.cpu(), grad.cpu(), y.cpu(), x.cpu() if self.options.images else None,
                                    index.cpu() if index is not None else None)
        self._acts, self._grads, self._batch = {}, {}, None

    # -- checkpoints -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"layers": list(self.layers), "stats": {k: s.state_dict() for k, s in self.stats.items()}}

    def load_state_dict(self, state_dict: dict) -> None:
        self.stats = {k: UnitClassStats.from_state_dict(s) for k, s in state_dict.get("stats", {}).items()}

    # -- results -----------------------------------------------------------------------------------
    def on_fit_end(self, trainer, pl_module) -> None:
        for name, stats in self.stats.items():
            self.write(trainer, name, stats)

    def write(self, trainer, name: str, stats: UnitClassStats) -> None:
        artefacts.write_stats(trainer, name, stats.summary(self.options.anomaly_score), self.options,
                              lambda indices: self._images_of(trainer, indices))

    @staticmethod
    def _images_of(trainer, indices: set[int]) -> dict[int, np.ndarray]:
        """Training images by data-set index (empty when the data set does not say)."""
        dm = getattr(trainer, "datamodule", None)
        split = getattr(dm, "train_split", None)
        if split is None or not indices:
            return {}
        where = {int(v): p for p, v in enumerate(split.index.tolist())}
        return {i: split.x[where[i]].numpy() for i in indices if i in where}
