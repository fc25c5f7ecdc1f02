"""Networks with named layers, so hooks, statistics and ablations can address them by name
(``fc1``, ``act1``, ``conv2`` ...)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

from knowloc.activations import make_activation
from knowloc.errors import ConfigValueError

INITS = ("he", "xavier", "default")


def init_weights(module: nn.Module, init: str = "he", init_bias: bool = False) -> None:
    """He (kaiming normal, fan_in) or Xavier (normal) init of every Linear/Conv weight.

    With ``init_bias`` the biases are drawn the same way as a weight of fan_in 1 would be
    scaled to the layer: He: N(0, 2/fan_in); Xavier: N(0, 2/(fan_in+fan_out)). Otherwise biases
    are zero. ``default`` keeps PyTorch's initialisation.
    """
    if init not in INITS:
        raise ConfigValueError("model.net.init", init, INITS)
    if init == "default":
        return
    for m in module.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(m.weight)
            std = (2.0 / fan_in) ** 0.5 if init == "he" else (2.0 / (fan_in + fan_out)) ** 0.5
            with torch.no_grad():
                m.weight.normal_(0.0, std)
                if m.bias is not None:
                    if init_bias:
                        m.bias.normal_(0.0, std)
                    else:
                        m.bias.zero_()


class MLP(nn.Sequential):
    """Fully connected net ``sizes[0] -> ... -> sizes[-1]``; layers ``fc1, act1, fc2, ...``
    (no activation after the last layer)."""

    def __init__(self, sizes: Sequence[int] = (784, 100, 10), activation: str = "relu",
                 init: str = "he", bias: bool = True, init_bias: bool = False):
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise ConfigValueError("model.net.sizes", sizes, "at least two positive layer sizes")
        layers: "OrderedDict[str, nn.Module]" = OrderedDict()
        layers["flatten"] = nn.Flatten()
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            layers[f"fc{i}"] = nn.Linear(a, b, bias=bias)
            if i < len(sizes) - 1:
                layers[f"act{i}"] = make_activation(activation)
        super().__init__(layers)
        self.sizes = sizes
        init_weights(self, init, init_bias)


class LeNet5(nn.Sequential):
    """Classic LeNet-5 for 28x28 inputs: conv1 6@5x5 (pad 2), pool, conv2 16@5x5, pool,
    fc1 120, fc2 84, fc3 classes."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, activation: str = "relu",
                 init: str = "he", input_size: int = 28):
        pad = 2 if input_size == 28 else 0
        s = (input_size + 2 * pad - 4) // 2
        s = (s - 4) // 2
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 6, 5, padding=pad)), ("act1", make_activation(activation)),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(6, 16, 5)), ("act2", make_activation(activation)), ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(16 * s * s, 120)), ("act3", make_activation(activation)),
            ("fc2", nn.Linear(120, 84)), ("act4", make_activation(activation)),
            ("fc3", nn.Linear(84, num_classes)),
        ]))
        init_weights(self, init)


class LeNetWSS(nn.Sequential):
    """LeNet of the weight-snapshot study: conv1 20@5x5, act, maxpool 2, conv2 50@5x5, act,
    maxpool 2, fc1 500, act, fc2 classes; 1- or 3-channel input of size 28 or 32."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, activation: str = "relu",
                 init: str = "he", input_size: int = 28):
        if in_channels not in (1, 3):
            raise ConfigValueError("model.net.in_channels", in_channels, (1, 3))
        s = ((input_size - 4) // 2 - 4) // 2
        super().__init__(OrderedDict([
            ("conv1", nn.Conv2d(in_channels, 20, 5)), ("act1", make_activation(activation)),
            ("pool1", nn.MaxPool2d(2)),
            ("conv2", nn.Conv2d(20, 50, 5)), ("act2", make_activation(activation)), ("pool2", nn.MaxPool2d(2)),
            ("flatten", nn.Flatten()),
            ("fc1", nn.Linear(50 * s * s, 500)), ("act3", make_activation(activation)),
            ("fc2", nn.Linear(500, num_classes)),
        ]))
        init_weights(self, init)
