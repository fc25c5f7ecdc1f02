"""Options every experiment needs: class subsets and relabelling, input scaling."""

from __future__ import annotations

from typing import Sequence

import torch

from knowloc.errors import ConfigValueError

SCALINGS = ("unit", "symmetric", "standard")
#: how an image data set is split: random (seeded) or fixed index ranges
SPLITS = ("random", "index")


def normalize_classes(classes) -> list[list[int]] | None:
    """``[1, 7]`` -> ``[[1], [7]]``; ``[[1, 7], [6, 8]]`` stays; None keeps all classes."""
    if classes is None:
        return None
    groups = []
    for g in classes:
        members = [int(c) for c in g] if hasattr(g, "__iter__") and not isinstance(g, str) else [int(g)]
        groups.append(members)
    flat = [c for g in groups for c in g]
    if len(flat) != len(set(flat)) or not flat:
        raise ConfigValueError("data.classes", classes, "a list of distinct classes or of disjoint class groups, e.g. [[1,7],[6,8]]")
    return groups


def select_classes(labels: torch.Tensor, classes) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices (in data-set order) of samples whose label is in ``classes`` and their new labels.

    ``classes[i]`` (a class or a group of classes) becomes label ``i``.
    """
    groups = normalize_classes(classes)
    if groups is None:
        return torch.arange(len(labels)), labels.clone()
    mapping = torch.full((int(labels.max()) + 1 if len(labels) else 1,), -1, dtype=torch.int64)
    for new, group in enumerate(groups):
        for c in group:
            if c < len(mapping):
                mapping[c] = new
    new_labels = mapping[labels]
    keep = torch.nonzero(new_labels >= 0).flatten()
    return keep, new_labels[keep]


def scale_images(x: torch.Tensor, scaling: str, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 images to float (``dtype``, the arithmetic done in it): ``unit`` x/255 in [0,1];
    ``symmetric`` x/127.5-1 in [-1,1]; ``standard`` (x/255 - mean)/std per channel (mean/std of
    the training split)."""
    xf = x.to(dtype)
    if scaling == "unit":
        return xf / 255.0
    if scaling == "symmetric":
        return xf / 127.5 - 1.0
    if scaling == "standard":
        if mean is None or std is None:
            raise ValueError("standard scaling needs mean and std")
        m = torch.as_tensor(mean, dtype=dtype).view(1, -1, 1, 1)
        s = torch.as_tensor(std, dtype=dtype).view(1, -1, 1, 1)
        return (xf / 255.0 - m) / s
    raise ConfigValueError("data.scaling", scaling, SCALINGS)


def pad_images(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``pad`` pixels of value 0 on every side of uint8 images ``(N, C, H, W)`` (pixel space, before
    scaling: with ``standard`` scaling the border becomes -mean/std, as in LeNet-5's 32x32 input)."""
    if int(pad) == 0:
        return x
    return torch.nn.functional.pad(x, (int(pad),) * 4, value=0)
