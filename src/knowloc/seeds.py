"""Every random stream knowloc draws, from one helper: ``seed_stream(seed, name, *index)``.

A component never seeds a generator with a private offset of its own; it names its stream here.
Each stream's seed is a fixed function of the run's ``seed`` (and an index such as the epoch or
the step), so the same config draws the same numbers on any machine, and two streams of one run
never share a seed by accident. Adding a stream = one line in :data:`STREAMS`.

The formulas are the ones each component used before they were gathered here, so that recorded
results do not move.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

#: stream name -> seed of the stream as a function of (run seed, *index)
STREAMS: dict[str, Callable[..., int]] = {
    # image data (knowloc.data.image): the train/val/test split, and the training order of each epoch
    "data/split": lambda s: s,
    "data/order": lambda s, epoch: s * 1_000_003 + epoch,
    # hierarchical equality (knowloc.alignment.data): the network's items and triples; the
    # alignment search's items (offset so that they differ from the network's own training data)
    "equality/items": lambda s: s,
    "interchange/items": lambda s: s + 7919,
    # alignment search (knowloc.alignment.search): random starts of the rotations, the per-step
    # gates of joint rotations (index: global step), the random-rotation baseline (index: layer)
    "alignment/starts": lambda s: s + 1,
    "alignment/gates": lambda s, step: s * 1_000_003 + step,
    "alignment/random_baseline": lambda s, layer: s * 31 + layer,
    "alignment/default_start": lambda s: s,
    # neurons (knowloc.neurons.ablation): donors of resample ablation
    "ablation/resample": lambda s: s,
    # locate (knowloc.locate): the fork continuation's batch order; the random ranking (numpy)
    "locate/fork_order": lambda s: s,
    "locate/random": lambda s: s,
}


def stream_seed(seed: int, name: str, *index: int) -> int:
    """The integer seed of stream ``name`` for the run seed ``seed`` (and ``index``)."""
    try:
        formula = STREAMS[name]
    except KeyError:
        raise KeyError(f"unknown random stream {name!r}; streams: {', '.join(STREAMS)}") from None
    return int(formula(int(seed), *(int(i) for i in index)))


def seed_stream(seed: int, name: str, *index: int) -> torch.Generator:
    """A CPU ``torch.Generator`` for stream ``name`` (draw on the CPU, then move: the same numbers
    on every device)."""
    return torch.Generator().manual_seed(stream_seed(seed, name, *index))


def numpy_stream(seed: int, name: str, *index: int) -> np.random.Generator:
    """A numpy ``Generator`` for stream ``name``."""
    return np.random.default_rng(stream_seed(seed, name, *index))
