"""Tiny data sets written in torchvision's on-disk formats, so every loader runs without a download.

- MNIST / Fashion-MNIST: IDX files ``<root>/<MNIST|FashionMNIST>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
- CIFAR-10: python pickles ``<root>/cifar-10-batches-py/{data_batch_1..5,test_batch,batches.meta}``

Images are class-dependent patterns plus noise, so a small network can learn them.
"""

from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np


def _patterns(n: int, size: int, channels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 10
    rng.shuffle(labels)
    images = rng.integers(0, 60, size=(n, size, size, channels), dtype=np.int64)
    for k in range(10):
        r, c = divmod(k, 4)
        block = (slice(2 + 6 * r, 6 + 6 * r), slice(2 + 6 * c, 6 + 6 * c))
        images[labels == k, block[0], block[1], :] += 180
    return np.clip(images, 0, 255).astype(np.uint8), labels.astype(np.uint8)


def _write_idx_images(path: Path, images: np.ndarray) -> None:
    n, h, w = images.shape
    path.write_bytes(struct.pack(">IIII", 2051, n, h, w) + images.tobytes())


def _write_idx_labels(path: Path, labels: np.ndarray) -> None:
    path.write_bytes(struct.pack(">II", 2049, len(labels)) + labels.astype(np.uint8).tobytes())


def write_mnist(root: str | Path, n_train: int = 200, n_test: int = 100, folder: str = "MNIST", seed: int = 0) -> Path:
    """IDX files as torchvision's MNIST (folder="MNIST") or FashionMNIST (folder="FashionMNIST") reads them."""
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for split, n, s in (("train", n_train, seed), ("t10k", n_test, seed + 1)):
        x, y = _patterns(n, 28, 1, s)
        _write_idx_images(raw / f"{split}-images-idx3-ubyte", x[..., 0])
        _write_idx_labels(raw / f"{split}-labels-idx1-ubyte", y)
    return Path(root)


def write_cifar10(root: str | Path, n_per_batch: int = 40, n_test: int = 100, seed: int = 0) -> Path:
    """Pickled batches as torchvision's CIFAR10 reads them (uint8 rows of 3x32x32, channel-major;
    str keys, as the original Python-2 pickles load)."""
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)

    def dump(name: str, n: int, s: int) -> None:
        x, y = _patterns(n, 32, 3, s)
        data = x.transpose(0, 3, 1, 2).reshape(n, 3072)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": [int(v) for v in y], "batch_label": name}, f)

    for i in range(1, 6):
        dump(f"data_batch_{i}", n_per_batch, seed + i)
    dump("test_batch", n_test, seed + 10)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{k}" for k in range(10)], "num_cases_per_batch": n_per_batch}, f)
    return Path(root)
