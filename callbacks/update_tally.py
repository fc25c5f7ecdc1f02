"""``UpdateTally``: per parameter, the sum of the per-step update sizes ``|Delta theta|`` caused by
the samples of each group, over a window of training steps.

    tally[g] = sum over steps t in the window with group(t) = g of |theta_t - theta_{t-1}|

Per parameter, with groups A and B: ``r = A / (A + B)``. Exact invariant (checked in the tests):
``sum_g tally[g] == total``, the |Delta theta| of every step of the window.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import lightning as L
import torch

from knowloc.errors import ConfigValueError
from knowloc.localization import options


class UpdateTally(L.Callback):
    """Tallies ``|Delta theta|`` per group during ``window`` (fractions of the steps of ``phase``).

    ``groups``: null groups steps by the training label (the super-class); a list of class lists
    (``[[1], [7], [6], [8]]``) groups by the sample's original class (classes not listed are not
    tallied); or any callable ``(label, original_class) -> group`` (tensors, -1 = not tallied).

    Works with modules that follow the tally hook of
    :class:`knowloc.localization.module.LocalizationModule`: before the step the callback writes
    ``batch["tally_group"]``/``batch["tally_groups"]``; after it, it adds ``outputs["tally"]`` and
    ``outputs["total"]``. State (``tally``, ``total``, ``steps``) is saved in checkpoints.
    """

    def __init__(self, phase: str = "phase1", window: Sequence[float] = (0.5, 1.0),
                 groups: Sequence[Sequence[int]] | Callable | None = None, n_groups: int | None = None):
        options.check("callbacks.update_tally", window=list(window), phase=phase)
        lo, hi = (float(w) for w in window)
        self.phase, self.window = phase, (lo, hi)
        self.groups = groups
        if callable(groups):
            if n_groups is None:
                raise ConfigValueError("callbacks.update_tally.n_groups", None, "the number of groups of the callable")
            self.n_groups = int(n_groups)
        else:
            self.n_groups = None if groups is None else len(groups)
        self.tally: dict[str, torch.Tensor] = {}
        self.total: dict[str, torch.Tensor] = {}
        self.steps: torch.Tensor | None = None  # (M, G) tallied steps per model and group

    def group_of(self, label: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """The group of each step (-1: not tallied)."""
        if self.groups is None:
            return label.long()
        if callable(self.groups):
            return torch.as_tensor(self.groups(label, cls)).long()
        out = torch.full_like(cls, -1)
        for g, members in enumerate(self.groups):
            for c in members:
                out[cls == int(c)] = g
        return out

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if not isinstance(batch, dict) or batch.get("phase") != self.phase:
            return
        L_ = batch["phase_steps"].unsqueeze(1)
        lo = torch.floor(self.window[0] * L_).long()
        hi = torch.floor(self.window[1] * L_).long()
        step = batch["step"]
        inside = (step >= lo) & (step < hi) & batch["valid"]
        group = torch.where(inside, self.group_of(batch["y"], batch["cls"]), -1)
        G = self.n_groups if self.n_groups is not None else trainer.datamodule.num_classes
        batch["tally_group"] = torch.where(group < G, group, -1)
        batch["tally_groups"] = G

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not isinstance(outputs, dict) or outputs.get("tally") is None or outputs.get("phase") != self.phase:
            return
        for k, v in outputs["tally"].items():
            self.tally[k] = v.clone() if k not in self.tally else self.tally[k] + v
        for k, v in (outputs.get("total") or {}).items():
            self.total[k] = v.clone() if k not in self.total else self.total[k] + v
        g = batch["tally_group"]
        counts = torch.stack([(g == i).sum(1) for i in range(batch["tally_groups"])], 1)  # (S,G)
        counts = counts.expand(next(iter(outputs["tally"].values())).shape[0], -1) if counts.shape[0] == 1 else counts
        self.steps = counts.clone() if self.steps is None else self.steps + counts

    def ratio(self, group: int = 0) -> dict[str, torch.Tensor]:
        """``r = tally[group] / sum_g tally[g]`` per parameter (NaN where nothing was tallied)."""
        return {k: v[:, group] / v.sum(1) for k, v in self.tally.items()}

    def state_dict(self) -> dict[str, Any]:
        return {"tally": self.tally, "total": self.total, "steps": self.steps}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.tally = dict(state_dict.get("tally", {}))
        self.total = dict(state_dict.get("total", {}))
        self.steps = state_dict.get("steps")
