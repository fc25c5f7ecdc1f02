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
    """The first job to reach ``trainer.global_step == step`` creates ``marker`` (holding its run
    folder) and waits there up to ``seconds``, until SIGTERM or killed, so that a test can requeue
    or cancel it at a known point of training; later jobs and later starts, finding the marker, go on."""

    def __init__(self, step: int, marker: str, seconds: float = 120):
        self.step, self.marker, self.seconds = step, marker, seconds

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        import os
        import time

        if trainer.global_step != self.step:
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(trainer.default_root_dir).encode())
        os.close(fd)
        end = time.time() + self.seconds
        while time.time() < end and not trainer.received_sigterm:
            time.sleep(0.1)
