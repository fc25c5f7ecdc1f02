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


def array_png(a: np.ndarray, scale: int = 1, symmetric: bool = False) -> str:
    """A 2-D array (or a C x H x W stack with C in {1, 3}) as a grey or RGB PNG data URI.

    Grey values are min-max scaled, ``(a - min) / (max - min)``; with ``symmetric`` they are scaled
    around 0, ``(a / max|a| + 1) / 2``, so 0 is mid-grey (gradients, signed weights).
    """
    from PIL import Image

    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 3 and a.shape[0] in (1, 3):
        a = a[0] if a.shape[0] == 1 else np.moveaxis(a, 0, -1)
    a = np.nan_to_num(a)
    if symmetric:
        m = float(np.abs(a).max()) or 1.0
        u = (a / m + 1) / 2
    else:
        lo, hi = float(a.min()), float(a.max())
        u = (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)
    img = Image.fromarray((u * 255).round().astype(np.uint8))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=True)
    return png_uri(buf.getvalue())


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
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return num(a, digits)
    return [nums(x, digits) if np.ndim(x) else num(x, digits) for x in a]


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


def csv_columns(path: Path) -> dict[str, list[float]]:
    """A numeric CSV as ``{column: values}`` (empty cells as NaN)."""
    header, rows = read_csv(path)
    cols: dict[str, list[float]] = {h: [] for h in header}
    for row in rows:
        for h, v in zip(header, row):
            try:
                cols[h].append(float(v))
            except ValueError:
                cols[h].append(math.nan)
    return cols
