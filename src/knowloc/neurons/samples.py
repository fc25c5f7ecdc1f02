"""Which training samples a batch holds: data-set indices for the top-k images of
:class:`~knowloc.callbacks.NeuronStats`, and the images themselves for its figures.

A batch's samples are found by replaying the train loader's sampler: at the start of each epoch
the sampler's order is read once (``EpochSeededSampler`` gives the same order again within an
epoch); batch b holds positions ``order[b·B : b·B + n]`` (B the loader's batch size). Each batch
is checked against the data set at those positions; when they differ (a sampler that does not
replay), indices are switched off for the rest of the fit with a warning. A position is mapped
to the data-set index when the data set's split exposes it (``split.index``: positions in the
source's order, e.g. in ``mnist5k.npz``).
"""

from __future__ import annotations

import logging

import numpy as np
import torch

log = logging.getLogger("knowloc")


class SampleOrder:
    """The replayed order of the train loader (see the module doc); state: the current epoch's
    order, and whether replaying still works."""

    def __init__(self):
        self.order: list[int] | None = None
        self.ok = True

    def start_epoch(self, dataloader) -> None:
        sampler = getattr(dataloader, "sampler", None)
        self.order = list(iter(sampler)) if sampler is not None and self.ok else None

    def indices(self, dataloader, batch, batch_idx: int) -> torch.Tensor | None:
        """Data-set indices of the batch's samples (None if they cannot be known)."""
        if self.order is None:
            return None
        bs = dataloader.batch_size
        pos = self.order[batch_idx * bs: batch_idx * bs + len(batch[1])]
        ds = dataloader.dataset
        items = ds.__getitems__(pos) if hasattr(ds, "__getitems__") else dataloader.collate_fn([ds[i] for i in pos])
        same = len(pos) == len(batch[1]) and all(  # the replayed copy is on the CPU, the batch on the run's device
            torch.equal(items[i].to(batch[i].device), batch[i]) for i in (1, 0))
        if not same:
            log.warning("NeuronStats: the train loader's order cannot be replayed; top-k images are off")
            self.ok, self.order = False, None
            return None
        pos = torch.as_tensor(pos)
        split = getattr(ds, "split", None)
        return split.index[pos] if split is not None and hasattr(split, "index") else pos


def training_images(datamodule, indices: set[int]) -> dict[int, np.ndarray]:
    """Training images by data-set index (empty when the data set does not say)."""
    split = getattr(datamodule, "train_split", None)
    if split is None or not indices:
        return {}
    where = {int(v): p for p, v in enumerate(split.index.tolist())}
    return {i: split.x[where[i]].numpy() for i in indices if i in where}
