"""``knowloc locate RUN_OR_CHECKPOINT [key=value ...]``: every locate method on a trained
classifier of a knowloc run, written into that run's folder (``locate/``, see
:mod:`knowloc.locate.artefacts`) and merged into its ``summary.json`` metrics.

The run's recorded config rebuilds its data and network (``ClassifierModule``: MLP, LeNet-5, ...);
the checkpoint (the run folder's ``checkpoints/last.ckpt``, or the ``.ckpt`` given) supplies the
weights. Options are the keys of :class:`~knowloc.locate.options.LocateOptions` (``max_k=10
target_class=3 layer=act3``); every mistake is one line and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

from knowloc.errors import ConfigValueError, UserError

USAGE = "usage: knowloc locate RUN_OR_CHECKPOINT [threads=N] [key=value ...]   (keys: {keys})"


def parse_options(args: Sequence[str]) -> dict:
    import yaml

    from knowloc.locate.options import LocateOptions

    keys = LocateOptions.keys()
    out = {}
    for a in args:
        if "=" not in a:
            raise UserError(f"{a!r} is not key=value; " + USAGE.format(keys=", ".join(keys)))
        k, v = a.split("=", 1)
        if k not in keys:
            raise ConfigValueError(k, v, "a locate option: one of " + ", ".join(keys))
        out[k] = yaml.safe_load(v) if v != "" else None
    return out


def resolve(path: str) -> tuple[Path, Path]:
    """``(run folder, checkpoint)`` of a run folder or of a ``.ckpt`` inside one's ``checkpoints/``."""
    p = Path(path).expanduser()
    run, ckpt = (p, p / "checkpoints" / "last.ckpt") if p.is_dir() else (p.parent.parent, p)
    if not p.exists():
        raise UserError(f"{path}: no such run folder or checkpoint")
    if not ckpt.is_file():
        raise UserError(f"{path}: no checkpoint at {ckpt} (expected a knowloc run folder or a .ckpt in its checkpoints/)")
    if not (run / "summary.json").is_file():
        raise UserError(f"{path}: {run} has no summary.json (expected a knowloc run folder or a .ckpt in its checkpoints/)")
    return run, ckpt


def load(run: Path, ckpt: Path):
    """``(network, datamodule, num_classes)`` rebuilt from the run's record and checkpoint."""
    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from knowloc.records import read_summary

    cfg = OmegaConf.create(read_summary(run).get("config") or {})
    if "model" not in cfg or "data" not in cfg:
        raise UserError(f"{run}: the run record has no model or data config")
    try:
        model = instantiate(cfg.model)
    except Exception as e:
        raise UserError(f"{run}: cannot rebuild the run's model ({type(e).__name__}: {e})") from None
    net = getattr(model, "net", None)
    if net is None:
        raise UserError(f"{run}: model {cfg.model.get('_target_')} is not a classifier with a .net "
                        "(expected knowloc.models.ClassifierModule)")
    state = torch.load(ckpt, map_location="cpu", weights_only=False).get("state_dict", {})
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise UserError(f"{ckpt}: does not fit the run's model ({str(e).splitlines()[0]})") from None
    dm = instantiate(cfg.data)
    dm.setup("test")
    return net.eval(), dm, int(getattr(model, "num_classes", 0) or dm.num_classes)


def run(path: str, args: Sequence[str] = ()) -> dict:
    """Locate on the run at ``path``; returns the scalar results (also merged into summary.json)."""
    from knowloc.locate import artefacts
    from knowloc.locate.options import LocateOptions
    from knowloc.locate.pipeline import locate
    from knowloc.records import SUMMARY, read_summary, to_jsonable, write_json
    from knowloc.records import artefacts as list_artefacts

    import torch

    opts = parse_options([a for a in args if not a.startswith("threads=")])
    threads = [a.split("=", 1)[1] for a in args if a.startswith("threads=")]
    if threads:
        if not threads[-1].isdigit() or int(threads[-1]) < 1:
            raise ConfigValueError("threads", threads[-1], "an integer >= 1")
        torch.set_num_threads(int(threads[-1]))
    options = LocateOptions(**opts)
    run_dir, ckpt = resolve(path)
    net, dm, C = load(run_dir, ckpt)
    tr, te = dm.train_split, dm.test_split
    res = locate(net, (tr.x, tr.y), (te.x, te.y), C, options)
    results = artefacts.write(SimpleNamespace(default_root_dir=str(run_dir), loggers=[]), res)
    summary = read_summary(run_dir)
    summary.setdefault("metrics", {}).update(to_jsonable(results))
    summary["artefacts"] = list_artefacts(run_dir)
    write_json(run_dir / SUMMARY, summary)
    print(res.summary["message"])
    print(f"output folder: {run_dir / artefacts.FOLDER}")
    return results


def main(argv: Sequence[str]) -> None:
    from knowloc.cli import fail

    argv = list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        from knowloc.locate.options import LocateOptions

        print(USAGE.format(keys=", ".join(LocateOptions.keys())))
        print(__doc__)
        if not argv:
            sys.exit(2)
        return
    try:
        run(argv[0], argv[1:])
    except UserError as e:
        fail(str(e), e.exit_code)
