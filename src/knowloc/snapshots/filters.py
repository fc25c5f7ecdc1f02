"""Conv filters as pictures: one block per output filter, drawn with a symmetric colour map.

Colour map, for a symmetric range s > 0 (``scale``): with v = clip(x / s, -1, 1),

    RGB = (max(v, 0), 1 - |v|, max(-v, 0))

so x >= s is pure red, x <= -s pure blue and x = 0 green; 0.5 s is half red, half green. Frames are
palette images that draw v in 253 levels: level k = round(126 (v + 1)) (0..252) has the colour of
v_k = k / 126 - 1, so 0, ±s and ±s/2 are exact and no pixel is off by more than 1/252 in v (under
two units in a 0..255 channel). PNG and GIF frames share that palette: the GIF is not re-quantised.
s = 0 (a layer or change that is zero everywhere) draws every weight green; a weight that is not
finite is drawn black.

Layout (:class:`FilterLayout`): a block per output filter, its input-channel kernels side by side
(1 px dark line between them; the first layer of an RGB network shows a filter's R, G and B kernels),
a dark frame around each block, a white gap between blocks and the filter's number at its left.
Blocks go row by row in about-square columns (conv2 of LeNet, 50 filters x 20 kernels: one row per
filter, 2 columns of 25); ``order`` sets which filter goes where (e.g. most changed first). Each
weight is a ``zoom`` x ``zoom`` square; the default zoom is the largest (<= 12) that keeps the
picture within ``max_width`` pixels (720, about the width W&B shows a media panel at: conv2 of LeNet
gets 3 x 3 pixels a weight, 15 x 15 a kernel; conv1 60 x 60).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

GAP = (40, 40, 40)  # lines between kernels and around blocks
LEVELS = 253
LINE, WHITE, INK = 253, 254, 255  # palette indices after the colour levels
_v = np.arange(LEVELS) / 126.0 - 1.0
PALETTE = np.zeros((256, 3), np.uint8)
PALETTE[:LEVELS] = np.round(255 * np.stack([np.maximum(_v, 0), 1 - np.abs(_v), np.maximum(-_v, 0)], 1))
PALETTE[LINE], PALETTE[WHITE], PALETTE[INK] = GAP, (255, 255, 255), (0, 0, 0)
ZERO = 126  # the level of v = 0
BLOCK_GAP, MARGIN, FONT_SIZE = 4, 4, 11
LINE_H = FONT_SIZE + 3  # caption line height
MAX_ZOOM = 12


def symmetric_range(w, q: float = 0.99) -> float:
    """s = the q-quantile of |w| over its finite entries (q = 1: max|w|); 0 when none is finite."""
    a = np.abs(np.asarray(w.detach().float().cpu() if isinstance(w, torch.Tensor) else w, np.float64).ravel())
    a = a[np.isfinite(a)]
    if a.size == 0:
        return 0.0
    return float(a.max()) if q >= 1 else float(np.quantile(a, q))


def colour(w: torch.Tensor, scale: float | None = None) -> np.ndarray:
    """uint8 RGB of shape ``w.shape + (3,)`` by the colour map above, unquantised; ``scale``
    defaults to max|w|."""
    w = w.detach().float().cpu()
    s = float(w.abs().max()) if scale is None else float(scale)
    v = (w / s).clamp(-1, 1) if s > 0 else torch.zeros_like(w)
    rgb = torch.stack([v.clamp(min=0), 1 - v.abs(), (-v).clamp(min=0)], dim=-1)
    return (rgb * 255).round().to(torch.uint8).numpy()


def levels(x, scale: float) -> np.ndarray:
    """Palette index of each entry of ``x``: round(126 (clip(x / s, -1, 1) + 1)); INK if not finite."""
    x = np.asarray(x, np.float64)
    finite = np.isfinite(x)
    v = np.clip(np.where(finite, x, 0.0) / scale, -1, 1) if scale > 0 and math.isfinite(scale) else np.zeros_like(x)
    return np.where(finite, np.round(126 * (v + 1)), INK).astype(np.uint8)


def to_rgb(frame: np.ndarray) -> np.ndarray:
    """RGB (H, W, 3) of a palette frame."""
    return PALETTE[frame]


def grid_shape(out_channels: int, in_channels: int) -> tuple[int, int]:
    """(block rows, block columns): about square in kernels."""
    cols = max(1, math.ceil(math.sqrt(out_channels / in_channels)))
    return math.ceil(out_channels / cols), cols


_fonts = threading.local()  # a FreeType face is not shared between threads


def font(size: int = FONT_SIZE):
    cache = _fonts.__dict__.setdefault("by_size", {})
    if size not in cache:
        from PIL import ImageFont

        cache[size] = ImageFont.load_default(size=size)
    return cache[size]


def text_width(text: str, size: int = FONT_SIZE) -> int:
    """Pixels ``text`` takes drawn without anti-aliasing (wider than the anti-aliased length)."""
    from PIL import Image, ImageDraw

    return int(math.ceil(ImageDraw.Draw(Image.new("1", (1, 1))).textlength(text, font=font(size))))


def text_mask(lines: Sequence[str], width: int, height: int, size: int = FONT_SIZE, at=(3, 0),
              spacing: int = 3) -> np.ndarray:
    """Boolean (height, width) mask of ``lines`` drawn without anti-aliasing."""
    from PIL import Image, ImageDraw

    im = Image.new("1", (width, height), 0)
    d, f = ImageDraw.Draw(im), font(size)
    x, y = at
    for line in lines:
        d.text((x, y), line, fill=1, font=f)
        y += size + spacing
    return np.asarray(im, dtype=bool)


class FilterLayout:
    """Where each weight of a conv weight of ``shape`` (out, in, kh, kw) goes in its picture.

    ``source[y, x]`` is the flat index into the weight shown at pixel (y, x), -1 elsewhere;
    ``template`` holds the lines, gaps and filter numbers. :meth:`frame` fills in one weight."""

    def __init__(self, shape: Sequence[int], order: Sequence[int] | None = None, zoom: int | None = None,
                 max_width: int = 720, min_width: int = 0, labels: bool = True):
        if len(shape) != 4:
            raise ValueError(f"filter pictures need a conv weight (out, in, kh, kw); got shape {tuple(shape)}")
        out_c, in_c, kh, kw = (int(s) for s in shape)
        self.shape = (out_c, in_c, kh, kw)
        self.order = np.arange(out_c) if order is None else np.asarray(order, int)
        rows, cols = grid_shape(out_c, in_c)
        label_w = text_width(str(out_c - 1)) + 4 if labels else 0

        def size(z: int) -> tuple[int, int, int, int]:
            bw, bh = in_c * (kw * z + 1) + 1, kh * z + 2
            return bw, bh, 2 * MARGIN + cols * (label_w + bw) + (cols - 1) * BLOCK_GAP, 2 * MARGIN + rows * bh + (rows - 1) * BLOCK_GAP

        if zoom is None:
            zoom = next((z for z in range(MAX_ZOOM, 0, -1) if size(z)[2] <= max_width), 1)
        self.zoom = zoom
        bw, bh, W, H = size(zoom)
        W = max(W, min_width)
        # one block (frame + kernels) for filter 0; filter f adds f * in_c * kh * kw
        a, b = np.arange(kh * zoom) // zoom, np.arange(kw * zoom) // zoom
        kernel = a[:, None] * kw + b[None, :]
        block = np.full((bh, bw), -1, np.int64)
        for c in range(in_c):
            x0 = 1 + c * (kw * zoom + 1)
            block[1:1 + kh * zoom, x0:x0 + kw * zoom] = kernel + c * kh * kw
        source = np.full((H, W), -1, np.int64)
        template = np.full((H, W), WHITE, np.uint8)
        label_at = []
        for p, f in enumerate(self.order):
            r, c = divmod(p, cols)
            y0 = MARGIN + r * (bh + BLOCK_GAP)
            x0 = MARGIN + c * (label_w + bw + BLOCK_GAP) + label_w
            source[y0:y0 + bh, x0:x0 + bw] = np.where(block >= 0, block + f * in_c * kh * kw, -1)
            template[y0:y0 + bh, x0:x0 + bw] = LINE
            label_at.append((x0 - label_w, y0 + max(0, (bh - FONT_SIZE) // 2 - 1), str(int(f))))
        if labels:
            from PIL import Image, ImageDraw

            im = Image.new("1", (W, H), 0)
            d, fnt = ImageDraw.Draw(im), font()
            for x, y, t in label_at:
                d.text((x + label_w - 3 - d.textlength(t, font=fnt), y), t, fill=1, font=fnt)
            template[np.asarray(im, dtype=bool)] = INK
        self.source, self.template = source, template
        self._pix = np.flatnonzero(source >= 0)
        self._src = source.ravel()[self._pix]
        self._lines: dict[str, np.ndarray] = {}

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the picture without caption."""
        return self.template.shape

    def frame(self, w, scale: float, caption: Sequence[str] = ()) -> np.ndarray:
        """Palette frame (H, W) of weight ``w`` (shape ``self.shape``) on the range ±scale, with the
        caption lines in a white band above it."""
        w = np.asarray(w.detach().cpu() if isinstance(w, torch.Tensor) else w)
        if tuple(w.shape) != self.shape:
            raise ValueError(f"weight of shape {tuple(w.shape)} does not fit a layout of {self.shape}")
        out = self.template.copy()
        out.ravel()[self._pix] = levels(w.ravel(), scale)[self._src]
        if not caption:
            return out
        band = np.full((4 + len(caption) * LINE_H, out.shape[1]), WHITE, np.uint8)
        for k, line in enumerate(caption):
            if line not in self._lines:  # a line that repeats (the range of a run-wide scale) is drawn once
                self._lines[line] = text_mask([line], out.shape[1], LINE_H)
            band[2 + k * LINE_H: 2 + (k + 1) * LINE_H][self._lines[line]] = INK
        return np.concatenate([band, out])


def caption_width(lines: Sequence[str]) -> int:
    """Pixels a caption needs."""
    return max((text_width(t) for t in lines), default=0) + 8


def filter_grid(w: torch.Tensor, zoom: int | None = None, scale: float | None = None,
                order: Sequence[int] | None = None) -> np.ndarray:
    """uint8 RGB picture (H, W, 3) of a conv weight (out, in, kh, kw) on ±scale (default max|w|), no caption."""
    layout = FilterLayout(tuple(w.shape), order=order, zoom=zoom)
    s = symmetric_range(w, 1.0) if scale is None else float(scale)
    return to_rgb(layout.frame(w.detach().double(), s))


def render(w: torch.Tensor, text: str = "", range_quantile: float = 0.99) -> np.ndarray:
    """RGB filter picture of one snapshot on its own range ±s (s = ``range_quantile`` quantile of
    |w|), with a caption ``text  ±s``."""
    s = symmetric_range(w, range_quantile)
    lines = [f"{text}  ±{s:.3g}".strip()]
    layout = FilterLayout(tuple(w.shape), min_width=caption_width(lines))
    return to_rgb(layout.frame(w.detach().double(), s, lines))


def write_png(img: np.ndarray, path: str | Path) -> Path:
    """A PNG of a palette frame (2-D, :data:`PALETTE`) or an RGB array."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(img)
    if img.ndim == 2:
        im.putpalette(PALETTE.tobytes())
    im.save(path, compress_level=1)  # fast; these images compress well anyway
    return path


def write_gif(frames: Sequence[np.ndarray | str | Path], path: str | Path, seconds_per_frame: float = 0.5) -> Path:
    """An animated GIF (looping) of frames: palette frames (drawn with :data:`PALETTE`, exact) or
    RGB arrays / image paths (quantised); smaller frames are padded white at the right and bottom."""
    from PIL import Image

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    palette = all(isinstance(f, np.ndarray) and f.ndim == 2 for f in frames)
    if not palette:
        import imageio.v2 as imageio

        frames = [imageio.imread(f)[..., :3] if isinstance(f, (str, Path)) else f for f in frames]
    h = max(f.shape[0] for f in frames)
    w = max(f.shape[1] for f in frames)
    ims = []
    for f in frames:
        p = np.full((h, w) + f.shape[2:], WHITE if palette else 255, np.uint8)
        p[: f.shape[0], : f.shape[1]] = f
        im = Image.fromarray(p)
        if palette:
            im.putpalette(PALETTE.tobytes())
        else:  # fast octree palette per frame (PIL's default median cut is slow)
            im = im.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
        ims.append(im)
    ims[0].save(path, save_all=True, append_images=ims[1:], duration=int(seconds_per_frame * 1000), loop=0,
                optimize=False)
    return path
