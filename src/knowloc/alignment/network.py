"""The network the alignment search looks into: trained in the job, or loaded from a run.

:class:`NetworkStage` is the ``network`` stage of ``experiment=alignment`` (``stages:``, run by
the task, :mod:`knowloc.stages`); its product is ``model.network``. It calls
:func:`equality_network`: with ``checkpoint=null`` it trains the equality classifier (same recipe as
``experiment=equality``, deterministic from the seed); with ``checkpoint=PATH`` (a run folder of
``experiment=equality`` or a ``.ckpt`` inside one) it rebuilds the net from that run's recorded
config and loads its weights. Either way the net is returned frozen and in eval mode, with
``net.alignment_info`` describing where it came from and its test accuracy.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from knowloc.alignment.artefacts import FOLDER, NETWORK, NETWORK_TEST_ACC, save_network
from knowloc.errors import UserError

log = logging.getLogger("knowloc")


def _checkpoint_file(path: str | Path) -> tuple[Path | None, Path]:
    """(run folder or None, weights file) for what ``alignment.checkpoint`` may name: a run folder of
    experiment=equality (its checkpoints/last.ckpt) or of experiment=alignment (its
    :data:`~knowloc.alignment.artefacts.NETWORK`), a .ckpt file, or a plain state dict of the MLP (.pt)."""
    p = Path(str(path)).expanduser()
    if p.is_dir():
        run = p
        ckpt = next((f for f in (p / "checkpoints" / "last.ckpt", NETWORK.at(p)) if f.is_file()),
                    p / "checkpoints" / "last.ckpt")
    else:
        ckpt = p
        run = p.parent.parent if p.parent.name in ("checkpoints", FOLDER) else p.parent
    if not ckpt.is_file():
        raise UserError(f"alignment.checkpoint={str(path)!r}: no checkpoint at {ckpt} (expected a run folder of "
                        f"experiment=equality or experiment=alignment, a .ckpt file, or a state dict of the MLP (.pt))")
    return (run if (run / "summary.json").is_file() else None), ckpt


def _net_config(summary: dict) -> dict | None:
    """``model.net`` of an equality run, or ``model.network.model.net`` of an alignment run."""
    model = (summary.get("config") or {}).get("model", {})
    net = model.get("net") or (model.get("network") or {}).get("model", {}).get("net")
    return net if net and "_target_" in net else None


def load_network(path: str | Path, fallback: nn.Module | None = None) -> tuple[nn.Module, dict]:
    """The net behind ``alignment.checkpoint``: rebuilt from the run's recorded config when there is a
    run folder, else ``fallback`` (the net this job's config describes); weights from the file."""
    from hydra.utils import instantiate

    from knowloc.records import read_summary

    run, ckpt = _checkpoint_file(path)
    summary = read_summary(run) if run is not None else {}
    net_cfg = _net_config(summary)
    if net_cfg is not None:
        net = instantiate(net_cfg)
    elif fallback is not None:
        net = fallback
    else:
        raise UserError(f"alignment.checkpoint={str(path)!r}: no run config (summary.json) to rebuild the network from")
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=ckpt.suffix != ".ckpt")
    except Exception as e:  # a damaged or foreign file
        raise UserError(f"alignment.checkpoint={str(path)!r}: {ckpt} is not a readable checkpoint "
                        f"({type(e).__name__}: {str(e).splitlines()[0][:120]})") from None
    if isinstance(state, dict) and "state_dict" in state:  # a Lightning checkpoint of the classifier
        state = {k[len("net."):]: v for k, v in state["state_dict"].items() if k.startswith("net.")}
    if not isinstance(state, dict):
        raise UserError(f"alignment.checkpoint={str(path)!r}: {ckpt} holds no state dict")
    try:
        net.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"alignment.checkpoint={str(path)!r}: the weights do not fit the network "
                        f"{list(getattr(net, 'sizes', []))} ({str(e).splitlines()[-1].strip()[:160]})") from None
    info = {"source": str(ckpt), "test_acc": summary.get("metrics", {}).get("test/acc",
                                                                          summary.get("metrics", {}).get(
                                                                              NETWORK_TEST_ACC)),
            "activation": (summary.get("config") or {}).get("activation", {}).get("name"),
            "sizes": list(getattr(net, "sizes", []))}
    return net, info


def train_network(data, model, max_epochs: int, accelerator: str = "cpu", devices=1,
                  precision=None, deterministic: bool = False) -> tuple[nn.Module, dict]:
    """Fit ``model`` (a ClassifierModule) on ``data`` (an EqualityDataModule); test accuracy.

    ``accelerator``, ``devices``, ``precision``, ``deterministic``: the run's trainer settings
    (``trainer.*``), so the network trains where the search runs."""
    import lightning as L

    extra = {} if precision is None else {"precision": precision}
    trainer = L.Trainer(accelerator=accelerator, devices=devices, max_epochs=int(max_epochs), logger=False,
                        deterministic=bool(deterministic), enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, **extra)
    trainer.fit(model, datamodule=data)
    res = trainer.test(model, datamodule=data, verbose=False)[0]
    acc = float(res["test/acc"])
    log.info("equality network: test accuracy %.4f after %d epochs", acc, max_epochs)
    return model.net, {"source": "trained in this job", "test_acc": acc, "epochs": int(max_epochs),
                       "sizes": list(getattr(model.net, "sizes", []))}


def freeze(net: nn.Module) -> nn.Module:
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net


def equality_network(checkpoint: str | None = None, data=None, model=None, max_epochs: int = 5,
                     save_dir: str | None = None, accelerator: str = "cpu", devices=1, precision=None,
                     deterministic: bool = False) -> nn.Module:
    """Train (``checkpoint`` null) or load the equality network; frozen, eval mode.

    The training runs with the run's ``trainer.accelerator/devices/precision/deterministic``
    (passed by the job's stage ``network``, :class:`NetworkStage`).

    With ``save_dir`` a trained net is also saved in that run folder as
    :data:`~knowloc.alignment.artefacts.NETWORK` so the search can be repeated on exactly this net.
    """
    if checkpoint:
        net, info = load_network(checkpoint, getattr(model, "net", None))
    else:
        if data is None or model is None:
            raise UserError("alignment: no checkpoint given and no network recipe (model.network.data/model)")
        net, info = train_network(data, model, max_epochs, accelerator, devices, precision, deterministic)
        if save_dir:
            save_network(net, save_dir)
    net = freeze(net)
    net.alignment_info = info
    return net


class NetworkStage:
    """The ``network`` stage of ``experiment=alignment`` (:mod:`knowloc.stages`): trains the equality
    network (``checkpoint`` null: ``model`` on ``data`` for ``max_epochs`` epochs, with the run's
    trainer settings) or loads it (:func:`load_network`); its product is the frozen net the search
    looks into (``AlignmentSearch(network=...)``); its metrics: the net's test accuracy (and the
    epochs it trained). A trained net is saved in the run folder (:func:`equality_network`, ``save_dir``)."""

    def __init__(self, checkpoint: str | None = None, data=None, model=None, max_epochs: int = 5):
        self.checkpoint, self.data, self.model, self.max_epochs = checkpoint, data, model, max_epochs

    def run(self, run_dir, trainer: dict):
        from knowloc.stages import StageResult

        net = equality_network(self.checkpoint, self.data, self.model, self.max_epochs, save_dir=run_dir, **trainer)
        info = net.alignment_info
        metrics = {k: info[k] for k in ("test_acc", "epochs") if info.get(k) is not None}
        return StageResult(net, metrics)
