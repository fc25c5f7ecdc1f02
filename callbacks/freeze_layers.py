"""``FreezeLayers``: freeze chosen layers at initialisation or at a given epoch."""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import lightning as L
import torch

from knowloc.errors import ConfigValueError
from knowloc.snapshots import options
from knowloc.snapshots.layers import select_layers

log = logging.getLogger("knowloc")
KEY = options.PREFIX + options.FREEZE


class FreezeLayers(L.Callback):
    """Freeze the parameters of ``layers`` (names or patterns such as ``conv*``, relative to the
    network) at the start of epoch ``at_epoch`` (0: at initialisation, before the optimizer is
    built). An entry ``NAME@EPOCH`` (``[conv1@0, conv2@3]``) or a mapping ``{conv1: 0, conv2: 3}``
    gives a layer its own epoch.

    A frozen parameter gets ``requires_grad = False`` and is removed from every optimizer param
    group together with its optimizer state (momentum, Adam moments), so neither gradient steps
    nor weight decay nor momentum can move it: its value stays bit-identical. Empty param groups
    are kept so that schedulers still line up. Only parameters are frozen; buffers (BatchNorm
    statistics) are not touched.

    The record gets ``freeze/frozen_params``, ``freeze/trainable_params`` and
    ``freeze/max_abs_change``, the largest |w_end - w_frozen| over frozen parameters (0 when
    freezing held). The list of frozen layers is saved in checkpoints, so a resumed run
    freezes them again before its optimizer is rebuilt.
    """

    def __init__(self, layers: Sequence[str] | Mapping[str, int] | str | None = (), at_epoch: int = 0):
        def epoch_ok(e) -> bool:
            return isinstance(e, int) and not isinstance(e, bool) and e >= 0

        options.check_freeze(at_epoch=at_epoch)
        if layers is None:
            layers = []
        if isinstance(layers, str):
            layers = [layers]
        if isinstance(layers, Mapping):
            self.schedule = [(str(p), e) for p, e in layers.items()]
            for p, e in self.schedule:
                if not epoch_ok(e):
                    raise ConfigValueError(f"{KEY}.layers.{p}", e, "an epoch: an integer >= 0")
        else:  # "conv2@3": conv2 at the start of epoch 3
            self.schedule = []
            for p in map(str, layers):
                pattern, at, epoch = p.rpartition("@")
                if at and not epoch.isdigit():
                    raise ConfigValueError(f"{KEY}.layers", p, "NAME, a pattern, or NAME@EPOCH with an integer epoch >= 0")
                self.schedule.append((pattern, int(epoch)) if at else (p, at_epoch))
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
            self._freeze(select_layers(self._module, self.frozen, f"{KEY}.layers"))

    # -- hooks ---------------------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        if stage != "fit":
            return
        self._module = pl_module
        self._due = {}
        for pattern, epoch in self.schedule:
            for name in select_layers(pl_module, [pattern], f"{KEY}.layers"):
                self._due[name] = min(epoch, self._due.get(name, epoch))
        self._freeze_due(0)

    def on_fit_start(self, trainer, pl_module) -> None:
        # the optimizer exists now; a module whose configure_optimizers did not filter on
        # requires_grad still has the frozen parameters in it
        self._drop_from_optimizers(trainer)
        # the module is on its device (and in its precision) now: keep the references like the parameters
        self._reference = {k: v.to(self._param(k)) for k, v in self._reference.items()}

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        names = self._freeze_due(trainer.current_epoch)
        if names:
            self._drop_from_optimizers(trainer)
            log.info("froze %s at epoch %d", ", ".join(names), trainer.current_epoch)

    def on_train_end(self, trainer, pl_module) -> None:
        from knowloc.artifacts import log_results

        frozen = sum(p.numel() for p in pl_module.parameters() if not p.requires_grad)
        trainable = sum(p.numel() for p in pl_module.parameters() if p.requires_grad)
        drift = 0.0
        for key, ref in self._reference.items():  # the reference was copied before the module moved
            p = self._param(key)
            drift = max(drift, float((p - ref.to(p)).abs().max()))
        log_results(trainer, {"freeze/frozen_params": frozen, "freeze/trainable_params": trainable,
                              "freeze/max_abs_change": drift})

    # -- work ----------------------------------------------------------------------------------
    def _param(self, key: str) -> torch.Tensor:
        layer, _, name = key.rpartition(".")
        return getattr(select_layers(self._module, [layer], KEY)[layer], name).detach()

    def _freeze_due(self, epoch: int) -> list[str]:
        names = [n for n, e in self._due.items() if e <= epoch and n not in self.frozen]
        if names:
            self._freeze(select_layers(self._module, names, f"{KEY}.layers"))
        return names

    def _freeze(self, layers: dict) -> None:
        for name, m in layers.items():
            for pname, p in m.named_parameters(recurse=False):
                p.requires_grad_(False)
                p.grad = None
                self._reference.setdefault(f"{name}.{pname}", p.detach().clone())
            if name not in self.frozen:
                self.frozen.append(name)

    @staticmethod
    def _drop_from_optimizers(trainer) -> None:
        for opt in trainer.optimizers:
            for group in opt.param_groups:
                keep = [p for p in group["params"] if p.requires_grad]
                for p in group["params"]:
                    if not p.requires_grad:
                        opt.state.pop(p, None)
                group["params"] = keep
