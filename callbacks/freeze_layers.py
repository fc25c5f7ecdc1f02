"""``FreezeLayers``: freeze chosen layers at initialisation or at a given epoch."""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import lightning as L
import torch

from knowloc.snapshots import freezing

log = logging.getLogger("knowloc")


class FreezeLayers(L.Callback):
    """Freeze the parameters of ``layers`` (names or patterns such as ``conv*``, relative to the
    network) at the start of epoch ``at_epoch`` (0: at initialisation, before the optimizer is
    built). An entry ``NAME@EPOCH`` (``[conv1@0, conv2@3]``) or a mapping ``{conv1: 0, conv2: 3}``
    gives a layer its own epoch.

    A frozen parameter stops requiring a gradient and leaves every optimizer param group with its
    optimizer state, so its value stays bit-identical (:mod:`knowloc.snapshots.freezing`); options
    in :mod:`knowloc.snapshots.options`.

    The record gets ``freeze/frozen_params``, ``freeze/trainable_params`` and
    ``freeze/max_abs_change``, the largest |w_end - w_frozen| over frozen parameters (0 when
    freezing held). The list of frozen layers is saved in checkpoints, so a resumed run
    freezes them again before its optimizer is rebuilt.
    """

    def __init__(self, layers: Sequence[str] | Mapping[str, int] | str | None = (), at_epoch: int = 0):
        self.schedule = freezing.schedule(layers, at_epoch)
        self.at_epoch = at_epoch
        self.frozen: list[str] = []  # layer names frozen so far
        self._module: torch.nn.Module | None = None
        self._due: dict[str, int] = {}  # layer name -> epoch at whose start it is frozen
        self._reference: dict[str, torch.Tensor] = {}

    # -- state ---------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"frozen": list(self.frozen)}

    def load_state_dict(self, state_dict: dict) -> None:
        # Lightning restores callbacks after ``setup`` and before ``configure_optimizers``:
        # freezing here keeps the rebuilt optimizer the same shape as the saved one.
        self.frozen = list(state_dict.get("frozen", []))
        if self._module is not None and self.frozen:
            self._freeze(self.frozen)

    # -- hooks ---------------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        self._module = pl_module
        self._due = freezing.due_epochs(pl_module, self.schedule)
        self._freeze_due(0)

    def on_fit_start(self, trainer, pl_module) -> None:
        # the optimizer exists now; a module whose configure_optimizers did not filter on
        # requires_grad still has the frozen parameters in it
        freezing.drop_from_optimizers(trainer.optimizers)
        # the module is on its device (and in its precision) now: keep the references like the parameters
        self._reference = {k: v.to(freezing.parameter(self._module, k)) for k, v in self._reference.items()}

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        names = self._freeze_due(trainer.current_epoch)
        if names:
            freezing.drop_from_optimizers(trainer.optimizers)
            log.info("froze %s at epoch %d", ", ".join(names), trainer.current_epoch)

    def on_train_end(self, trainer, pl_module) -> None:
        from knowloc.artifacts import log_results

        log_results(trainer, freezing.results(pl_module, self._reference))

    # -- work ----------------------------------------------------------------------------------
    def _freeze_due(self, epoch: int) -> list[str]:
        names = [n for n, e in self._due.items() if e <= epoch and n not in self.frozen]
        if names:
            self._freeze(names)
        return names

    def _freeze(self, names: list[str]) -> None:
        for name in freezing.freeze(freezing.layers_of(self._module, names), self._reference):
            if name not in self.frozen:
                self.frozen.append(name)
