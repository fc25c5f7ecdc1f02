"""The Cayley rotation of ``torch.nn.utils.parametrizations.orthogonal`` with a closed-form gradient.

PyTorch's ``orthogonal(..., orthogonal_map="cayley")`` (with its default trivialization) maps the
free parameter X (M, d, d) to

    A = tril(X) - tril(X)^T                      (skew-symmetric)
    Q = (I - A/2)^{-1} (I + A/2)                 (one linear solve)
    R = B Q                                      (B: the parametrization's ``base`` buffer)

:func:`cayley_rotation` computes R with exactly these operations (the same R, bit for bit) and
differentiates it in closed form instead of through the solve. With M = (I - A/2)^{-1}, and
I + A/2 = 2I - (I - A/2), Q = 2M - I, so M = (Q + I)/2 and dQ = M dA M. For dL/dR = G:

    dL/dA = M^T B^T G M^T,        dL/dX = tril(dL/dA - (dL/dA)^T)

(three small batched products per step instead of autograd through ``linalg.solve``).
"""

from __future__ import annotations

import torch


def cayley_forward(X: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, tuple]:
    """(R, what :func:`cayley_backward` needs) for the map of the module docstring."""
    eye = torch.eye(X.shape[-1], dtype=X.dtype, device=X.device)
    L = X.tril()
    A = L - L.mT
    # torch.linalg.solve is solve_ex followed by a check of its info (I - A/2 is invertible for skew A)
    Q = torch.linalg.solve_ex(torch.add(eye, A, alpha=-0.5), torch.add(eye, A, alpha=0.5))[0]
    return base @ Q, (Q, base, eye)


def cayley_backward(saved: tuple, G: torch.Tensor) -> torch.Tensor:
    """dL/dX = tril(dL/dA - (dL/dA)^T) with dL/dA = M^T B^T G M^T, for dL/dR = G (module docstring)."""
    Q, base, eye = saved
    Mt = Q.mT.add(eye).mul_(0.5)  # M^T = (Q^T + I)/2
    GA = (Mt @ base.mT) @ G @ Mt
    return (GA - GA.mT).tril()


class _Cayley(torch.autograd.Function):
    @staticmethod
    def forward(ctx, X: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        R, saved = cayley_forward(X, base)
        ctx.save_for_backward(*saved)
        return R

    @staticmethod
    def backward(ctx, G: torch.Tensor):
        return cayley_backward(ctx.saved_tensors, G), None


def cayley_rotation(X: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
    """R = B (I - A/2)^{-1} (I + A/2) with A = tril(X) - tril(X)^T (module docstring), differentiable
    in X with the closed-form gradient."""
    return _Cayley.apply(X, base)
