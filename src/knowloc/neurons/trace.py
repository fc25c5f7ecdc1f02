"""Read or replace one named layer's output, à la baukit's ``Trace``; units of a layer.

A *unit* of a layer is one feature of its output: a neuron of a fully connected layer
(output ``(N, U)``) or a channel of a convolution (output ``(N, U, H, W)``). A unit's value on
a sample is its output, averaged over space for a channel: ``a_u = mean_{h,w} out[:, u, h, w]``.
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from knowloc.errors import ConfigValueError


def get_layer(net: nn.Module, name: str, key: str = "layer") -> nn.Module:
    """The submodule called ``name`` (dotted for nested modules); a clear error lists the names."""
    modules = dict(net.named_modules())
    if not name or name not in modules:
        raise ConfigValueError(key, name, [n for n in modules if n])
    return modules[name]


def unit_values(out: torch.Tensor) -> torch.Tensor:
    """``(N, U)`` unit values: the output itself, or its spatial mean per channel."""
    return out if out.ndim == 2 else out.flatten(2).mean(2)


def unit_grads(grad: torch.Tensor) -> torch.Tensor:
    """``(N, U)`` gradients w.r.t. the units. For a channel it is the gradient w.r.t. a shift
    of the whole channel map: ``dL/dδ_u = Σ_{h,w} dL/d out[:, u, h, w]``."""
    return grad if grad.ndim == 2 else grad.flatten(2).sum(2)


class Trace:
    """Context manager that keeps (``.output``) and optionally edits one layer's output.

    >>> with Trace(net, "act3") as t:
    ...     net(x)
    >>> t.output.shape
    >>> with Trace(net, "act3", edit_output=lambda out: out * 0):
    ...     net(x)                                    # act3 zeroed
    """

    def __init__(self, net: nn.Module, layer: str, edit_output: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 retain_output: bool = True, detach: bool = True):
        self.layer, self.edit_output = layer, edit_output
        self.retain_output, self.detach = retain_output, detach
        self.output: torch.Tensor | None = None
        self._handle = get_layer(net, layer).register_forward_hook(self._hook)

    def _hook(self, module, inputs, out):
        if self.edit_output is not None:
            out = self.edit_output(out)
        if self.retain_output:
            self.output = out.detach() if self.detach else out
        return out

    def close(self) -> None:
        self._handle.remove()

    def __enter__(self) -> "Trace":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def split_sequential(net: nn.Module, layer: str) -> tuple[nn.Sequential, nn.Sequential]:
    """``(prefix, suffix)`` with ``net(x) == suffix(prefix(x))`` and ``prefix(x)`` = the output of
    ``layer``; ``net`` must be an ``nn.Sequential`` whose child is ``layer``."""
    if not isinstance(net, nn.Sequential):
        raise ConfigValueError("layer", layer, "a layer of an nn.Sequential net (the batched ablation "
                               "runs the net after the layer on its own)")
    names = [n for n, _ in net.named_children()]
    if layer not in names:
        raise ConfigValueError("layer", layer, names)
    i = names.index(layer) + 1
    children = list(net.children())
    return nn.Sequential(*children[:i]), nn.Sequential(*children[i:])
