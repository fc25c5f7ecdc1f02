"""``Locate``: after training, every locate method on one layer of the trained net (see
:mod:`knowloc.locate`); files under ``<run>/locate/`` (:mod:`knowloc.locate.artefacts`)."""

from __future__ import annotations

import lightning as L

from knowloc.locate.options import LocateOptions


def _plain(v):
    from omegaconf import OmegaConf

    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


class Locate(L.Callback):
    """At the end of ``fit``: scores on the datamodule's training split, ablations on its test
    split, with :class:`~knowloc.locate.options.LocateOptions` built from the keyword arguments."""

    def __init__(self, **options):
        super().__init__()
        self.options = LocateOptions(**{k: _plain(v) for k, v in options.items()})
        self.results: dict | None = None

    def on_fit_end(self, trainer, pl_module) -> None:
        from knowloc.locate import artefacts
        from knowloc.locate.pipeline import locate

        dm = trainer.datamodule
        dm.setup("test")
        tr, te = dm.train_split, dm.test_split
        net = getattr(pl_module, "net", pl_module)
        num_classes = int(getattr(pl_module, "num_classes", 0) or int(tr.y.max()) + 1)
        res = locate(net, (tr.x, tr.y), (te.x, te.y), num_classes, self.options)
        self.results = artefacts.write(trainer, res)
