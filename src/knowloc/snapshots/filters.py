"""Conv filters as images: one small RGB image per (filter, input channel), a grid per layer.

Colour map (per layer and snapshot, symmetric range): with s the ``q``-quantile of |W| over the
whole layer weight at that snapshot (q = ``range_quantile``, default 0.99; q = 1 is max|W|) and
v = clip(W / s, -1, 1),

    RGB = (max(v, 0), 1 - |v|, max(-v, 0))

so weights >= s are pure red, weights <= -s pure blue, and weights near zero green;
intermediate values blend (0.5 s is half red, half green). The quantile keeps one outlier from
washing the rest of the layer out to green; s is printed in each grid's caption (``±s``). A grid has one block per output filter; a block is the filter's kernels side
by side, one per input channel (so the first layer of an RGB network shows each filter's R, G
and B kernels). Blocks are laid out row by row, separated by dark lines.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

GAP = (40, 40, 40)  # separator colour


def symmetric_range(w: torch.Tensor, q: float = 0.99) -> float:
    """s = the q-quantile of |w| (q = 1: max|w|)."""
    a = w.detach().float().abs().flatten().cpu()
    return float(a.max()) if q >= 1 else float(torch.quantile(a, q))


def colour(w: torch.Tensor, scale: float | None = None) -> np.ndarray:
    """uint8 RGB of shape ``w.shape + (3,)`` by the colour map above; ``scale`` defaults to max|w|."""
    w = w.detach().float().cpu()
    s = float(w.abs().max()) if scale is None else float(scale)
    v = (w / s).clamp(-1, 1) if s > 0 else torch.zeros_like(w)
    rgb = torch.stack([v.clamp(min=0), 1 - v.abs(), (-v).clamp(min=0)], dim=-1)
    return (rgb * 255).round().to(torch.uint8).numpy()


def grid_shape(out_channels: int, in_channels: int) -> tuple[int, int]:
    """(block rows, block columns): about square in kernels."""
    cols = max(1, math.ceil(math.sqrt(out_channels / in_channels)))
    return math.ceil(out_channels / cols), cols


def filter_grid(w: torch.Tensor, zoom: int | None = None, scale: float | None = None) -> np.ndarray:
    """uint8 RGB image (H, W, 3) of a conv weight (out, in, kh, kw), before any caption.

    ``zoom`` (nearest neighbour) defaults to the largest integer keeping the width <= 1000 px.
    """
    if w.ndim != 4:
        raise ValueError(f"filter images need a conv weight (out, in, kh, kw); got shape {tuple(w.shape)}")
    out_c, in_c, kh, kw = w.shape
    rows, cols = grid_shape(out_c, in_c)
    cells = np.empty((rows * cols, in_c, kh + 1, kw + 1, 3), np.uint8)
    cells[:] = GAP
    cells[:out_c, :, :kh, :kw] = colour(w, scale)  # kernel + 1 px gap right and below
    blocks = cells.reshape(rows, cols, in_c, kh + 1, kw + 1, 3).transpose(0, 1, 3, 2, 4, 5)
    blocks = blocks.reshape(rows, cols, kh + 1, in_c * (kw + 1), 3)
    padded = np.empty((rows, cols, kh + 2, in_c * (kw + 1) + 1, 3), np.uint8)  # + 1 px between blocks
    padded[:] = GAP
    padded[:, :, : kh + 1, : in_c * (kw + 1)] = blocks
    body = padded.transpose(0, 2, 1, 3, 4).reshape(rows * (kh + 2), cols * (in_c * (kw + 1) + 1), 3)
    img = np.empty((body.shape[0], body.shape[1] + 1, 3), np.uint8)
    img[:] = GAP
    img[1:, 1:] = body[:-1]
    W = img.shape[1]
    if zoom is None:
        zoom = max(1, min(16, 1000 // W))
    return img.repeat(zoom, 0).repeat(zoom, 1) if zoom > 1 else img


def caption(img: np.ndarray, text: str) -> np.ndarray:
    """The image with a white band of text above it."""
    from PIL import Image, ImageDraw

    band = 16
    out = Image.new("RGB", (max(img.shape[1], 8 * len(text) // 1 + 8), img.shape[0] + band), "white")
    out.paste(Image.fromarray(img), (0, band))
    ImageDraw.Draw(out).text((3, 2), text, fill=(0, 0, 0))
    return np.asarray(out)


def render(w: torch.Tensor, text: str = "", range_quantile: float = 0.99) -> np.ndarray:
    """Filter grid of a conv weight with a caption ``text  ±s``."""
    s = symmetric_range(w, range_quantile)
    img = filter_grid(w, scale=s)
    return caption(img, f"{text}  ±{s:.3g}".strip())


def write_png(img: np.ndarray, path: str | Path) -> Path:
    import imageio.v3 as iio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, img, compress_level=1)  # fast; these images compress well anyway
    return path


def write_gif(frames: Sequence[np.ndarray | str | Path], path: str | Path, seconds_per_frame: float = 0.5) -> Path:
    """An animated GIF (looping) of equally sized frames (arrays or PNG paths)."""
    import imageio.v2 as imageio

    imgs = [imageio.imread(f) if isinstance(f, (str, Path)) else f for f in frames]
    h = max(i.shape[0] for i in imgs)
    w = max(i.shape[1] for i in imgs)
    padded = []
    for i in imgs:
        p = np.full((h, w, 3), 255, np.uint8)
        p[: i.shape[0], : i.shape[1]] = i[..., :3]
        padded.append(p)
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # fast octree palette per frame (PIL's default median cut dominates the callback's cost)
    pal = [Image.fromarray(p).quantize(colors=256, method=Image.Quantize.FASTOCTREE) for p in padded]
    pal[0].save(path, save_all=True, append_images=pal[1:], duration=int(seconds_per_frame * 1000), loop=0,
                optimize=False)
    return path
