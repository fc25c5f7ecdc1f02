"""Neuron statistics and ablation: which hidden units carry which class, tested by removing them.

Modules
-------
* :mod:`~knowloc.neurons.trace` — ``Trace`` (read/replace one named layer's output, à la baukit),
  ``unit_values``/``unit_grads`` (a conv unit is a channel: spatial mean; its gradient is the sum
  over space), ``split_sequential``.
* :mod:`~knowloc.neurons.statistics` — ``UnitClassStats`` (running sums per unit x class), the
  anomaly score and ranking (formulas in the module doc).
* :mod:`~knowloc.neurons.ablation` — ``ablate`` (context manager), ``apply_ablation`` (zero / mean /
  resample), the batched ``AblationEvaluator`` and the direct baseline ``ablation_matrix_direct``.
* :mod:`~knowloc.neurons.knockout` — ``knockout_search`` (beam search by the joint effect).
* :mod:`~knowloc.neurons.plots` — the figures.
Callbacks: ``knowloc.callbacks.NeuronStats`` (during training), ``knowloc.callbacks.AblationAnalysis``
(after training). Experiments: ``experiment=neuron_stats``, ``experiment=ablation``.

Which output is a unit's? The layer named in the config: ``act3`` (default) is LeNet-5's fc1
*after* its activation, the value fc2 reads; ``fc1`` is the pre-activation. For ReLU, zeroing
either is the same ablation; the gradient w.r.t. ``act3`` is non-zero even when the unit is
silent (how the loss would change if it fired), the one w.r.t. ``fc1`` is zero there.

Files in the run folder
-----------------------
``neurons/<layer>_stats.npz`` (NeuronStats; U units, C classes, k top images, image shape (ch, H, W)):
    ``layer`` (str), ``steps`` (training steps accumulated), ``counts`` [C] (class samples seen,
    once per epoch), ``mean_act``, ``mean_grad``, ``mean_abs_grad``, ``fire_rate``,
    ``anomaly_score`` [U, C]; ``topk_grad_index``/``topk_grad_value`` [U, C, k] (largest |dℓ/da|),
    ``topk_act_index``/``topk_act_value`` [U, C, k] (largest a), ``topk_specific_index``/``_value``
    [U, C, k] (largest unit-specific gradient |g_iu| / mean_u' |g_iu'|) — indices are data-set indices
    (positions in the source's order, e.g. in ``mnist5k.npz``), -1 where empty;
    ``grad_image``, ``act_image``, ``grad_image_rectified``, ``act_image_rectified`` [U, C, ch, H, W]
    (present unless ``images=false``).
``neurons/<layer>_unit_class.csv``: unit, class, mean_act, mean_grad, mean_abs_grad, fire_rate, anomaly_score.
``neurons/<layer>_anomalies.csv``: the ranking (unit, class, score, mean_grad, mean_abs_grad,
    mean_act, fire_rate, top_specific_images, top_grad_images, top_act_images as space-separated
    data-set indices, layer).
``neurons/<layer>_{grad,act}_images[_rectified].png``, ``neurons/<layer>_heatmaps.png``,
``neurons/<layer>_anomalies.png``: figures (also on W&B under the same keys).

``ablation/<layer>_matrix.csv`` (AblationAnalysis): unit, drop/<c> for each class c, drop/all —
    accuracy drop as a fraction (acc_before - acc_after) when that single unit is ablated.
``ablation/<layer>_matrix.npz``: layer, method, split, acc_before [C], acc_after [U, C], drop [U, C],
    counts [C] (evaluated samples per class), reference_n (reference samples: the whole training split by
    default), reference_mean [U, ...] (mean ablation: the replacement values). ``ablation/<layer>_matrix.png``: heat map (points).
``ablation/knockout.json``: layer, method, target_class, target_acc, max_other_drop, beam_width,
    max_size, met, size, units (in the order added), acc_before [C], acc_after [C],
    target_acc_after, max_other_drop_after, curve (per size: size, units, acc [C], target_acc,
    max_other_drop, correct [C], within_bound), sets_evaluated, n_test, seconds, message (says plainly
    when not met); class_counts [C], correct_before [C], correct_after [C], max_correct_target and
    max_lost_other [C]: the constraints as counts of images (``met`` is decided on these).
``ablation/knockout_curve.csv`` / ``.png``: the curve as a table (size, units, target_acc,
    max_other_drop, acc/<c>) and a figure.

Results in ``summary.json`` metrics (and the W&B summary): ``neurons/<layer>/top_anomaly_score``,
``neurons/<layer>/dead_units``, ``neurons/<layer>/steps``; ``ablation/acc_before/<c>``,
``ablation/matrix/max_drop/<c>``, ``ablation/matrix/max_drop``, ``ablation/matrix/seconds``,
``ablation/knockout/{size,met,target_acc_after,max_other_drop,seconds}``, ``ablation/class_acc_after/<c>``.
"""

from knowloc.neurons.ablation import METHODS, AblationEvaluator, ablate, ablation_matrix_direct, apply_ablation
from knowloc.neurons.knockout import knockout_search
from knowloc.neurons.statistics import UnitClassStats, anomaly_ranking, anomaly_scores
from knowloc.neurons.trace import Trace, get_layer, split_sequential, unit_grads, unit_values

__all__ = ["METHODS", "AblationEvaluator", "ablate", "ablation_matrix_direct", "apply_ablation", "knockout_search",
           "UnitClassStats", "anomaly_ranking", "anomaly_scores", "Trace", "get_layer", "split_sequential",
           "unit_grads", "unit_values"]
