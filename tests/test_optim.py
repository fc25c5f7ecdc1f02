"""knowloc.optim.Adam: the same update as torch's fused Adam, bit for bit."""

from __future__ import annotations

import torch

from knowloc.optim import Adam


def test_adam_lean_step_equals_torchs_fused_adam():
    """12 steps with a cosine schedule, weight decay, a closure on every other step and one step where a
    parameter has no gradient, in float32 and float64: the same parameters and state as torch's Adam."""
    for dtype in (torch.float32, torch.float64):
        g = torch.Generator().manual_seed(0)
        start = [torch.randn(3, 5, 5, generator=g, dtype=dtype), torch.randn(7, generator=g, dtype=dtype)]
        ours = [p.clone().requires_grad_() for p in start]
        theirs = [p.clone().requires_grad_() for p in start]
        opt, ref = Adam(ours, lr=0.02, weight_decay=0.01), torch.optim.Adam(theirs, lr=0.02, weight_decay=0.01, fused=True)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 5)
        ref_sched = torch.optim.lr_scheduler.CosineAnnealingLR(ref, 5)
        for i in range(12):
            opt.zero_grad()
            ref.zero_grad()
            assert all(p.grad is None for p in ours)
            for a, b in zip(ours, theirs):
                a.grad = torch.randn(a.shape, generator=g, dtype=dtype)
                b.grad = a.grad.clone()
            if i == 5:
                ours[1].grad = theirs[1].grad = None
            assert (opt.step(lambda: 1.5) == 1.5) if i % 2 else opt.step() is None
            ref.step()
            sched.step()
            ref_sched.step()
        for a, b, s in zip(ours, theirs, start):
            assert torch.equal(a, b) and not torch.equal(a, s)
            for key in ("exp_avg", "exp_avg_sq", "step"):
                assert torch.equal(opt.state[a][key], ref.state[b][key])
        assert float(opt.state[ours[0]]["step"]) == 12 and float(opt.state[ours[1]]["step"]) == 11
