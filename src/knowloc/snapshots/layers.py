"""Choosing layers by name or pattern: ``conv1``, ``conv*``, ``fc?`` (shell-style, :mod:`fnmatch`).

Names are relative to the network (``pl_module.net`` when the LightningModule has one, as
``ClassifierModule`` does), and only layers that own parameters count (``conv1`` ... ``fc2`` of
``LeNetWSS``; activations and pools have none).
"""

from __future__ import annotations

from collections import OrderedDict
from fnmatch import fnmatchcase
from typing import Sequence

from torch import nn

from knowloc.errors import ConfigValueError


def network(module: nn.Module) -> nn.Module:
    """``module.net`` if it has one, else ``module``."""
    net = getattr(module, "net", None)
    return net if isinstance(net, nn.Module) else module


def parametrised_layers(module: nn.Module) -> "OrderedDict[str, nn.Module]":
    """``{name: layer}`` of the network's layers that own parameters, in definition order."""
    net = network(module)
    return OrderedDict((n, m) for n, m in net.named_modules()
                       if n and any(True for _ in m.parameters(recurse=False)))


def select_layers(module: nn.Module, patterns: Sequence[str] | str | None, key: str) -> "OrderedDict[str, nn.Module]":
    """Layers matching any of ``patterns`` (None: every parametrised layer); a pattern that
    matches nothing raises :class:`ConfigValueError` naming ``key`` and the layer names."""
    layers = parametrised_layers(module)
    if patterns is None:
        return layers
    if isinstance(patterns, str):
        patterns = [patterns]
    chosen: "OrderedDict[str, nn.Module]" = OrderedDict()
    for p in patterns:
        hits = [n for n in layers if fnmatchcase(n, str(p))]
        if not hits:
            raise ConfigValueError(key, p, "a layer name or pattern (conv*, fc?) matching one of: "
                                   + ", ".join(layers))
        for n in hits:
            chosen[n] = layers[n]
    return OrderedDict((n, m) for n, m in layers.items() if n in chosen)
