"""knowloc.localization: update tallies and forks (``experiment=localization``, ``localization_stack``).

* :mod:`~knowloc.localization.options`: every option of the family and what it allows (``RULES``);
* :mod:`~knowloc.localization.artefacts`: every file it writes (``ARTEFACTS``), the writer and readers;
* :mod:`~knowloc.localization.engine`: stacked per-sample SGD (activations from :mod:`knowloc.activations`);
* :mod:`~knowloc.localization.module`, :mod:`~knowloc.localization.data`: the LightningModule and data module;
* :mod:`~knowloc.localization.analysis`: r vs d, the statistics and figures.

Callbacks: :class:`knowloc.callbacks.UpdateTally`, :class:`knowloc.callbacks.LocalizationReport`.
"""
