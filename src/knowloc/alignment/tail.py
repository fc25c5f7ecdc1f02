"""The search's loss through a frozen ReLU tail of the network, with a hand-derived gradient.

After the intervened layer the rest of an MLP is ``Linear -> ReLU -> ... -> Linear`` with frozen
weights. For M rotations and n pairs (intervened vectors h: (M, n, d), labels y: (M, n)) the
search's loss is the sum over rotations of the mean cross-entropy,

    loss = M * mean_{m, i} CE(logits[m, i], y[m, i]) = (1/n) sum_{m, i} CE(logits[m, i], y[m, i])

and its gradient in h is the usual chain, written out:

    dL/dlogits = (softmax(logits) - onehot(y)) / n
    Linear (W, b):  dL/din = dL/dout W          ReLU out = max(in, 0):  dL/din = dL/dout * [out > 0]

:func:`relu_tail` says whether the tail after a layer is of that form (else the search uses autograd);
:func:`tail_loss` computes the loss with the same operations as ``forward_from`` + ``cross_entropy``
(the same values) and returns the logits beside it, for counting hits.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from knowloc.alignment.interchange import activation_index


def relu_tail(net: nn.Sequential, layer: int) -> list[nn.Module] | None:
    """The modules after ``act{layer}`` when they are frozen Linear / ReLU / Identity only, else None."""
    rest = list(net._modules.values())[activation_index(net, layer) + 1:]
    if not rest or not all(type(m) in (nn.Linear, nn.ReLU, nn.Identity) for m in rest):
        return None
    if any(p.requires_grad for m in rest for p in m.parameters()):
        return None
    return rest


def tail_forward(h, y, modules) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """(loss, logits, the ReLU outputs that :func:`tail_backward` needs)."""
    saved, x = [], h
    for m in modules:  # the modules' own functions, without the module call overhead
        if isinstance(m, nn.Linear):
            x = F.linear(x, m.weight, m.bias)
        elif isinstance(m, nn.ReLU):
            x = torch.relu(x)
            saved.append(x)
    return F.cross_entropy(x.flatten(0, 1), y.flatten()) * y.shape[0], x, saved


def tail_backward(logits, y, relu_out, modules, g) -> torch.Tensor:
    """dL/dh for dL/dloss = g (formula: module docstring)."""
    relu_out = list(relu_out)
    G = logits.softmax(-1)
    G.scatter_add_(-1, y.unsqueeze(-1), torch.full_like(G[..., :1], -1.0))  # p - onehot(y)
    G = G * (g / y.shape[-1])
    for m in reversed(modules):
        if isinstance(m, nn.Linear):
            G = G @ m.weight
        elif isinstance(m, nn.ReLU):
            G = G * (relu_out.pop() > 0)
    return G


class _TailLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, h, y, modules):
        loss, x, saved = tail_forward(h, y, modules)
        ctx.modules = modules
        ctx.save_for_backward(x, y, *saved)
        ctx.mark_non_differentiable(x)
        return loss, x

    @staticmethod
    def backward(ctx, g, _):
        logits, y, *relu_out = ctx.saved_tensors
        return tail_backward(logits, y, relu_out, ctx.modules, g), None, None


def tail_loss(h: torch.Tensor, y: torch.Tensor, modules: list[nn.Module]) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss of the module docstring, logits (M, n, C) without gradient) for the tail ``modules``
    (from :func:`relu_tail`); differentiable in ``h``."""
    return _TailLoss.apply(h, y, modules)
