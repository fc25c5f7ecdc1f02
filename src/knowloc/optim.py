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

    def step(self, closure=None, **kwargs):
        """torch's ``Adam.step``; for the plain fused update of CPU parameters whose state exists (every
        step after the first), the same kernel call with the same arguments as torch's ``_fused_adam``
        (``_foreach_add_`` on the steps, then ``_fused_adam_``), without its per-step bookkeeping. Any
        other case (first step, amsgrad, AdamW, capturable, AMP scaling, sparse or complex gradients,
        tensor lr, mixed devices or dtypes) is torch's own step."""
        groups = None if kwargs else self._lean_groups()
        if groups is None:
            return super().step(closure, **kwargs)
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
            groups = self._lean_groups()  # the closure has made the gradients
            if groups is None:
                super().step(None)
                return loss
        with torch.no_grad():
            for group, params in groups:
                states = [self.state[p] for p in params]
                steps = [s["step"] for s in states]
                beta1, beta2 = group["betas"]
                torch._foreach_add_(steps, 1)
                torch._fused_adam_(params, [p.grad for p in params], [s["exp_avg"] for s in states],
                                   [s["exp_avg_sq"] for s in states], [], steps, amsgrad=False, lr=group["lr"],
                                   beta1=float(beta1), beta2=float(beta2), weight_decay=group["weight_decay"],
                                   eps=group["eps"], maximize=group["maximize"], grad_scale=None, found_inf=None)
        return loss

    def zero_grad(self, set_to_none: bool = True) -> None:
        """torch's ``zero_grad``; with ``set_to_none`` (the default) the same loop (every gradient to
        None) without the profiler record around it."""
        if not set_to_none or not hasattr(self, "_zero_grad_profile_name"):
            return super().zero_grad(set_to_none)
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def _lean_groups(self):
        """[(group, parameters with a gradient)] when every group can take the lean update, else None."""
        groups = []
        for group in self.param_groups:
            if (not group["fused"] or group["amsgrad"] or group["capturable"] or group["differentiable"]
                    or group["decoupled_weight_decay"] or isinstance(group["lr"], torch.Tensor)
                    or isinstance(group["betas"][0], torch.Tensor) or isinstance(group["betas"][1], torch.Tensor)):
                return None
            params = [p for p in group["params"] if p.grad is not None]
            for p in params:
                if (p.device.type != "cpu" or p.grad.is_sparse or p.is_complex() or p.dtype != params[0].dtype
                        or "exp_avg" not in self.state.get(p, ())):
                    return None
            if params:
                groups.append((group, params))
        return groups

    def __init__(self, params, *args, **kwargs):
        kwargs.setdefault("fused", True)
        super().__init__(params, *args, **kwargs)

    def _accelerator_graph_capture_health_check(self) -> None:
        if all(p.device.type == "cpu" for g in self.param_groups for p in g["params"]):
            return
        super()._accelerator_graph_capture_health_check()
