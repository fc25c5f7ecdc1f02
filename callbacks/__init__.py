"""Lightning callbacks of knowloc: one class, one job, state saved in checkpoints."""

from knowloc.callbacks.divergence import DivergenceGuard

__all__ = ["DivergenceGuard"]
