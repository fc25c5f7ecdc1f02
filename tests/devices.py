"""Device helpers of the tests: the devices present, and two CPU-only checks that catch code which
does not follow the device or dtype of its module or batch.

* :func:`strays_on_meta`: inside it, every tensor created without ``device=`` lands on the
  ``meta`` device, and any op that mixes it with the real (CPU) tensors of the test raises
  "Tensor on device meta is not on the expected device cpu". On a GPU the same tensor would be on
  the CPU next to CUDA tensors: the device-mismatch bug, found without a GPU.
* :class:`DtypeWatch`: records the dtype of every floating-point tensor an op produces; with
  float64 weights and inputs no float32 tensor may appear (a creation site that forgot ``dtype=``).
"""

from __future__ import annotations

import contextlib

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

#: a test that needs a GPU: selected by ``pytest -m gpu``, skipped where none is present.
needs_gpu = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")]

#: ``@pytest.mark.parametrize("device", DEVICES)``: ``cpu`` always, ``cuda`` where a GPU is present
#: (marked ``gpu``; listed and skipped elsewhere, so the test ids are the same on every machine).
DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=needs_gpu)]

SWEEPS = __import__("pathlib").Path(__file__).resolve().parents[1] / "sweeps"


@contextlib.contextmanager
def strays_on_meta():
    """Tensors created without a device go to ``meta`` (see the module docstring)."""
    with torch.device("meta"):
        yield


class DtypeWatch(TorchDispatchMode):
    """``with DtypeWatch() as w: ...``; ``w.floating`` = the set of floating dtypes produced."""

    def __init__(self):
        super().__init__()
        self.floating: set[torch.dtype] = set()
        self.ops: dict[torch.dtype, set[str]] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in (out if isinstance(out, (tuple, list)) else (out,)):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                self.floating.add(t.dtype)
                self.ops.setdefault(t.dtype, set()).add(str(func))
        return out
