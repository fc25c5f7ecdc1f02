"""Data: embedded set, torchvision formats (synthetic files), class subsets, first-N, scaling, splits."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from knowloc.data import ImageDataModule, load_source, scale_images, select_classes
from knowloc.data.sources import EMBEDDED_SHA256
from knowloc.errors import ConfigValueError, DataNotFoundError
from synthetic import write_cifar10, write_mnist


def test_embedded_set_is_the_shipped_file_in_its_order():
    src = load_source("mnist_embedded")
    assert src.images.shape == (5000, 1, 28, 28) and src.images.dtype == torch.uint8
    assert torch.bincount(src.labels).tolist() == [500] * 10
    assert src.info["sha256"] == EMBEDDED_SHA256
    assert src.test_images is None
    # the order is the shuffled one (not sorted by class)
    assert len(set(src.labels[:20].tolist())) > 3


def test_superclasses_map_to_new_labels_in_data_set_order():
    labels = torch.tensor([1, 6, 3, 7, 8, 1, 0, 6])
    keep, y = select_classes(labels, [[1, 7], [6, 8]])
    assert keep.tolist() == [0, 1, 3, 4, 5, 7]
    assert y.tolist() == [0, 1, 0, 1, 0, 1]
    keep, y = select_classes(labels, [3, 0])
    assert keep.tolist() == [2, 6] and y.tolist() == [0, 1]
    with pytest.raises(ConfigValueError, match="data.classes"):
        select_classes(labels, [[1, 7], [7, 8]])


def test_scalings():
    x = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    assert scale_images(x, "unit").flatten().tolist() == [0.0, 1.0]
    assert scale_images(x, "symmetric").flatten().tolist() == [-1.0, 1.0]
    z = scale_images(x, "standard", mean=[0.5], std=[0.5])
    assert torch.allclose(z.flatten(), torch.tensor([-1.0, 1.0]))
    with pytest.raises(ConfigValueError, match="data.scaling"):
        scale_images(x, "nope")


def test_datamodule_options_and_deterministic_split():
    def dm(seed, **kw):
        d = ImageDataModule(classes=[[1, 7], [6, 8]], first_n=2000, scaling="symmetric", flatten=True,
                            seed=seed, **kw)
        d.setup()
        return d

    a, b, c = dm(0), dm(0), dm(1)
    src = load_source("mnist_embedded")
    pool = np.isin(src.labels[:2000].numpy(), [1, 7, 6, 8]).sum()
    assert len(a.train_split) + len(a.val_split) + len(a.test_split) == pool
    assert a.train_split.x.shape[1] == 784
    assert a.train_split.x.min() >= -1 and a.train_split.x.max() <= 1 and a.train_split.x.min() < -0.99
    assert set(a.train_split.y.tolist()) == {0, 1}
    assert set(a.train_split.orig.tolist()) == {1, 7, 6, 8}
    # labels follow the super-class of the original digit
    sup = torch.tensor([0 if d in (1, 7) else 1 for d in a.train_split.orig.tolist()])
    assert torch.equal(sup, a.train_split.y)
    # training samples keep data-set order; same seed, same split; other seed, other split
    assert torch.all(a.train_split.index[1:] > a.train_split.index[:-1])
    assert torch.equal(a.test_split.index, b.test_split.index)
    assert not torch.equal(a.test_split.index, c.test_split.index)
    assert a.num_classes == 2


def test_standard_scaling_uses_training_mean_and_std():
    d = ImageDataModule(scaling="standard", seed=0)
    d.setup()
    x = d.train_split.x
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2


def test_epoch_order_depends_on_seed_and_epoch_only():
    d = ImageDataModule(batch_size=32, seed=3)
    d.setup()
    loader = d.train_dataloader()
    first = [b[1] for b in loader][0]
    loader.sampler.set_epoch(1)
    second = [b[1] for b in loader][0]
    loader.sampler.set_epoch(0)
    again = [b[1] for b in loader][0]
    assert torch.equal(first, again) and not torch.equal(first, second)


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion_mnist", "FashionMNIST")])
def test_torchvision_idx_formats(tmp_path, name, folder):
    write_mnist(tmp_path, n_train=120, n_test=50, folder=folder)
    d = ImageDataModule(name=name, root=str(tmp_path), val_fraction=0.25, classes=[3, 5])
    d.setup()
    src = d.source
    assert src.images.shape == (120, 1, 28, 28) and src.test_images.shape == (50, 1, 28, 28)
    assert len(d.test_split) == int(((src.test_labels == 3) | (src.test_labels == 5)).sum())
    assert d.describe()["name"] == name


def test_cifar10_pickle_format(tmp_path):
    write_cifar10(tmp_path, n_per_batch=20, n_test=30)
    d = ImageDataModule(name="cifar10", root=str(tmp_path), scaling="standard")
    d.setup()
    assert d.source.images.shape == (100, 3, 32, 32)
    assert d.train_split.x.shape[1:] == (3, 32, 32)
    assert len(d.mean) == 3


def test_missing_root_names_the_path_and_how_to_get_it(tmp_path):
    with pytest.raises(DataNotFoundError) as e:
        ImageDataModule(name="cifar10", root=str(tmp_path / "nothing")).setup()
    msg = str(e.value)
    assert "data.root" in msg and "nothing" in msg and "data.download=true" in msg and "\n" not in msg
