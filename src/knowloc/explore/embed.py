"""Turn run-folder files into what the self-contained page embeds: data: URIs, rounded numbers, rows.

Everything the page shows is inside the HTML file (no network, no files next to it), so images
become ``data:`` URIs and arrays are rounded to a few significant digits to keep the page small.
"""

from __future__ import annotations

import base64
import csv
import io
import math
from pathlib import Path
from typing import Any, Iterable

import numpy as np

MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
        ".svg": "image/svg+xml", ".webp": "image/webp"}
IMAGE_SUFFIXES = tuple(MIME)


def file_uri(path: Path) -> str:
    """``data:<mime>;base64,...`` of an image file."""
    mime = MIME.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def png_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _png(px: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(px).save(buf, format="PNG", compress_level=6)
    return png_uri(buf.getvalue())


def signed8_scaled(a: np.ndarray, scale: float) -> np.ndarray:
    """:func:`signed8` with a given scale: ``g = 128 + round(127 · a / scale)`` (clipped to 1..255), so
    tiles that share ``scale`` can be compared by colour."""
    scale = float(scale) or 1.0
    return np.clip(128 + np.round(127 * np.nan_to_num(np.asarray(a, dtype=np.float64)) / scale), 1, 255).astype(np.uint8)


def signed8(a: np.ndarray) -> np.ndarray:
    """A signed image as one uint8 channel: ``g = 128 + round(127 · a / max|a|)`` (1..255); all-NaN: 0.

    The page colours it with t = (g - 128) / 127: red (178, 24, 43) at t = 1, blue (33, 102, 172) at
    t = -1, white at 0, linearly in between, light grey for 0 (no data)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3:
        a = a.mean(0)
    if not np.isfinite(a).any():
        return np.zeros(a.shape, dtype=np.uint8)
    a = np.nan_to_num(a)
    m = float(np.abs(a).max()) or 1.0
    return (128 + np.round(127 * a / m)).astype(np.uint8)


def sprite(images: np.ndarray, mode: str = "raw", columns: int | None = None) -> dict:
    """Many same-size images as one PNG (tiles in a grid). ``images`` is ``(R, C, *image)`` (tile
    [r, c] at row r, column c) or ``(N, *image)`` laid out ``columns`` per row.

    ``mode`` ``raw``: uint8 pixels as they are (grey, or RGB for 3 channels); ``signed``: each tile
    scaled on its own and stored as :func:`signed8` (``encoding: "signed8"``, coloured by the page);
    ``signed8``: tiles already encoded (uint8 ``(R, C, h, w)``).
    Returns ``{src, encoding, rows, cols, h, w}``.
    """
    images = np.asarray(images)
    if columns is not None:
        n = len(images)
        rows = max(1, -(-n // columns))
        pad = np.zeros((rows * columns - n, *images.shape[1:]), dtype=images.dtype)
        images = np.concatenate([images, pad]).reshape(rows, columns, *images.shape[1:])
    R, C = images.shape[:2]
    if mode == "signed8":  # already encoded
        tiles = np.asarray(images, dtype=np.uint8)
    elif mode == "signed":
        tiles = np.stack([np.stack([signed8(images[r, c]) for c in range(C)]) for r in range(R)])
    else:
        tiles = np.asarray(images, dtype=np.float64).clip(0, 255).round().astype(np.uint8)
        tiles = tiles[:, :, 0] if tiles.ndim == 5 and tiles.shape[2] == 1 else (
            np.moveaxis(tiles, 2, -1) if tiles.ndim == 5 else tiles)
    h, w = tiles.shape[2:4]
    # (R, C, h, w[, 3]) -> (R*h, C*w[, 3])
    out = np.swapaxes(tiles, 1, 2).reshape(R * h, C * w, *tiles.shape[4:])
    return {"src": _png(out), "encoding": "signed8" if mode in ("signed", "signed8") else ("rgb" if out.ndim == 3 else "grey"),
            "rows": R, "cols": C, "h": int(h), "w": int(w)}


def num(v: Any, digits: int = 5) -> float | str | None:
    """A JSON-safe number: rounded to ``digits`` significant digits; NaN/inf as 'nan'/'inf' strings."""
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None if v in (None, "") else str(v)
    if not math.isfinite(f):
        return str(f)
    if f == 0:
        return 0.0
    return float(f"{f:.{digits}g}")


def nums(a: Iterable, digits: int = 4) -> list:
    """A nested list of rounded numbers from an array."""
    def walk(x):
        return [walk(v) for v in x] if isinstance(x, list) else num(x, digits)

    return walk(np.asarray(a, dtype=np.float64).tolist())


class FileProblem(ValueError):
    """A run-folder file that exists but cannot be read; the message names the file."""


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (a damaged file raises :class:`FileProblem` naming it)."""
    try:
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    except Exception as e:
        raise FileProblem(f"{path} cannot be read ({type(e).__name__}: {e}); the file is damaged or was cut off") from None


def read_json(path: Path):
    import json

    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise FileProblem(f"{path} cannot be read ({type(e).__name__}: {e})") from None


def read_csv(path: Path, limit: int | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of a CSV file (strings), at most ``limit`` rows."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader, [])
        rows = []
        for row in reader:
            if limit is not None and len(rows) >= limit:
                break
            rows.append(row)
    return header, rows
