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


class HoldAt(L.Callback):
    """On a job's first start only (``SLURM_RESTART_COUNT`` unset or 0), write ``marker`` when
    ``trainer.global_step`` reaches ``step`` and wait there up to ``seconds`` (until killed or
    SIGTERM), so that a test can requeue the job at a known point of training."""

    def __init__(self, step: int, marker: str, seconds: float = 120):
        self.step, self.marker, self.seconds = step, marker, seconds

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        import os
        import time
        from pathlib import Path

        if trainer.global_step != self.step or int(os.environ.get("SLURM_RESTART_COUNT", "0") or 0):
            return
        Path(self.marker).write_text(str(trainer.global_step))
        end = time.time() + self.seconds
        while time.time() < end and not trainer.received_sigterm:
            time.sleep(0.1)
