"""``Locate``: after training, every locate method on one layer of the trained net (see
:mod:`knowloc.locate`); files under ``<run>/locate/`` (:mod:`knowloc.locate.artefacts`)."""

from __future__ import annotations

import lightning as L

from knowloc.errors import ConfigValueError, UserError
from knowloc.locate.options import LocateOptions
from knowloc.rules import plain as _plain


class Locate(L.Callback):
    """At the end of ``fit``: scores on the datamodule's training split, ablations on its test
    split, with :class:`~knowloc.locate.options.LocateOptions` built from the keyword arguments."""

    def __init__(self, **options):
        super().__init__()
        self.options = LocateOptions(**{k: _plain(v) for k, v in options.items()})
        self.results: dict | None = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        """Check the layer before training (one line naming the layers when it is not there)."""
        from knowloc.locate.forks import weight_layer
        from knowloc.neurons.trace import get_layer

        net = getattr(pl_module, "net", pl_module)
        if self.options.layer is not None:
            get_layer(net, self.options.layer, "callbacks.locate.layer")
            if {"tally", "fork"} & set(self.options.methods):
                try:
                    weight_layer(net, self.options.layer)
                except ConfigValueError as e:
                    raise ConfigValueError("callbacks.locate.layer", self.options.layer, e.allowed) from None

    def on_fit_end(self, trainer, pl_module) -> None:
        from knowloc.locate import artefacts
        from knowloc.locate.pipeline import locate

        dm = trainer.datamodule
        if dm is None or not hasattr(dm, "train_split"):
            raise UserError("callbacks.locate needs an image classification datamodule (data=mnist_embedded, "
                            "mnist, fashion_mnist, cifar10) with train and test splits")
        dm.setup("test")
        tr, te = dm.train_split, dm.test_split
        net = getattr(pl_module, "net", pl_module)
        num_classes = int(getattr(pl_module, "num_classes", 0) or int(tr.y.max()) + 1)
        res = locate(net, (tr.x, tr.y), (te.x, te.y), num_classes, self.options)
        self.results = artefacts.write(trainer, res)
