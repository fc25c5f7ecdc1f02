"""knowloc.locate: one question (where does class c live in a layer?), every method, side by side.

Each method gives one score per hidden unit and class (:mod:`~knowloc.locate.signals`); the
scores are compared with each other (:mod:`~knowloc.locate.agreement`) and with what removing the
top-ranked units really does (:mod:`~knowloc.locate.causal`). :func:`~knowloc.locate.pipeline.locate`
runs all of it on one trained net; :mod:`~knowloc.locate.artefacts` lists every file it writes.

Modules: ``options`` (methods, choices and ranges), ``forks`` (fork continuation and update
tallies, batched), ``signals`` (the per-unit scores), ``agreement``, ``causal``, ``pipeline``,
``artefacts`` (files, figures, W&B), ``command`` (``knowloc locate RUN_OR_CHECKPOINT``).
"""
