"""Optimisers shared by the families."""

from __future__ import annotations

import torch


class Adam(torch.optim.Adam):
    """``torch.optim.Adam`` without the per-step accelerator probe when every parameter is on the CPU.

    With a CUDA build of torch on a machine without a GPU, ``Adam.step`` asks
    ``torch.accelerator.is_available()`` on every step, which loads NVML through ctypes each time
    (about 1 ms, more than a whole small training step). The probe only matters for CUDA/XPU graph
    capture, which needs parameters on that device; the update itself is torch's own.

    ``fused=True`` unless told otherwise: torch's fused Adam kernel (CPU and CUDA), the same update in
    one call per parameter instead of a dozen small tensor operations.
    """

    def __init__(self, params, *args, **kwargs):
        kwargs.setdefault("fused", True)
        super().__init__(params, *args, **kwargs)

    def _accelerator_graph_capture_health_check(self) -> None:
        if all(p.device.type == "cpu" for g in self.param_groups for p in g["params"]):
            return
        super()._accelerator_graph_capture_health_check()
