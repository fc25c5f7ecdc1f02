"""Activation registry, the one list of activations: ``activation=NAME`` selects one of these.

Per name, an :class:`Activation`: ``module()``, a fresh ``nn.Module`` (the networks of
:mod:`knowloc.models.nets`); ``function(z)`` = f(z); ``backward(grad, z, h)`` = ``grad * f'(z)``
with h = f(z), computed by the same fused aten kernel autograd uses for ``module()`` (so the
stacked engine of :mod:`knowloc.localization.engine`, which has no autograd, gets the loop's
gradients bit for bit). The option rules (``model.activations``) take their names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from knowloc.errors import ConfigValueError

_aten = torch.ops.aten


@dataclass(frozen=True)
class Activation:
    """``module``: factory of the ``nn.Module``; ``function``: f(z); ``backward``:
    ``(grad, z, h) -> grad * f'(z)`` (h = f(z))."""

    module: Callable[[], nn.Module]
    function: Callable[[torch.Tensor], torch.Tensor]
    backward: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


ACTIVATIONS: dict[str, Activation] = {
    "relu": Activation(nn.ReLU, torch.relu, lambda g, z, h: _aten.threshold_backward(g, h, 0.0)),
    "leaky_relu": Activation(lambda: nn.LeakyReLU(0.01), lambda z: F.leaky_relu(z, 0.01),
                             lambda g, z, h: _aten.leaky_relu_backward(g, z, 0.01, False)),
    "gelu": Activation(nn.GELU, F.gelu, lambda g, z, h: _aten.gelu_backward(g, z)),
    "silu": Activation(nn.SiLU, F.silu, lambda g, z, h: _aten.silu_backward(g, z)),
    "elu": Activation(nn.ELU, F.elu, lambda g, z, h: _aten.elu_backward(g, 1.0, 1, 1, False, z)),
    "softplus": Activation(nn.Softplus, F.softplus, lambda g, z, h: _aten.softplus_backward(g, z, 1.0, 20.0)),
    "tanh": Activation(nn.Tanh, torch.tanh, lambda g, z, h: _aten.tanh_backward(g, h)),
    "sigmoid": Activation(nn.Sigmoid, torch.sigmoid, lambda g, z, h: _aten.sigmoid_backward(g, h)),
    "identity": Activation(nn.Identity, lambda z: z, lambda g, z, h: g),
}


def activation_names() -> list[str]:
    return list(ACTIVATIONS)


def activation(name: str, key: str = "activation") -> Activation:
    """The registry entry of ``name``; unknown names list the allowed ones (under config ``key``)."""
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ConfigValueError(key, name, activation_names()) from None


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name``; unknown names list the allowed ones."""
    return activation(name).module()
