"""The stacked per-sample SGD engine against the plain per-sample PyTorch loop (nn.Module +
autograd + torch.optim.SGD, batch size 1): same weights, same update tallies, chunk boundaries
anywhere, models of a stack independent, divergence located at the right step."""

from __future__ import annotations

import pytest
import torch

from devices import DEVICES
from knowloc.data import load_source, scale_images, select_classes
from knowloc.localization.engine import PARAMS, init_stack, reference_sgd, sgd_chunk


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny per-step ops: one thread is fastest, and the 2 cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    src = load_source("mnist_embedded")
    keep, y = select_classes(src.labels, [[1, 7], [6, 8]])
    x = scale_images(src.images[keep], "symmetric").flatten(1)
    return x, y, src.labels[keep]


def run_engine(stack, x, y, lr, chunk, groups=None, n_groups=0):
    """Stream (T, D) samples through a one-model stack in chunks of ``chunk`` steps."""
    T = len(y)
    tally = {k: 0.0 for k in PARAMS}
    total = {k: 0.0 for k in PARAMS}
    losses = []
    for c in range(0, T, chunk):
        n = min(chunk, T - c)
        g = None if groups is None else groups[c:c + n][None]
        r = sgd_chunk(stack, x[c:c + n][None], y[c:c + n][None],
                      torch.full((1, n), lr, dtype=stack.W1.dtype, device=stack.W1.device), g, n_groups)
        losses.append(r.loss[0])
        if r.tally is not None:
            for k in PARAMS:
                tally[k] = tally[k] + r.tally[k][0]
                total[k] = total[k] + r.total[k][0]
    return torch.cat(losses), tally, total


def max_err(stack, net):
    return max((stack.tensors()[k][0] - p.detach()).abs().max().item() for k, p in net.named_parameters())


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "gelu", "silu", "tanh", "sigmoid"])
def test_engine_equals_per_sample_loop_float64(digits, activation, device):
    """On every device present: engine and loop (both on that device) agree to 1e-10."""
    x, y, _ = digits
    x, y = x.to(device), y.to(device)
    T = 250
    stack = init_stack([5], [activation], dtype=torch.float64, device=device)
    net = stack.net(0)
    assert net.fc1.weight.device.type == device
    groups = torch.where(torch.arange(T, device=device) >= 125, y[:T], -1)  # tally window: second half
    ref_loss, ref_tally = reference_sgd(net, x[:T].double(), y[:T], 0.02, groups.tolist(), 2)
    loss, tally, _ = run_engine(stack, x[:T].double(), y[:T], 0.02, chunk=27, groups=groups, n_groups=2)
    assert max_err(stack, net) < 1e-10
    assert torch.allclose(loss, ref_loss.double(), atol=1e-9)
    for k in PARAMS:
        assert torch.allclose(tally[k], ref_tally[k], rtol=1e-9, atol=1e-12), k


@pytest.mark.parametrize("chunk", [1, 7, 64, 500])
def test_engine_float32_within_1e5_at_any_chunk_boundary(digits, chunk):
    x, y, _ = digits
    T = 500  # the length of phase 1 on the embedded set
    stack = init_stack([0], ["relu"])
    net = stack.net(0)
    groups = torch.where(torch.arange(T) >= 250, y[:T], -1)
    _, ref_tally = reference_sgd(net, x[:T], y[:T], 0.01, groups.tolist(), 2)
    _, tally, total = run_engine(stack, x[:T], y[:T], 0.01, chunk=chunk, groups=groups, n_groups=2)
    assert max_err(stack, net) < 1e-5
    for k in PARAMS:
        assert (tally[k] - ref_tally[k]).abs().max().item() < 1e-5, k
        # exact invariant: the groups' tallies add up to the total |dtheta| of the window
        assert torch.allclose(tally[k].sum(0), total[k], rtol=1e-5, atol=1e-7), k
        assert torch.allclose(tally[k].sum(0), ref_tally[k].sum(0), rtol=1e-4, atol=1e-5), k


def test_stacked_models_are_independent_and_each_exact(digits):
    """Four models with their own streams, activations and learning rates in one stack, with
    padding (lr 0) at the end of the shorter streams; each equals its own plain loop."""
    x, y, orig = digits
    acts = ["relu", "relu", "tanh", "sigmoid"]
    stack = init_stack([0, 1, 2, 3], acts, dtype=torch.float64)
    nets = [stack.net(m) for m in range(4)]
    streams = [torch.arange(0, 200), torch.nonzero(orig != 7).flatten()[:150],
               torch.arange(300, 420), torch.nonzero(orig != 8).flatten()[:200]]
    lrs = [0.01, 0.03, 0.02, 0.05]
    T, K = 200, 48
    idx = torch.zeros(4, T, dtype=torch.long)
    lr = torch.zeros(4, T, dtype=torch.float64)
    for m, s in enumerate(streams):
        idx[m, :len(s)] = s
        lr[m, :len(s)] = lrs[m]
    X, Y = x.double()[idx], y[idx]
    for c in range(0, T, K):
        sgd_chunk(stack, X[:, c:c + K], Y[:, c:c + K], lr[:, c:c + K])
    for m, s in enumerate(streams):
        reference_sgd(nets[m], x[s].double(), y[s], lrs[m])
        err = max((stack.tensors()[k][m] - p.detach()).abs().max().item() for k, p in nets[m].named_parameters())
        assert err < 1e-10, m


def test_divergence_is_located_and_does_not_leak(digits):
    """Model 1's learning rate jumps to 1e20 at step 20: its loss turns NaN at the same step as in
    the plain loop, across a chunk boundary; model 0 of the same stack is unaffected."""
    x, y, _ = digits
    stack = init_stack([0, 1], ["relu", "relu"])
    T, K, jump = 64, 16, 20
    X = x[:T].expand(2, T, -1).contiguous()
    Y = y[:T].expand(2, T).contiguous()
    lr = torch.full((2, T), 1e-2)
    lr[1, jump:] = 1e20
    first_bad = None
    for c in range(0, T, K):
        r = sgd_chunk(stack, X[:, c:c + K], Y[:, c:c + K], lr[:, c:c + K])
        assert r.bad_step[0] == -1 and torch.isfinite(r.loss[0]).all()
        if first_bad is None and r.bad_step[1] >= 0:
            first_bad = c + int(r.bad_step[1])
    net = init_stack([1], ["relu"]).net(0)
    ref_a, _ = reference_sgd(net, x[:jump], y[:jump], 1e-2)
    ref_b, _ = reference_sgd(net, x[jump:T], y[jump:T], 1e20)
    ref_loss = torch.cat([ref_a, ref_b])
    assert first_bad is not None and first_bad >= jump
    assert first_bad == int(torch.nonzero(~torch.isfinite(ref_loss)).flatten()[0])
    ref0 = init_stack([0], ["relu"]).net(0)
    reference_sgd(ref0, x[:T], y[:T], 1e-2)
    assert max((stack.tensors()[k][0] - p.detach()).abs().max().item() for k, p in ref0.named_parameters()) < 1e-5


@pytest.mark.parametrize("activation", ["elu", "softplus", "identity", "relu"])
def test_engine_four_classes_equals_per_sample_loop_float64(digits, activation):
    """More than two classes (the softmax path of the second layer) and the remaining activation
    derivatives: four digit classes, tallies included, agree with the plain loop to 1e-10."""
    x, _, orig = digits
    y = torch.bucketize(orig, torch.tensor([1, 6, 7, 8]))  # digits 1, 6, 7, 8 -> 0, 1, 2, 3
    T = 150
    stack = init_stack([3], [activation], sizes=(784, 100, 4), dtype=torch.float64)
    net = stack.net(0)
    groups = torch.where(torch.arange(T) >= 50, y[:T], -1)
    ref_loss, ref_tally = reference_sgd(net, x[:T].double(), y[:T], 0.02, groups.tolist(), 4)
    loss, tally, total = run_engine(stack, x[:T].double(), y[:T], 0.02, chunk=33, groups=groups, n_groups=4)
    assert max_err(stack, net) < 1e-10
    assert torch.allclose(loss, ref_loss.double(), atol=1e-9)
    for k in PARAMS:
        assert torch.allclose(tally[k], ref_tally[k], rtol=1e-9, atol=1e-12), k
        assert torch.allclose(tally[k].sum(0), total[k], rtol=1e-9, atol=1e-12), k
