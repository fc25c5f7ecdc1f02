"""The network the alignment search looks into: trained in the job, or loaded from a run.

:func:`equality_network` is what ``experiment=alignment`` instantiates as ``model.network``:
with ``checkpoint=null`` it trains the equality classifier (same recipe as
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

from knowloc.errors import UserError

log = logging.getLogger("knowloc")


def _checkpoint_file(path: str | Path) -> tuple[Path, Path]:
    p = Path(str(path)).expanduser()
    if p.is_dir():
        run, ckpt = p, p / "checkpoints" / "last.ckpt"
    else:
        ckpt = p
        run = p.parent.parent if p.parent.name == "checkpoints" else p.parent
    if not ckpt.is_file():
        raise UserError(f"alignment.checkpoint={str(path)!r}: no checkpoint at {ckpt} "
                        f"(expected a run folder of experiment=equality or a .ckpt file in its checkpoints/)")
    if not (run / "summary.json").is_file():
        raise UserError(f"alignment.checkpoint={str(path)!r}: no summary.json in {run} to rebuild the network from")
    return run, ckpt


def load_network(path: str | Path) -> tuple[nn.Module, dict]:
    """The net of an ``experiment=equality`` run (``model.net`` of its record + its weights)."""
    from hydra.utils import instantiate

    from knowloc.records import read_summary

    run, ckpt = _checkpoint_file(path)
    summary = read_summary(run)
    net_cfg = (summary.get("config") or {}).get("model", {}).get("net")
    if not net_cfg or "_target_" not in net_cfg:
        raise UserError(f"alignment.checkpoint={str(path)!r}: the run's config has no model.net to rebuild")
    net = instantiate(net_cfg)
    state = torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict({k[len("net."):]: v for k, v in state.items() if k.startswith("net.")})
    info = {"source": str(ckpt), "test_acc": summary.get("metrics", {}).get("test/acc"),
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

    The training stage runs with the run's ``trainer.accelerator/devices/precision/deterministic``
    (passed by ``conf/model/alignment_search.yaml``).

    With ``save_dir`` a trained net is also saved as ``<save_dir>/alignment/network.pt``
    (``state_dict``) so the search can be repeated on exactly this net.
    """
    if checkpoint:
        net, info = load_network(checkpoint)
    else:
        if data is None or model is None:
            raise UserError("alignment: no checkpoint given and no network recipe (model.network.data/model)")
        net, info = train_network(data, model, max_epochs, accelerator, devices, precision, deterministic)
        if save_dir:
            out = Path(save_dir) / "alignment"
            out.mkdir(parents=True, exist_ok=True)
            torch.save({k: v.cpu() for k, v in net.state_dict().items()}, out / "network.pt")
    net = freeze(net)
    net.alignment_info = info
    return net
