"""Fault injection for tests, used from the command line like any callback:
``+callbacks.fault._target_=faults.InterruptAt +callbacks.fault.step=30``."""

from __future__ import annotations

import lightning as L
import torch


class InterruptAt(L.Callback):
    """Raise KeyboardInterrupt (as Ctrl-C would) when ``trainer.global_step`` reaches ``step``."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


class PoisonAt(L.Callback):
    """Set every weight to NaN before the step ``step``, so the loss becomes NaN there."""

    def __init__(self, step: int):
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.global_step == self.step:
            with torch.no_grad():
                for p in pl_module.parameters():
                    p.fill_(float("nan"))
