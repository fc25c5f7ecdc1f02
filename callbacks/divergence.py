"""``DivergenceGuard``: stop a run at the first NaN/inf loss or logged metric."""

from __future__ import annotations

import math

import lightning as L
import torch

from knowloc.errors import DivergenceError


class DivergenceGuard(L.Callback):
    """Raises :class:`DivergenceError` naming the step and the metric when the training loss
    (or any metric logged so far in this step) is not finite. Lightning then finalises the
    loggers, so everything logged before the step is kept, and the run record says ``failed``."""

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        # before the update, so the step named is the one whose loss is not finite
        if isinstance(loss, torch.Tensor) and not torch.isfinite(loss).all():
            raise DivergenceError(
                f"training diverged at step {trainer.global_step} (epoch {trainer.current_epoch}): "
                f"train/loss = {loss.detach().float().mean().item()}")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        for name, value in trainer.callback_metrics.items():  # other logged metrics
            v = float(value) if isinstance(value, torch.Tensor) and value.numel() == 1 else None
            if v is not None and not math.isfinite(v):
                raise DivergenceError(
                    f"training diverged at step {max(trainer.global_step - 1, 0)} (epoch "
                    f"{trainer.current_epoch}, batch {batch_idx}): {name} = {v}")
