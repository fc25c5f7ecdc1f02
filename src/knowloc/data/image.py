"""``ImageDataModule``: one LightningDataModule for every image data set of knowloc."""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from knowloc.data.sources import Source, load_pool
from knowloc.data.transforms import SCALINGS, SPLITS, normalize_classes, pad_images, scale_images, select_classes
from knowloc.errors import ConfigValueError
from knowloc.seeds import seed_stream


@dataclass
class TensorSplit:
    """A split held in memory: scaled inputs, labels, and the original (sub-)class of each sample."""

    x: torch.Tensor
    y: torch.Tensor
    orig: torch.Tensor
    index: torch.Tensor  # position of each sample in the source's data-set order

    def __len__(self) -> int:
        return len(self.y)


class FieldsDataset(Dataset):
    """A dataset over tensors held as attributes of ``split`` (``fields``, default x and y),
    fetched a whole batch at a time (one indexing op per field and batch); pair it with
    ``collate_fn=stacked``."""

    def __init__(self, split, fields: tuple[str, ...] = ("x", "y")):
        self.split, self.fields = split, tuple(fields)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i):
        return tuple(getattr(self.split, f)[i] for f in self.fields)

    def __getitems__(self, idx):  # batched fetch
        idx = torch.as_tensor(idx)
        return tuple(getattr(self.split, f)[idx] for f in self.fields)


def stacked(batch):
    """collate_fn for FieldsDataset: the batch is already stacked."""
    return batch


class EpochSeededSampler(Sampler[int]):
    """Shuffled order that depends only on (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, n: int, seed: int, shuffle: bool = True):
        self.n, self.seed, self.shuffle, self.epoch = n, seed, shuffle, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        if not self.shuffle:
            return iter(range(self.n))
        g = seed_stream(self.seed, "data/order", self.epoch)
        return iter(torch.randperm(self.n, generator=g).tolist())

    def __len__(self) -> int:
        return self.n


RANGE_KEYS = ("train", "val", "test")


def check_ranges(ranges, n: int) -> dict[str, tuple[int, int] | None]:
    """``{"train": (lo, hi), "val": (lo, hi) or None, "test": ...}`` from ``data.ranges``: half-open
    position ranges in the pool (data-set order), inside [0, n), disjoint, train non-empty."""
    allowed = f"{{train: [lo, hi], val: [lo, hi] or null, test: [lo, hi] or null}}, disjoint, within [0, {n}]"
    try:
        out = {k: (None if ranges.get(k) is None else (int(ranges[k][0]), int(ranges[k][1]))) for k in RANGE_KEYS}
        bad = set(ranges) - set(RANGE_KEYS)
    except (AttributeError, TypeError, IndexError, ValueError):
        raise ConfigValueError("data.ranges", ranges, allowed) from None
    spans = sorted(r for r in out.values() if r is not None)
    if (bad or out["train"] is None or any(not 0 <= lo < hi <= n for lo, hi in spans)
            or any(a[1] > b[0] for a, b in zip(spans, spans[1:]))):
        raise ConfigValueError("data.ranges", ranges, allowed)
    return out


class ImageDataModule(L.LightningDataModule):
    """Image classification data with class subsets, first-N, padding, scaling and flattening.

    Order of operations: load the source in data-set order -> keep the first ``first_n``
    training samples -> keep ``classes`` (``classes[i]`` becomes label i) -> split -> pad ``pad``
    zero pixels on every side (pixel space) -> scale (``standard``: mean/std of the unpadded
    training images). Splits (``split``):

    * ``random`` (seeded): a set without an official test split (the embedded subset) holds out
      ``test_fraction`` of it, chosen by ``seed``; ``val_fraction`` of the training pool is held
      out for validation, chosen by ``seed``.
    * ``index``: fixed position ranges of the pool in data-set order, the same for every seed:
      ``ranges = {train: [0, 4000], val: null, test: [4000, 5000]}`` (half-open; val null = no
      validation split, test null = the official test split). Every seed sees the same test images.

    Training samples keep data-set order within their split.
    """

    def __init__(self, name: str = "mnist_embedded", root: str | None = None, download: bool = False,
                 classes=None, first_n: int | None = None, scaling: str = "unit",
                 flatten: bool = False, val_fraction: float = 0.1, test_fraction: float = 0.2,
                 batch_size: int = 64, eval_batch_size: int = 1000, shuffle: bool = True,
                 seed: int = 0, num_workers: int = 0, split: str = "random", ranges=None, pad: int = 0):
        super().__init__()
        if split not in SPLITS:
            raise ConfigValueError("data.split", split, SPLITS)
        if split == "index" and ranges is None:
            raise ConfigValueError("data.ranges", ranges, "position ranges {train: [lo, hi], val: ..., test: ...}")
        if not isinstance(pad, int) or isinstance(pad, bool) or pad < 0:
            raise ConfigValueError("data.pad", pad, "an integer >= 0")
        self.split, self.ranges, self.pad = split, ranges, int(pad)
        if scaling not in SCALINGS:
            raise ConfigValueError("data.scaling", scaling, SCALINGS)
        for key, v in (("data.val_fraction", val_fraction), ("data.test_fraction", test_fraction)):
            if not 0.0 <= float(v) < 1.0:
                raise ConfigValueError(key, v, "a fraction in [0, 1)")
        for key, v in (("data.batch_size", batch_size), ("data.eval_batch_size", eval_batch_size)):
            if int(v) < 1:
                raise ConfigValueError(key, v, "an integer >= 1")
        if first_n is not None and int(first_n) < 1:
            raise ConfigValueError("data.first_n", first_n, "null or an integer >= 1")
        self.name, self.root, self.download = name, root, download
        self.classes = normalize_classes(classes)
        self.first_n, self.scaling, self.flatten = first_n, scaling, flatten
        self.val_fraction, self.test_fraction = float(val_fraction), float(test_fraction)
        self.batch_size, self.eval_batch_size, self.shuffle = int(batch_size), int(eval_batch_size), shuffle
        self.seed, self.num_workers = int(seed), int(num_workers)
        self.source: Source | None = None
        self.train_split = self.val_split = self.test_split = None
        self.mean = self.std = None

    # -- sizes known before setup ------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.classes) if self.classes is not None else 10

    # -- building the splits -----------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_split is not None:
            return
        src, *pool = load_pool(self.name, self.root, self.download, self.first_n, self.classes)
        self.source = src
        pool, keep = tuple(pool), pool[3]
        g = seed_stream(self.seed, "data/split")
        if self.split == "index":
            train, val, test = self._index_splits(src, pool)
        else:
            train, val, test = self._random_splits(src, pool, keep, g)
        counts = torch.bincount(train[1], minlength=self.num_classes)
        if len(train[1]) == 0 or (counts == 0).any():
            empty = [self.classes[i] if self.classes else i for i in torch.nonzero(counts == 0).flatten().tolist()]
            where = f"the first {self.first_n} samples of {self.name}" if self.first_n else self.name
            raise ConfigValueError("data.classes", self.classes,
                                   f"classes with training samples in {where} (none for {empty})")
        if self.scaling == "standard":
            xf = train[0].float() / 255.0
            self.mean = xf.mean(dim=(0, 2, 3)).tolist()
            self.std = xf.std(dim=(0, 2, 3)).clamp_min(1e-6).tolist()
        self.train_split, self.val_split, self.test_split = (self._make(s) for s in (train, val, test))

    def _index_splits(self, src: Source, pool):
        """Fixed position ranges of the pool (``ranges``), the same for every seed."""
        self.index_ranges = r = check_ranges(self.ranges, len(pool[1]))
        empty = tuple(t[:0] for t in pool)
        parts = {k: None if v is None else tuple(t[v[0]:v[1]] for t in pool) for k, v in r.items()}
        if parts["test"] is None:
            if src.test_images is None:
                raise ConfigValueError("data.ranges", self.ranges, f"a test range ({src.name} has no test split)")
            tkeep, ty = select_classes(src.test_labels, self.classes)
            parts["test"] = (src.test_images[tkeep], ty, src.test_labels[tkeep], tkeep)
        return parts["train"], parts["val"] or empty, parts["test"]

    def _random_splits(self, src: Source, pool, keep, g):
        """Seeded random held-out test (sets without a test split) and validation samples."""
        if src.test_images is None:
            n_test = int(round(self.test_fraction * len(keep)))
            perm = torch.randperm(len(keep), generator=g)
            test_idx, rest = perm[:n_test].sort().values, perm[n_test:].sort().values
            test = tuple(t[test_idx] for t in pool)
            pool = tuple(t[rest] for t in pool)
        else:
            tkeep, ty = select_classes(src.test_labels, self.classes)
            test = (src.test_images[tkeep], ty, src.test_labels[tkeep], tkeep)
        n_val = int(round(self.val_fraction * len(pool[1])))
        perm = torch.randperm(len(pool[1]), generator=g)
        val_idx, train_idx = perm[:n_val].sort().values, perm[n_val:].sort().values
        val = tuple(t[val_idx] for t in pool)
        train = tuple(t[train_idx] for t in pool)
        return train, val, test

    def _make(self, parts) -> TensorSplit:
        x, y, orig, index = parts
        x = scale_images(pad_images(x, self.pad), self.scaling, self.mean, self.std)
        if self.flatten:
            x = x.flatten(1)
        return TensorSplit(x.contiguous(), y, orig, index)

    @property
    def input_shape(self) -> tuple[int, ...]:
        self.setup()
        return tuple(self.train_split.x.shape[1:])

    def describe(self) -> dict:
        """Data source and split sizes, for the run record."""
        self.setup()
        return {**self.source.info, "classes": self.classes, "first_n": self.first_n,
                "scaling": self.scaling, "seed": self.seed, "split": self.split, "pad": self.pad,
                "ranges": {k: (list(v) if v else None) for k, v in self.index_ranges.items()}
                if self.split == "index" else None,
                "n_train": len(self.train_split),
                "n_val": len(self.val_split), "n_test": len(self.test_split)}

    # -- loaders -------------------------------------------------------------------------------
    def _loader(self, split: TensorSplit, batch_size: int, shuffle: bool) -> DataLoader:
        sampler = EpochSeededSampler(len(split), self.seed, shuffle)
        return DataLoader(FieldsDataset(split), batch_size=batch_size, sampler=sampler,
                          collate_fn=stacked, num_workers=self.num_workers)

    def train_dataloader(self):
        return self._loader(self.train_split, self.batch_size, self.shuffle)

    def val_dataloader(self):
        return self._loader(self.val_split, self.eval_batch_size, False)

    def test_dataloader(self):
        return self._loader(self.test_split, self.eval_batch_size, False)
