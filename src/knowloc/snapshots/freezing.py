"""Freezing layers so that their values stay bit-identical (the logic of
:class:`~knowloc.callbacks.FreezeLayers`; options in :mod:`knowloc.snapshots.options`).

A frozen parameter gets ``requires_grad = False`` and is removed from every optimizer param group
together with its optimizer state (momentum, Adam moments), so neither gradient steps nor weight
decay nor momentum can move it. Empty param groups are kept so that schedulers still line up.
Only parameters are frozen; buffers (BatchNorm statistics) are not touched.

The check that it held: max_abs_change = max over frozen parameters p of max |p_end - p_frozen|
(0 when freezing held), with p_frozen copied when p was frozen.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch

from knowloc.errors import ConfigValueError
from knowloc.snapshots import options
from knowloc.snapshots.layers import select_layers

KEY = options.PREFIX + options.FREEZE


def _epoch_ok(e) -> bool:
    return isinstance(e, int) and not isinstance(e, bool) and e >= 0


def schedule(layers: Sequence[str] | Mapping[str, int] | str | None, at_epoch: int) -> list[tuple[str, int]]:
    """``[(pattern, epoch)]``: every entry of ``layers`` at ``at_epoch``, except ``NAME@EPOCH``
    entries (``conv2@3``: conv2 at the start of epoch 3) and mappings ``{conv1: 0, conv2: 3}``."""
    options.check_freeze(at_epoch=at_epoch)
    if layers is None:
        layers = []
    if isinstance(layers, str):
        layers = [layers]
    if isinstance(layers, Mapping):
        out = [(str(p), e) for p, e in layers.items()]
        for p, e in out:
            if not _epoch_ok(e):
                raise ConfigValueError(f"{KEY}.layers.{p}", e, "an epoch: an integer >= 0")
        return out
    out = []
    for p in map(str, layers):
        pattern, at, epoch = p.rpartition("@")
        if at and not epoch.isdigit():
            raise ConfigValueError(f"{KEY}.layers", p, "NAME, a pattern, or NAME@EPOCH with an integer epoch >= 0")
        out.append((pattern, int(epoch)) if at else (p, at_epoch))
    return out


def layers_of(module: torch.nn.Module, names: Sequence[str]) -> dict:
    """The layers ``names`` (names or patterns) of the network of ``module``."""
    return select_layers(module, list(names), f"{KEY}.layers")


def due_epochs(module: torch.nn.Module, plan: Sequence[tuple[str, int]]) -> dict[str, int]:
    """Layer name -> the epoch at whose start it is frozen (the earliest, if several patterns match)."""
    due: dict[str, int] = {}
    for pattern, epoch in plan:
        for name in layers_of(module, [pattern]):
            due[name] = min(epoch, due.get(name, epoch))
    return due


def freeze(layers: Mapping[str, torch.nn.Module], reference: dict[str, torch.Tensor]) -> list[str]:
    """Freeze every parameter of ``layers``; ``reference`` gets a copy of each (``"<layer>.<param>"``)
    the first time it is frozen. Returns the layer names."""
    for name, m in layers.items():
        for pname, p in m.named_parameters(recurse=False):
            p.requires_grad_(False)
            p.grad = None
            reference.setdefault(f"{name}.{pname}", p.detach().clone())
    return list(layers)


def drop_from_optimizers(optimizers) -> None:
    """Remove the parameters that do not require a gradient, and their state, from every param group."""
    for opt in optimizers:
        for group in opt.param_groups:
            keep = [p for p in group["params"] if p.requires_grad]
            for p in group["params"]:
                if not p.requires_grad:
                    opt.state.pop(p, None)
            group["params"] = keep


def parameter(module: torch.nn.Module, key: str) -> torch.Tensor:
    """The parameter ``"<layer>.<param>"`` of the network of ``module``, detached."""
    layer, _, name = key.rpartition(".")
    return getattr(select_layers(module, [layer], KEY)[layer], name).detach()


def results(module: torch.nn.Module, reference: Mapping[str, torch.Tensor]) -> dict:
    """``freeze/frozen_params``, ``freeze/trainable_params`` (counts of parameter entries) and
    ``freeze/max_abs_change`` (the formula above)."""
    frozen = sum(p.numel() for p in module.parameters() if not p.requires_grad)
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    drift = 0.0
    for key, ref in reference.items():  # the reference was copied before the module moved
        p = parameter(module, key)
        drift = max(drift, float((p - ref.to(p)).abs().max()))
    return {"freeze/frozen_params": frozen, "freeze/trainable_params": trainable, "freeze/max_abs_change": drift}
