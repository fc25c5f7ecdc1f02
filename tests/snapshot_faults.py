"""Callbacks for the snapshot tests, used from the command line like any callback
(``+callbacks.grow._target_=snapshot_faults.GrowFilter``)."""

from __future__ import annotations

import os
import signal

import lightning as L
import torch


class GrowFilter(L.Callback):
    """Multiply filter ``index`` of ``layer`` by ``factor`` at the start of every epoch, so the
    snapshot after epoch t holds W_0[index] * factor**t (with the layer frozen, nothing else moves it)."""

    def __init__(self, layer: str = "conv1", index: int = 0, factor: float = 1.5):
        self.layer, self.index, self.factor = layer, index, factor

    def on_train_epoch_start(self, trainer, pl_module):
        with torch.no_grad():
            getattr(pl_module.net, self.layer).weight[self.index].mul_(self.factor)


class KillAt(L.Callback):
    """SIGKILL this process right after optimizer step ``step`` (after the snapshot callbacks ran):
    no hook, no ``finally`` runs; a snapshot being written in the background is cut off."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)
