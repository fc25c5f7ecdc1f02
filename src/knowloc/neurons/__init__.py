"""Neuron statistics and ablation: which hidden units carry which class, tested by removing them.

Modules
-------
* :mod:`~knowloc.neurons.trace` — ``Trace`` (read/replace one named layer's output, à la baukit),
  ``unit_values``/``unit_grads`` (a conv unit is a channel: spatial mean; its gradient is the sum
  over space), ``split_sequential``.
* :mod:`~knowloc.neurons.statistics` — ``UnitClassStats`` (running sums per unit x class), the
  anomaly score and ranking (formulas in the module doc).
* :mod:`~knowloc.neurons.ablation` — ``ablate`` (context manager), ``apply_ablation`` (zero / mean /
  resample), the batched ``AblationEvaluator``, the direct baseline ``ablation_matrix_direct``, and
  ``collect`` / ``reference_inputs`` (the evaluated and reference inputs of a datamodule).
* :mod:`~knowloc.neurons.knockout` — ``knockout_search`` (beam search by the joint effect).
* :mod:`~knowloc.neurons.samples` — ``SampleOrder`` (data-set indices of a training batch's samples,
  by replaying the loader's order), ``training_images``.
* :mod:`~knowloc.neurons.plots` — the figures.
Callbacks: ``knowloc.callbacks.NeuronStats`` (during training), ``knowloc.callbacks.AblationAnalysis``
(after training). Experiments: ``experiment=neuron_stats``, ``experiment=ablation``.

Which output is a unit's? The layer named in the config: ``act3`` (default) is LeNet-5's fc1
*after* its activation, the value fc2 reads; ``fc1`` is the pre-activation. For ReLU, zeroing
either is the same ablation; the gradient w.r.t. ``act3`` is non-zero even when the unit is
silent (how the loss would change if it fired), the one w.r.t. ``fc1`` is zero there.

Options and files
-----------------
* :mod:`~knowloc.neurons.options` — the choices (ablation methods, splits, anomaly scores, top-image
  lists), the rules of ``callbacks.neuron_stats.*`` / ``callbacks.ablation.*`` and the options
  of each callback (``NeuronStatsOptions``, ``AblationOptions``).
* :mod:`~knowloc.neurons.artefacts` — every file the two callbacks write (``ARTEFACTS``), what each
  holds, their writers and readers, and the results in ``summary.json``.
"""

from knowloc.families import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "knowloc.neurons.ablation": ["AblationEvaluator", "ablate", "ablation_matrix_direct", "apply_ablation"],
    "knowloc.neurons.knockout": ["knockout_search"],
    "knowloc.neurons.statistics": ["UnitClassStats", "anomaly_ranking", "anomaly_scores"],
    "knowloc.neurons.trace": ["Trace", "get_layer", "split_sequential", "unit_grads", "unit_values"],
})
