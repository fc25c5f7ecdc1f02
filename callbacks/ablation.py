"""``AblationAnalysis``: after training, the unit x class ablation matrix and a class knockout."""

from __future__ import annotations

import logging
import time

import lightning as L
import torch

from knowloc.errors import ConfigValueError
from knowloc.neurons import artefacts
from knowloc.neurons.ablation import AblationEvaluator, collect, reference_inputs
from knowloc.neurons.knockout import knockout_search
from knowloc.neurons.options import ABLATION_NODE, AblationOptions

log = logging.getLogger("knowloc")


class AblationAnalysis(L.Callback):
    """At the end of ``fit``, on the ``split`` data of the datamodule: ablate each unit of ``layer``
    (``method`` zero / mean / resample; reference = the whole training split in data-set order when
    ``reference_size`` is null, the default, so a mean ablation uses the unit's mean over the whole
    training set; else the first ``reference_size`` samples of the shuffled train loader) and
    measure every class's accuracy (:class:`~knowloc.neurons.ablation.AblationEvaluator`), then
    search a knockout set for ``target_class`` (:func:`~knowloc.neurons.knockout.knockout_search`).

    Options: :class:`~knowloc.neurons.options.AblationOptions`. Writes the matrix and knockout
    files of :mod:`knowloc.neurons.artefacts` and the results ``ablation/...``.
    """

    def __init__(self, **options):
        super().__init__()
        self.options = AblationOptions.of(**options)
        self.matrix: torch.Tensor | None = None
        self.knockout: dict | None = None

    def check(self, pl_module) -> None:
        """Before training (knowloc's job calls it before any logger exists): the layer exists."""
        from knowloc.neurons.trace import get_layer

        get_layer(getattr(pl_module, "net", pl_module), self.options.layer, ABLATION_NODE + "layer")

    def setup(self, trainer, pl_module, stage: str) -> None:
        self.check(pl_module)
        val = getattr(trainer.datamodule, "val_split", None)
        if self.options.split == "val" and val is not None and len(val) == 0:
            raise ConfigValueError(ABLATION_NODE + "split", self.options.split,
                                   "test (this data has no validation split; data.split=index needs data.ranges.val)")

    def on_fit_end(self, trainer, pl_module) -> None:
        o = self.options
        dm = trainer.datamodule
        if dm is None:
            log.warning("AblationAnalysis: no datamodule, nothing to analyse")
            return
        dm.setup("test" if o.split == "test" else "validate")
        x, y = collect(dm.test_dataloader() if o.split == "test" else dm.val_dataloader())
        ref = reference_inputs(dm, o.reference_size) if o.method != "zero" else None
        net = getattr(pl_module, "net", pl_module)
        num_classes = int(getattr(pl_module, "num_classes", 0) or int(y.max()) + 1)
        if o.target_class is not None and not 0 <= o.target_class < num_classes:
            raise ConfigValueError(ABLATION_NODE + "target_class", o.target_class,
                                   f"a class index in [0, {num_classes - 1}] or null")
        was_training = net.training
        net.eval()
        try:
            t0 = time.perf_counter()
            ev = AblationEvaluator(net, o.layer, x, y, num_classes, o.method, ref, o.seed, o.batch_size)
            self.matrix = ev.matrix()
            artefacts.write_matrix(trainer, ev, self.matrix, o, 0 if ref is None else len(ref),
                                   time.perf_counter() - t0)
            if o.target_class is not None:
                t0 = time.perf_counter()
                self.knockout = knockout_search(ev, o.target_class, o.target_acc, o.max_other_drop,
                                                o.beam_width, o.max_size)
                self.knockout["seconds"] = round(time.perf_counter() - t0, 3)
                artefacts.write_knockout(trainer, self.knockout)
                (log.info if self.knockout["met"] else log.warning)("knockout: %s", self.knockout["message"])
        finally:
            net.train(was_training)
