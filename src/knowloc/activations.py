"""Activation registry: ``activation=NAME`` selects one of these."""

from __future__ import annotations

from typing import Callable

from torch import nn

from knowloc.errors import ConfigValueError

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "elu": nn.ELU,
    "softplus": nn.Softplus,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
}


def activation_names() -> list[str]:
    return list(ACTIVATIONS)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for ``name``; unknown names list the allowed ones."""
    try:
        return ACTIVATIONS[name]()
    except KeyError:
        raise ConfigValueError("activation", name, activation_names()) from None
