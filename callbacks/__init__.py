"""Lightning callbacks of knowloc: one class, one job, state saved in checkpoints."""

from knowloc.callbacks.ablation import AblationAnalysis
from knowloc.callbacks.divergence import DivergenceGuard
from knowloc.callbacks.neuron_stats import NeuronStats

__all__ = ["AblationAnalysis", "NeuronStats", "DivergenceGuard"]
