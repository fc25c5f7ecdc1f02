"""Checks of config values that YAML types alone cannot express (ranges, choices).

Each rule names a dotted key, a test and what is allowed (:mod:`knowloc.rules`); :func:`validate`
raises :class:`~knowloc.errors.ConfigValueError` (one line: key, bad value, what is allowed).
Keys absent from a config are skipped. The platform's own keys (seed, trainer, data) are listed
here; each family's keys are in its ``options.py`` and merged in (:func:`knowloc.families.rules`).
"""

from __future__ import annotations

from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from knowloc.data.sources import SOURCES
from knowloc.data.transforms import SCALINGS, SPLITS
from knowloc.errors import ConfigValueError
from knowloc.models.nets import INITS
from knowloc.rules import (fraction, int_at_least, is_int as _int, is_number as _num,  # noqa: F401
                           one_of, optional, positive_number)


#: classes of every image data set (mnist_embedded, mnist, fashion_mnist, cifar10)
IMAGE_CLASSES = range(10)


def _image_classes(v) -> bool:
    """``data.classes``: null, or >= 2 entries, each a class or a non-empty list of classes."""
    if v is None:
        return True
    if not isinstance(v, list) or len(v) < 2:
        return False
    groups = [g if isinstance(g, list) else [g] for g in v]
    return all(g and all(_int(c) and c in IMAGE_CLASSES for c in g) for g in groups)


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": int_at_least(0),
    "threads": optional(int_at_least(1)),
    # 0 would test the untrained net (and write no checkpoint); -1: no limit
    "trainer.max_epochs": ((lambda v: v is None or (_int(v) and (v == -1 or v >= 1))),
                           "null, -1 (no limit) or an integer >= 1"),
    "trainer.max_steps": ((lambda v: _int(v) and (v == -1 or v >= 1)), "-1 (no limit) or an integer >= 1"),
    "data.batch_size": int_at_least(1),
    "data.eval_batch_size": int_at_least(1),
    "data.first_n": optional(int_at_least(1)),
    "data.classes": (_image_classes, "null (all classes) or a list of at least two classes 0-9 or non-empty "
                                     "groups of them, e.g. [3, 5] or [[1, 7], [6, 8]]"),
    "data.val_fraction": fraction(True, False),
    "data.test_fraction": fraction(True, False),
    "data.scaling": one_of(*SCALINGS),
    "data.name": one_of(*SOURCES, "equality"),
    # fixed index-range split and pixel padding (knowloc.data.ImageDataModule; ranges checked there)
    "data.split": one_of(*SPLITS),
    "data.pad": int_at_least(0),
    "model.optimizer.lr": positive_number(),
    "model.net.init": one_of(*INITS),
    # Lightning's accelerators; whether a GPU is present is checked by Lightning in the job (a
    # SLURM submit host need not have the GPU of its compute nodes)
    "trainer.accelerator": one_of("cpu", "gpu", "cuda", "mps", "tpu", "auto"),
}


_MISSING = object()


def validate(cfg: DictConfig, rules: dict | None = None) -> None:
    """Raise ConfigValueError for the first value that breaks a rule."""
    for key, (test, allowed) in (rules or RULES).items():
        try:
            value = OmegaConf.select(cfg, key, default=_MISSING, throw_on_resolution_failure=False)
        except Exception:
            continue
        if value is _MISSING:
            continue
        if OmegaConf.is_config(value):
            value = OmegaConf.to_container(value, resolve=True)
        if not test(value):
            raise ConfigValueError(key, value, allowed)


# each family keeps its rules in its own options module (knowloc.families)
from knowloc.families import rules as _family_rules  # noqa: E402

RULES.update(_family_rules())
