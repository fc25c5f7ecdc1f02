"""Hierarchical equality data: ``y = ((a = b) = (c = d))`` over random Gaussian item vectors.

Items are vectors drawn from N(0, I_dim). Training samples use the training vocabulary; validation
and test samples use fresh vocabularies of the same size (items never seen in training), so test
accuracy measures equality, not memorised items. Each of the four (a=b, c=d) combinations is
exactly a quarter of every split (up to rounding); an unequal pair draws two distinct items.

:class:`EqualityDataModule` trains the network (input ``x = [a, b, c, d]``, 4 x dim floats);
:class:`InterchangeDataModule` yields interchange triples (base, source for a=b, source for c=d)
for the alignment search: training triples from the training vocabulary, test triples from a
fresh one.
"""

from __future__ import annotations

from dataclasses import dataclass

import lightning as L
import torch
from torch.utils.data import DataLoader

from knowloc.alignment.options import DATA, DATA_RULES
from knowloc.data.image import EpochSeededSampler, FieldsDataset, stacked
from knowloc.errors import ConfigValueError
from knowloc.rules import check
from knowloc.seeds import seed_stream

SPLITS = ("train", "val", "test")


def make_vocabulary(size: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """``size`` items, each a vector drawn from N(0, I_dim)."""
    return torch.randn(size, dim, generator=generator)


def sample_equality(n: int, vocab: torch.Tensor, generator: torch.Generator):
    """``n`` balanced samples: (x, y, ab, cd) with x = [a, b, c, d] flattened (n, 4 dim),
    ab = (a = b), cd = (c = d), y = (ab = cd) (bool tensors, y as int64 label)."""
    v = len(vocab)
    check({"vocab_size": v}, DATA_RULES, DATA)
    combo = torch.arange(n) % 4
    combo = combo[torch.randperm(n, generator=generator)]
    ab, cd = (combo // 2).bool(), (combo % 2).bool()
    idx = torch.randint(0, v, (n, 4), generator=generator)
    # an unequal pair: second item = first + offset in 1..v-1 (mod v), so always distinct
    off = torch.randint(1, v, (n, 2), generator=generator)
    idx[:, 1] = torch.where(ab, idx[:, 0], (idx[:, 0] + off[:, 0]) % v)
    idx[:, 3] = torch.where(cd, idx[:, 2], (idx[:, 2] + off[:, 1]) % v)
    x = vocab[idx].flatten(1)
    y = (ab == cd).long()
    return x, y, ab, cd


@dataclass
class EqualitySplit:
    x: torch.Tensor
    y: torch.Tensor
    ab: torch.Tensor
    cd: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)


def _check(key: str, value, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise ConfigValueError(key, value, f"an integer >= {lo}")
    return value


class EqualityDataModule(L.LightningDataModule):
    """Hierarchical equality samples generated from ``seed`` (see module docstring).

    Vocabularies: training items, and fresh items for validation and for test (``vocab_size``
    each, dimension ``dim``). Split sizes ``n_train``, ``n_val``, ``n_test``.
    """

    name = "equality"

    def __init__(self, name: str = "equality", vocab_size: int = 100, dim: int = 4, n_train: int = 20000,
                 n_val: int = 2000, n_test: int = 4000, batch_size: int = 64, eval_batch_size: int = 2000,
                 shuffle: bool = True, seed: int = 0, num_workers: int = 0):
        super().__init__()
        check({"vocab_size": vocab_size, "dim": dim}, DATA_RULES, DATA)
        self.vocab_size, self.dim = vocab_size, dim
        self.n = {"train": _check("data.n_train", n_train), "val": _check("data.n_val", n_val),
                  "test": _check("data.n_test", n_test)}
        self.batch_size = _check("data.batch_size", batch_size)
        self.eval_batch_size = _check("data.eval_batch_size", eval_batch_size)
        self.shuffle, self.seed, self.num_workers = bool(shuffle), int(seed), int(num_workers)
        self.vocab: dict[str, torch.Tensor] = {}
        self.splits: dict[str, EqualitySplit] = {}

    @property
    def input_size(self) -> int:
        return 4 * self.dim

    def setup(self, stage: str | None = None) -> None:
        if self.splits:
            return
        g = seed_stream(self.seed, "equality/items")
        for s in SPLITS:
            self.vocab[s] = make_vocabulary(self.vocab_size, self.dim, g)
        for s in SPLITS:
            self.splits[s] = EqualitySplit(*sample_equality(self.n[s], self.vocab[s], g))

    def describe(self) -> dict:
        self.setup()
        return {"name": "equality", "vocab_size": self.vocab_size, "dim": self.dim, "seed": self.seed,
                **{f"n_{s}": len(self.splits[s]) for s in SPLITS},
                "test_items": "fresh vocabulary (disjoint from training items)"}

    def _loader(self, split: str, batch_size: int, shuffle: bool) -> DataLoader:
        self.setup()
        data = self.splits[split]
        sampler = EpochSeededSampler(len(data), self.seed, shuffle)
        return DataLoader(FieldsDataset(data), batch_size=batch_size, sampler=sampler, collate_fn=stacked,
                          num_workers=self.num_workers)

    def train_dataloader(self):
        return self._loader("train", self.batch_size, self.shuffle)

    def val_dataloader(self):
        return self._loader("val", self.eval_batch_size, False)

    def test_dataloader(self):
        return self._loader("test", self.eval_batch_size, False)


# -- interchange triples for the alignment search --------------------------------------------------
ROLES = ("base", "source_ab", "source_cd")


@dataclass
class InterchangeSplit:
    """Triples (base, source for a=b, source for c=d): x (n, 3, 4 dim), ab and cd (n, 3) bool."""

    x: torch.Tensor
    ab: torch.Tensor
    cd: torch.Tensor

    def __len__(self) -> int:
        return len(self.ab)

    def __getitem__(self, idx):
        return InterchangeSplit(self.x[idx], self.ab[idx], self.cd[idx])

    @property
    def index(self) -> torch.Tensor:
        """Each triple's position in the split (training batches carry it, so that the search can
        look up the frozen network's hidden states instead of recomputing them)."""
        return torch.arange(len(self))


class _Indexed:
    """A split with its ``index`` made once (FieldsDataset reads fields as attributes per batch)."""

    def __init__(self, split: InterchangeSplit):
        self.x, self.ab, self.cd, self.index = split.x, split.ab, split.cd, split.index

    def __len__(self) -> int:
        return len(self.ab)


def sample_triples(n: int, vocab: torch.Tensor, generator: torch.Generator) -> InterchangeSplit:
    """``n`` triples of independent balanced equality samples (base, source_ab, source_cd)."""
    parts = [sample_equality(n, vocab, generator) for _ in ROLES]
    return InterchangeSplit(torch.stack([p[0] for p in parts], 1), torch.stack([p[2] for p in parts], 1),
                            torch.stack([p[3] for p in parts], 1))


class InterchangeDataModule(L.LightningDataModule):
    """Interchange triples for the alignment search, generated from ``seed``.

    Training triples (``n_train`` of them) use a training vocabulary; test triples (``n_test``)
    use a fresh vocabulary, so the held-out IIA is measured on items the rotation never saw.
    Each role (base, source for a=b, source for c=d) is an independent balanced sample, so an
    intervention on one variable changes the high-level label on half of the pairs.
    """

    def __init__(self, name: str = "equality", vocab_size: int = 1000, dim: int = 4, n_train: int = 10000,
                 n_test: int = 4000, batch_size: int = 256, eval_batch_size: int = 4000, seed: int = 0,
                 num_workers: int = 0):
        super().__init__()
        check({"vocab_size": vocab_size, "dim": dim}, DATA_RULES, DATA)
        self.vocab_size, self.dim = vocab_size, dim
        self.n_train, self.n_test = _check("data.n_train", n_train), _check("data.n_test", n_test)
        self.batch_size = _check("data.batch_size", batch_size)
        self.eval_batch_size = _check("data.eval_batch_size", eval_batch_size)
        self.seed, self.num_workers = int(seed), int(num_workers)
        self.train_split: InterchangeSplit | None = None
        self.test_split: InterchangeSplit | None = None

    @property
    def input_size(self) -> int:
        return 4 * self.dim

    def setup(self, stage: str | None = None) -> None:
        if self.train_split is not None:
            return
        # offset so that the items differ from the network's own training data of the same seed
        g = seed_stream(self.seed, "interchange/items")
        train_vocab = make_vocabulary(self.vocab_size, self.dim, g)
        test_vocab = make_vocabulary(self.vocab_size, self.dim, g)
        self.train_split = sample_triples(self.n_train, train_vocab, g)
        self.test_split = sample_triples(self.n_test, test_vocab, g)

    def describe(self) -> dict:
        self.setup()
        return {"name": "equality-interchange", "vocab_size": self.vocab_size, "dim": self.dim,
                "seed": self.seed, "n_train_triples": self.n_train, "n_test_triples": self.n_test,
                "test_items": "fresh vocabulary (disjoint from training items)"}

    def _loader(self, split: InterchangeSplit, batch_size: int, shuffle: bool,
                fields: tuple[str, ...] = ("x", "ab", "cd")) -> DataLoader:
        return DataLoader(FieldsDataset(_Indexed(split) if "index" in fields else split, fields), batch_size=batch_size,
                          sampler=EpochSeededSampler(len(split), self.seed, shuffle), collate_fn=stacked,
                          num_workers=self.num_workers)

    def train_dataloader(self):
        self.setup()
        return self._loader(self.train_split, self.batch_size, True, ("x", "ab", "cd", "index"))

    def test_dataloader(self):
        self.setup()
        return self._loader(self.test_split, self.eval_batch_size, False)
