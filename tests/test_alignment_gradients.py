"""Hand-derived gradients of the alignment search equal autograd's (float64, to 1e-10)."""

from __future__ import annotations

import torch

from knowloc.alignment.interchange import Rotations


def test_cayley_rotation_is_torchs_cayley_map_with_the_same_gradient():
    rot = Rotations(5, 16, "orthogonal", torch.Generator().manual_seed(1)).double()
    X = rot.basis.parametrizations.weight.original
    with torch.no_grad():  # away from the start (X = 0) so that every term of the gradient counts
        X.copy_(torch.randn(X.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64))
    G = torch.randn(5, 16, 16, generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    R, back = rot()
    (R * G).sum().backward()
    ours, X.grad = X.grad.clone(), None
    torch_R = rot.basis.weight  # PyTorch's parametrization, differentiated by autograd
    (torch_R * G).sum().backward()
    assert torch.equal(R, torch_R) and torch.equal(back, R.mT)
    assert torch.allclose(R @ R.mT, torch.eye(16, dtype=torch.float64).expand(5, 16, 16), atol=1e-6)  # base: float32-orthogonal
    assert (ours - X.grad).abs().max() < 1e-10 and X.grad.abs().max() > 0.1
    assert torch.equal(ours.triu(), torch.zeros_like(ours).triu())  # only the strict lower triangle is free


def test_orthogonal_interchange_gradient_equals_autograds():
    """Per-rotation gates (a=b or c=d alone) and per-pair gates (joint rotations), both terms."""
    from knowloc.alignment.interchange import intervene_gated, intervene_orthogonal, random_orthogonal

    g = torch.Generator().manual_seed(4)
    f64 = dict(dtype=torch.float64)
    h = torch.randn(3, 50, 16, generator=g, **f64)
    m_ab, m_cd = (torch.rand(6, 16, generator=g) > 0.5).double(), (torch.rand(6, 16, generator=g) > 0.5).double()
    T = torch.randn(6, 50, 16, generator=g, **f64)
    for gates in ((torch.rand(6, 1, generator=g) > 0.5, torch.rand(6, 1, generator=g) > 0.5),
                  (torch.rand(6, 50, generator=g) > 0.3, torch.rand(6, 50, generator=g) > 0.6)):
        g_ab, g_cd = (x.double() for x in gates)
        for use_cd in (True, False):
            R = random_orthogonal(6, 16, g).double().requires_grad_()
            want = intervene_gated(h, R, R.transpose(-1, -2), m_ab, m_cd, g_ab, g_cd, use_cd)
            (want * T).sum().backward()
            grad_autograd, R.grad = R.grad.clone(), None
            got = intervene_orthogonal(h, R, m_ab, m_cd, g_ab, g_cd, use_cd)
            (got * T).sum().backward()
            assert torch.equal(got, want)
            assert (R.grad - grad_autograd).abs().max() < 1e-10 and grad_autograd.abs().max() > 1.0
