"""``NeuronStats``: per unit x class activation and gradient statistics of chosen layers during training."""

from __future__ import annotations

import lightning as L
import torch

from knowloc.neurons import artefacts
from knowloc.neurons.options import STATS_NODE, NeuronStatsOptions
from knowloc.neurons.samples import SampleOrder, training_images
from knowloc.neurons.statistics import UnitClassStats
from knowloc.neurons.trace import Trace, get_layer, unit_grads, unit_values


class NeuronStats(L.Callback):
    """Accumulates, over every training step, the statistics of :mod:`knowloc.neurons.statistics`
    for each layer in ``layers`` (names of the net's modules; the net is ``pl_module.net``).

    A unit's value is the layer's *output*: ``act3`` is fc1 after its activation (what fc2 reads;
    the default), ``fc1`` the pre-activation; conv layers (``act1``, ``act2``) give one unit per
    channel (spatial mean; the gradient is the sum over space). Gradients are those of each
    sample's own loss: the hooks see dL/da of the batch loss L = (1/B) Σ ℓ_i, multiplied by B
    (the module's loss must be a batch mean, as ``ClassifierModule``'s cross-entropy is).

    Top-k images are kept as data-set indices, found by replaying the train loader's order
    (:mod:`knowloc.neurons.samples`; switched off with a warning when it cannot be). Options: :class:`~knowloc.neurons.options.NeuronStatsOptions`. At fit end it
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
        self._samples = SampleOrder()

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
        self._samples.start_epoch(trainer.train_dataloader)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._acts, self._grads = {}, {}
        self._batch = (batch[0], batch[1], self._samples.indices(trainer.train_dataloader, batch, batch_idx))
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
                              lambda indices: training_images(getattr(trainer, "datamodule", None), indices))
