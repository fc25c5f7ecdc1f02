"""Hierarchical equality data: labels, balance, fresh test items, determinism."""

from __future__ import annotations

import torch

from knowloc.alignment import EqualityDataModule, InterchangeDataModule


def _items(x, dim=4):
    return x.view(len(x), 4, dim)


def test_labels_are_hierarchical_equality_and_balanced():
    dm = EqualityDataModule(vocab_size=50, dim=4, n_train=4000, n_val=400, n_test=800, seed=3)
    dm.setup()
    for split in dm.splits.values():
        it = _items(split.x)
        ab = (it[:, 0] == it[:, 1]).all(1)
        cd = (it[:, 2] == it[:, 3]).all(1)
        assert torch.equal(ab, split.ab) and torch.equal(cd, split.cd)
        assert torch.equal(split.y, (ab == cd).long())
        counts = torch.bincount(ab.long() * 2 + cd.long(), minlength=4)
        assert counts.max() - counts.min() <= 1  # each (a=b, c=d) combination a quarter
        assert split.x.shape[1] == 16


def test_test_items_are_fresh_and_generation_is_seeded():
    dm = EqualityDataModule(vocab_size=50, n_train=1000, n_val=100, n_test=500, seed=1)
    dm.setup()
    train_items = {tuple(v.tolist()) for v in dm.vocab["train"]}
    test_items = {tuple(v) for v in _items(dm.splits["test"].x).reshape(-1, 4).tolist()}
    assert not train_items & test_items
    again = EqualityDataModule(vocab_size=50, n_train=1000, n_val=100, n_test=500, seed=1)
    again.setup()
    assert torch.equal(again.splits["train"].x, dm.splits["train"].x)
    other = EqualityDataModule(vocab_size=50, n_train=1000, n_val=100, n_test=500, seed=2)
    other.setup()
    assert not torch.equal(other.splits["train"].x, dm.splits["train"].x)


def test_interchange_triples_use_fresh_items_for_test():
    dm = InterchangeDataModule(vocab_size=40, n_train=800, n_test=400, seed=0)
    dm.setup()
    tr, te = dm.train_split, dm.test_split
    assert tr.x.shape == (800, 3, 16) and tr.ab.shape == (800, 3)
    a = {tuple(v) for v in tr.x.reshape(-1, 4).tolist()}
    b = {tuple(v) for v in te.x.reshape(-1, 4).tolist()}
    assert not a & b
    # each role is balanced on its own
    for role in range(3):
        assert abs(float(tr.ab[:, role].float().mean()) - 0.5) < 0.01
