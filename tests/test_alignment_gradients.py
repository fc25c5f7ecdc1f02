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


def test_relu_tail_loss_and_gradient_equal_autograds():
    """The frozen tail after layer 3 of the hand-built net (fc4, ReLU, fc5) and after layer 1 (two ReLUs)."""
    import torch.nn.functional as F

    from alignment_handmade import handmade_network
    from knowloc.alignment.interchange import forward_from, random_orthogonal
    from knowloc.alignment.tail import relu_tail, tail_loss

    g = torch.Generator().manual_seed(6)
    net = handmade_network(random_orthogonal(1, 16, g)[0], K=1.0, S=1.0).double()
    for layer in (3, 1):
        h = (torch.randn(4, 64, 16, generator=g, dtype=torch.float64) + 1).requires_grad_()
        y = torch.randint(0, 2, (4, 64), generator=g)
        want = F.cross_entropy(forward_from(net, layer, h).flatten(0, 1), y.flatten()) * 4
        (3.0 * want).backward()
        grad_autograd, h.grad = h.grad.clone(), None
        got, logits = tail_loss(h, y, relu_tail(net, layer))
        (3.0 * got).backward()
        assert torch.equal(got, want) and torch.equal(logits, forward_from(net, layer, h))
        assert (h.grad - grad_autograd).abs().max() < 1e-10 and grad_autograd.abs().max() > 1e-3
    assert relu_tail(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Sigmoid(), torch.nn.Linear(2, 2)), 0) is None


def test_training_step_gradient_equals_autograds_in_float64(monkeypatch):
    """The whole step (input and hidden layers, a=b, c=d and joint rotations, two restarts): the
    hand-derived gradients against autograd through torch's own parametrization and operations."""
    from alignment_handmade import handmade_network
    from knowloc.alignment import AlignmentSearch, InterchangeDataModule, search
    from knowloc.alignment.interchange import intervene_gated, random_orthogonal

    net = handmade_network(random_orthogonal(1, 16, torch.Generator().manual_seed(5))[0], K=1.0, S=1.0).double()
    dm = InterchangeDataModule(vocab_size=200, n_train=300, n_test=50, seed=0)
    dm.setup()
    tr = dm.train_split
    m = AlignmentSearch(net, layers=[0, 3], sizes=[1, 2], variables=["ab", "cd", "both"], baselines=[], seed=0,
                        restarts=2, init="random").double()
    m.log = m.log_dict = lambda *a, **k: None
    with torch.no_grad():  # away from the start, so that every term counts
        for p in m.rot.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(7), dtype=p.dtype))
    batch = (tr.x[:256].double(), tr.ab[:256], tr.cd[:256])
    m.training_step(batch, 0).backward()
    ours = [p.grad.clone() for p in m.rot.parameters()]
    m.zero_grad()
    for rot in m.rot.values():
        rot.cayley = False  # torch's parametrization, differentiated by autograd
    m._tails = dict.fromkeys(m._tails)  # the tail through forward_from and cross_entropy
    monkeypatch.setattr(search, "intervene_orthogonal",
                        lambda h, R, *a: intervene_gated(h, R, R.transpose(-1, -2), *a))
    m.training_step(batch, 0).backward()
    for mine, theirs in zip(ours, (p.grad for p in m.rot.parameters())):
        assert (mine - theirs).abs().max() < 1e-10 and theirs.abs().max() > 1e-3


def test_fused_cayley_tail_loss_equals_the_chained_steps_bit_for_bit():
    """alignment.fused (one node) against cayley_rotation -> intervene_orthogonal -> tail_loss chained by
    autograd: the same loss, logits and gradient in X, in float32 (the search's dtype) and float64,
    fixed and per-pair gates, with and without the c=d term."""
    from alignment_handmade import handmade_network
    from knowloc.alignment.cayley import cayley_rotation
    from knowloc.alignment.fused import cayley_tail_loss
    from knowloc.alignment.interchange import intervene_orthogonal, random_orthogonal
    from knowloc.alignment.tail import relu_tail, tail_loss

    for dtype in (torch.float32, torch.float64):
        g = torch.Generator().manual_seed(8)
        net = handmade_network(random_orthogonal(1, 16, g)[0], K=1.0, S=1.0).to(dtype)
        tail = relu_tail(net, 3)
        rot = Rotations(6, 16, "orthogonal", g).to(dtype)
        X, base = rot.cayley_parameter()
        with torch.no_grad():
            X.add_(0.3 * torch.randn(X.shape, generator=g, dtype=dtype))
        h = torch.randn(3, 40, 16, generator=g, dtype=dtype).relu()
        m_ab, m_cd = (torch.rand(6, 16, generator=g) > 0.5).to(dtype), (torch.rand(6, 16, generator=g) > 0.5).to(dtype)
        y = torch.randint(0, 2, (6, 40), generator=g)
        for g_ab, g_cd in ((torch.ones(6, 1, dtype=dtype), torch.zeros(6, 1, dtype=dtype)),
                           ((torch.rand(6, 40, generator=g) > 0.3).to(dtype), (torch.rand(6, 40, generator=g) > 0.6).to(dtype))):
            for use_cd in (True, False):
                R = cayley_rotation(X, base)
                want, want_logits = tail_loss(intervene_orthogonal(h, R, m_ab, m_cd, g_ab, g_cd, use_cd), y, tail)
                (2.0 * want).backward()
                grad_chain, X.grad = X.grad.clone(), None
                got, logits = cayley_tail_loss(X, base, h, m_ab, m_cd, g_ab, g_cd, use_cd, y, tail)
                (2.0 * got).backward()
                assert torch.equal(got, want) and torch.equal(logits, want_logits)
                assert torch.equal(X.grad, grad_chain) and grad_chain.abs().max() > 1e-4
                X.grad = None
