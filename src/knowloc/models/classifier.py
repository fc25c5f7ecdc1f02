"""``ClassifierModule``: trains any ``net`` with cross-entropy; logs loss, accuracy and per-class
test accuracy."""

from __future__ import annotations

from typing import Any, Callable

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn


class ClassifierModule(L.LightningModule):
    """Logs ``{train,val,test}/loss`` and ``/acc``, and ``test/acc_class/<k>`` for each class k.

    ``optimizer`` and ``scheduler`` are partials from the config (``_partial_: true``).
    """

    def __init__(self, net: nn.Module, optimizer: Callable[..., torch.optim.Optimizer],
                 scheduler: Callable[..., Any] | None = None, num_classes: int = 10):
        super().__init__()
        self.net = net
        self.optimizer_factory = optimizer
        self.scheduler_factory = scheduler
        self.num_classes = int(num_classes)
        self._test_correct = torch.zeros(self.num_classes)
        self._test_count = torch.zeros(self.num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def _step(self, batch, stage: str):
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        acc = (logits.argmax(1) == y).float().mean()
        on_step = stage == "train"
        self.log(f"{stage}/loss", loss, on_step=on_step, on_epoch=True, prog_bar=True, batch_size=len(y))
        self.log(f"{stage}/acc", acc, on_step=False, on_epoch=True, prog_bar=True, batch_size=len(y))
        return loss, logits, y

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")[0]

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def on_test_epoch_start(self) -> None:
        self._test_correct.zero_()
        self._test_count.zero_()

    def test_step(self, batch, batch_idx):
        _, logits, y = self._step(batch, "test")
        hit = (logits.argmax(1) == y).float().cpu()
        self._test_correct.index_add_(0, y.cpu(), hit)
        self._test_count.index_add_(0, y.cpu(), torch.ones_like(hit))

    def on_test_epoch_end(self) -> None:
        for k in range(self.num_classes):
            if self._test_count[k] > 0:
                self.log(f"test/acc_class/{k}", self._test_correct[k] / self._test_count[k])

    def configure_optimizers(self):
        params = [p for p in self.parameters() if p.requires_grad]
        opt = self.optimizer_factory(params)
        if self.scheduler_factory is None:
            return opt
        return {"optimizer": opt, "lr_scheduler": {"scheduler": self.scheduler_factory(opt), "interval": "epoch"}}
