"""Lightning callbacks of knowloc: one class, one job, state saved in checkpoints."""

from knowloc.callbacks.ablation import AblationAnalysis
from knowloc.callbacks.divergence import DivergenceGuard
from knowloc.callbacks.neuron_stats import NeuronStats
from knowloc.callbacks.freeze_layers import FreezeLayers
from knowloc.callbacks.weight_snapshots import WeightSnapshots
from knowloc.callbacks.update_tally import UpdateTally
from knowloc.callbacks.localization_report import LocalizationReport
from knowloc.callbacks.stack_progress import StackProgress
from knowloc.callbacks.locate import Locate

__all__ = ["AblationAnalysis", "NeuronStats", "DivergenceGuard", "FreezeLayers", "WeightSnapshots", "UpdateTally",
           "LocalizationReport", "StackProgress", "Locate"]
