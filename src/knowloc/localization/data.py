"""The sample streams of the localization experiment: phase 1, then one fork per dropped sub-class.

Pool: the first ``pool_size`` samples of the data set (data-set order; null = all of it), of the
digits in ``superclasses`` (``[[1, 7], [6, 8]]``: 1 and 7 become label 0, 6 and 8 label 1),
inputs scaled to [-1, 1] in ``dtype`` (float64 by default: the arithmetic of the scaling too) and
flattened. Phase 1 trains on the first n_1 = max(1, floor(phase1_fraction x pool)) samples of the
pool; each fork trains on the rest of the pool without one sub-class (``1 vs 6/8`` drops 7,
``7 vs 6/8`` drops 1, ...). Any number of super-classes and sub-classes works; a super-class with
a single sub-class has no fork.

One Lightning batch is a *chunk*: ``chunk_size`` consecutive per-sample steps of every stream of
the phase, ``{"phase", "x" (S,K,D), "y" (S,K), "cls" (S,K) original class, "step" (S,K) step
index in the phase, "phase_steps" (S,) steps of each stream, "valid" (S,K)}``; shorter streams
are padded (``valid`` False). The engine still applies one SGD step per sample.

Test split: the data set's official test split when it has one; otherwise (the embedded subset)
the pool samples after phase 1, which the phase-1 net never saw (forks are then not evaluated).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from knowloc.data import load_pool, scale_images, select_classes
from knowloc.data.transforms import normalize_classes
from knowloc.errors import ConfigValueError
from knowloc.localization import options


@dataclass
class Fork:
    """A fork trains on the rest of the pool without sub-class ``dropped`` of super-class ``group``."""

    group: int
    dropped: int
    name: str  # "1 vs 6/8"

    @property
    def key(self) -> str:  # metric- and file-safe
        return f"drop{self.dropped}"


def make_forks(superclasses: list[list[int]]) -> list[Fork]:
    """One fork per sub-class of every super-class that has at least two sub-classes."""
    forks = []
    for g, members in enumerate(superclasses):
        if len(members) < 2:
            continue
        for c in members:
            kept = ["/".join(str(k) for k in (m if i != g else [k for k in m if k != c]))
                    for i, m in enumerate(superclasses)]
            name = " vs ".join([kept[g]] + [k for i, k in enumerate(kept) if i != g])
            forks.append(Fork(g, c, name))
    return forks


class _Chunks(Dataset):
    """Chunk i of a phase: the steps [i*K, (i+1)*K) of each stream (map-style, no collation)."""

    def __init__(self, plan: list[tuple[str, torch.Tensor, torch.Tensor]], x, y, cls, chunk: int):
        self.x, self.y, self.cls, self.chunk = x, y, cls, chunk
        self.items = []  # (phase, index (S,T) with -1 padding, lengths (S,), start)
        for phase, index, lengths in plan:
            for start in range(0, index.shape[1], chunk):
                self.items.append((phase, index, lengths, start))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        phase, index, lengths, start = self.items[i]
        idx = index[:, start:start + self.chunk]
        valid = idx >= 0
        safe = idx.clamp_min(0)
        step = torch.arange(start, start + idx.shape[1]).expand_as(idx)
        return {"phase": phase, "x": self.x[safe] * valid.unsqueeze(2), "y": self.y[safe],
                "cls": torch.where(valid, self.cls[safe], -1), "step": step.contiguous(),
                "phase_steps": lengths, "valid": valid}


class LocalizationDataModule(L.LightningDataModule):
    """Pool, phase-1 stream and fork streams of the localization experiment (see the module doc)."""

    def __init__(self, name: str = "mnist_embedded", root: str | None = None, download: bool = False,
                 superclasses=((1, 7), (6, 8)), pool_size: int | None = None, phase1_fraction: float = 0.25,
                 phase1_epochs: int = 1, fork_epochs: int = 1, chunk_size: int = 64,
                 scaling: str = "symmetric", eval_batch_size: int = 1000, dtype: str = "float64"):
        super().__init__()
        options.check("data", dtype=dtype, pool_size=pool_size, phase1_fraction=phase1_fraction,
                      phase1_epochs=phase1_epochs, fork_epochs=fork_epochs, chunk_size=chunk_size)
        self.dtype = getattr(torch, dtype)
        groups = normalize_classes([list(g) if hasattr(g, "__iter__") else [g] for g in superclasses])
        if groups is None or len(groups) < 2:
            raise ConfigValueError("data.superclasses", superclasses, "at least two super-classes, e.g. [[1,7],[6,8]]")
        self.name, self.root, self.download = name, root, download
        self.superclasses = groups
        self.pool_size = None if pool_size is None else int(pool_size)
        self.phase1_fraction = float(phase1_fraction)
        self.phase1_epochs, self.fork_epochs = int(phase1_epochs), int(fork_epochs)
        self.chunk_size, self.scaling, self.eval_batch_size = int(chunk_size), scaling, int(eval_batch_size)
        self.forks = make_forks(groups)
        if not self.forks:
            raise ConfigValueError("data.superclasses", superclasses, "a super-class with at least two sub-classes")
        self.x = self.y = self.cls = None

    @property
    def num_classes(self) -> int:
        return len(self.superclasses)

    def setup(self, stage: str | None = None) -> None:
        if self.x is not None:
            return
        src, images, y, cls, keep = load_pool(self.name, self.root, self.download, self.pool_size,
                                              self.superclasses)
        self.source = src
        if len(keep) < 4:
            raise ConfigValueError("data.superclasses", self.superclasses, "digits present in the pool")
        self.x = scale_images(images, self.scaling, dtype=self.dtype).flatten(1).contiguous()
        self.y, self.cls = y, cls
        self.n_phase1 = max(1, math.floor(self.phase1_fraction * len(y)))  # floor(fraction x pool)
        rest = torch.arange(self.n_phase1, len(y))
        self.phase1_index = torch.arange(self.n_phase1).repeat(self.phase1_epochs)
        self.fork_index = [rest[self.cls[rest] != f.dropped].repeat(self.fork_epochs) for f in self.forks]
        if src.test_images is not None:
            tkeep, ty = select_classes(src.test_labels, self.superclasses)
            self.test = (scale_images(src.test_images[tkeep], self.scaling, dtype=self.dtype).flatten(1), ty,
                         src.test_labels[tkeep])
            self.test_is_official = True
        else:
            self.test = (self.x[rest], self.y[rest], self.cls[rest])
            self.test_is_official = False

    @property
    def input_size(self) -> int:
        self.setup()
        return self.x.shape[1]

    def describe(self) -> dict:
        """Data source, pool and stream sizes, for the run record."""
        self.setup()
        return {**self.source.info, "superclasses": self.superclasses, "pool_size": self.pool_size,
                "n_pool": len(self.y), "n_phase1": self.n_phase1,
                "pool_counts": {int(c): int((self.cls == c).sum()) for c in self.cls.unique()},
                "forks": {f.name: len(i) for f, i in zip(self.forks, self.fork_index)},
                "n_test": len(self.test[1]), "test": "official" if self.test_is_official else "pool after phase 1"}

    def plan(self) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
        """``[(phase, index (S,T) into the pool with -1 padding, lengths (S,))]`` for phase 1 and forks."""
        self.setup()
        T = max(len(i) for i in self.fork_index)
        forks = torch.full((len(self.forks), T), -1, dtype=torch.long)
        for f, i in enumerate(self.fork_index):
            forks[f, :len(i)] = i
        lengths = torch.tensor([len(i) for i in self.fork_index])
        phase1, fork_phase = options.PHASES
        return [(phase1, self.phase1_index.unsqueeze(0), torch.tensor([len(self.phase1_index)])),
                (fork_phase, forks, lengths)]

    def train_dataloader(self):
        return DataLoader(_Chunks(self.plan(), self.x, self.y, self.cls, self.chunk_size),
                          batch_size=None, shuffle=False)

    def test_dataloader(self):
        x, y, c = self.test
        ds = [(x[i:i + self.eval_batch_size], y[i:i + self.eval_batch_size], c[i:i + self.eval_batch_size])
              for i in range(0, len(y), self.eval_batch_size)]
        return DataLoader(ds, batch_size=None, shuffle=False)
