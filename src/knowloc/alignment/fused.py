"""The search's loss for Cayley rotations through a frozen ReLU tail, as one autograd Function.

The same computation as the three closed-form steps chained by autograd,

    R = cayley(X, B)                           (:mod:`knowloc.alignment.cayley`)
    h' = intervene_orthogonal(h, R, ...)       (:mod:`knowloc.alignment.interchange`)
    loss = (1/n) sum_{m, i} CE(tail(h')[m, i], y[m, i])   (:mod:`knowloc.alignment.tail`)

with the same operations forward and backward (the same loss, logits and gradient in X, bit for
bit), run as one autograd node: dL/dX = cayley_backward(orthogonal_backward(tail_backward(dL/dloss))).
"""

from __future__ import annotations

import torch

from knowloc.alignment.cayley import cayley_backward, cayley_forward
from knowloc.alignment.interchange import orthogonal_backward, orthogonal_forward
from knowloc.alignment.tail import tail_backward, tail_forward


class _CayleyTailLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X, base, h, m_ab, m_cd, g_ab, g_cd, use_cd, y, modules):
        R, rot = cayley_forward(X, base)
        out, deltas = orthogonal_forward(R, h, m_ab, m_cd, g_ab, g_cd, use_cd)
        loss, logits, relu_out = tail_forward(out, y, modules)
        ctx.modules, ctx.n_rot = modules, len(deltas)
        ctx.save_for_backward(*rot, R, m_ab, m_cd, g_ab, g_cd, logits, y, *deltas, *relu_out)
        ctx.mark_non_differentiable(logits)
        return loss, logits

    @staticmethod
    def backward(ctx, g, _):
        Q, base, eye, R, m_ab, m_cd, g_ab, g_cd, logits, y, *rest = ctx.saved_tensors
        deltas, relu_out = rest[:ctx.n_rot], rest[ctx.n_rot:]
        T = tail_backward(logits, y, relu_out, ctx.modules, g)
        G = orthogonal_backward(R, m_ab, m_cd, g_ab, g_cd, deltas, T)
        return cayley_backward((Q, base, eye), G), None, None, None, None, None, None, None, None, None


def cayley_tail_loss(X: torch.Tensor, base: torch.Tensor, h: torch.Tensor, m_ab: torch.Tensor, m_cd: torch.Tensor,
                     g_ab: torch.Tensor, g_cd: torch.Tensor, use_cd: bool, y: torch.Tensor,
                     modules: list) -> tuple[torch.Tensor, torch.Tensor]:
    """(loss, logits without gradient) of the module docstring, differentiable in the Cayley
    parameter X (M, d, d); ``base``: the parametrization's base B; h: (3, n, d); the other arguments
    as in :func:`~knowloc.alignment.interchange.intervene_orthogonal` and
    :func:`~knowloc.alignment.tail.tail_loss`."""
    return _CayleyTailLoss.apply(X, base, h, m_ab, m_cd, g_ab, g_cd, use_cd, y, modules)
