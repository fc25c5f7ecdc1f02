"""Networks the benchmarks share (not a benchmark itself: ``bench/run.py`` runs ``bench_*.py`` only)."""

from __future__ import annotations

import torch


def trained_lenet(seed: int = 0):
    """LeNet-5 trained for one epoch of plain minibatch SGD on the embedded set, and its data module."""
    from knowloc.data import ImageDataModule
    from knowloc.models import LeNet5

    torch.manual_seed(seed)
    dm = ImageDataModule(seed=seed)
    dm.setup()
    net = LeNet5()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    x, y = dm.train_split.x, dm.train_split.y
    for start in range(0, len(y), 64):  # one epoch
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x[start:start + 64]), y[start:start + 64]).backward()
        opt.step()
    return net.eval(), dm
