"""Checks of config values that YAML types alone cannot express (ranges, choices).

Each rule names a dotted key, a test and what is allowed (:mod:`knowloc.rules`); :func:`validate`
raises :class:`~knowloc.errors.ConfigValueError` (one line: key, bad value, what is allowed).
Keys absent from a config are skipped. The platform's own keys (seed, trainer, data) are listed
here; each family's keys are in its ``options.py`` and merged in (:func:`knowloc.families.rules`).
"""

from __future__ import annotations

from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from knowloc.errors import ConfigValueError


from knowloc.rules import (fraction, int_at_least, is_int as _int, is_number as _num,  # noqa: F401
                           one_of, optional, positive_number)


def _equality_run(v) -> bool:
    """A run folder of experiment=equality (checkpoints/last.ckpt) or experiment=alignment
    (alignment/network.pt), or a weights file (.ckpt of an equality run, a state dict .pt)."""
    from pathlib import Path

    if not isinstance(v, str):
        return False
    p = Path(v).expanduser()
    if p.is_dir():
        return (p / "summary.json").is_file() and any(
            f.is_file() for f in (p / "checkpoints" / "last.ckpt", p / "alignment" / "network.pt"))
    return p.is_file()


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
    "data.scaling": one_of("unit", "symmetric", "standard"),
    "data.name": one_of("mnist_embedded", "mnist", "fashion_mnist", "cifar10", "equality"),
    # fixed index-range split and pixel padding (knowloc.data.ImageDataModule; ranges checked there)
    "data.split": one_of("random", "index"),
    "data.pad": int_at_least(0),
    "model.optimizer.lr": positive_number(),
    "model.net.init": one_of("he", "xavier", "default"),
    # neuron statistics and ablation (callbacks.neuron_stats, callbacks.ablation)
    "callbacks.neuron_stats.layers": ((lambda v: isinstance(v, (list, str)) and len(v) > 0),
                                      "a layer name or a non-empty list of layer names, e.g. [act1, act3]"),
    "callbacks.neuron_stats.topk": int_at_least(1),
    "callbacks.neuron_stats.n_anomalies": int_at_least(0),
    "callbacks.neuron_stats.anomaly_score": one_of("centred", "unit_max"),
    "callbacks.neuron_stats.top_images": one_of("specific", "gradient"),
    "callbacks.ablation.method": one_of("zero", "mean", "resample"),
    "callbacks.ablation.split": one_of("test", "val"),
    "callbacks.ablation.target_class": optional(int_at_least(0)),
    "callbacks.ablation.target_acc": fraction(),
    "callbacks.ablation.max_other_drop": fraction(),
    "callbacks.ablation.beam_width": int_at_least(1),
    "callbacks.ablation.max_size": int_at_least(1),
    "callbacks.ablation.reference_size": optional(int_at_least(1)),
    # alignment search (knowloc.alignment)
    "data.vocab_size": int_at_least(2),
    "data.dim": int_at_least(1),
    "alignment.layers": ((lambda v: isinstance(v, list) and len(v) > 0 and all(_int(x) and x >= 0 for x in v)),
                         "a non-empty list of layer numbers >= 0 (0: the input embeddings), e.g. [0, 1, 2]"),
    "alignment.sizes": ((lambda v: isinstance(v, list) and len(v) > 0 and all(_int(x) and x >= 1 for x in v)),
                        "a non-empty list of subspace sizes >= 1, e.g. [1, 2, 4, 8]"),
    "alignment.variables": ((lambda v: isinstance(v, list) and len(v) > 0 and set(v) <= {"ab", "cd", "both"}),
                            "a non-empty list of ab, cd, both"),
    "alignment.rotations": ((lambda v: isinstance(v, list) and len(v) > 0 and set(v) <= {"orthogonal", "linear"}),
                            "a non-empty list of orthogonal, linear"),
    "alignment.baselines": ((lambda v: isinstance(v, list) and set(v) <= {"identity", "random"}),
                            "a list of identity, random (may be empty)"),
    "alignment.restarts": int_at_least(1),
    "alignment.select": one_of("train_iia", "first"),
    "alignment.init": one_of("data", "random"),
    "alignment.orthogonal_map": one_of("cayley", "matrix_exp", "householder"),
    "alignment.lr_schedule": one_of("cosine", "constant"),
    "alignment.select_pairs": int_at_least(1),
    "alignment.baseline_pairs": int_at_least(1),
    "alignment.exhaustive_limit": int_at_least(0),
    "alignment.lr": positive_number(),
    "alignment.checkpoint": ((lambda v: v is None or _equality_run(v)),
                             "null (train the network in the job), a run folder of experiment=equality or "
                             "experiment=alignment, a .ckpt file of an equality run, or a state dict of the MLP (.pt)"),
    # update tallies and forks (knowloc.localization)
    "data.superclasses": ((lambda v: isinstance(v, list) and len(v) >= 2 and all(
        (isinstance(g, list) and len(g) > 0 and all(_int(c) and c >= 0 for c in g)) or (_int(g) and g >= 0) for g in v)),
        "a list of at least two super-classes, each a list of classes, e.g. [[1,7],[6,8]]"),
    "data.pool_size": optional(int_at_least(1)),
    "data.phase1_fraction": fraction(False, False),
    "data.phase1_epochs": int_at_least(1),
    "data.fork_epochs": int_at_least(1),
    "data.chunk_size": int_at_least(1),
    "model.lr": positive_number(),
    "model.fork_lr": optional(positive_number()),
    "model.hidden": int_at_least(1),
    "model.activations": ((lambda v: isinstance(v, list) and len(v) > 0 and all(
        a in ("relu", "leaky_relu", "gelu", "silu", "elu", "softplus", "tanh", "sigmoid", "identity") for a in v)),
        "a non-empty list of relu, leaky_relu, gelu, silu, elu, softplus, tanh, sigmoid, identity"),
    "model.seeds": ((lambda v: isinstance(v, list) and len(v) > 0 and all(_int(x) and x >= 0 for x in v)),
                    "a non-empty list of integers >= 0"),
    "model.dtype": one_of("float32", "float64"),
    # Lightning's accelerators; whether a GPU is present is checked by Lightning in the job (a
    # SLURM submit host need not have the GPU of its compute nodes)
    "trainer.accelerator": one_of("cpu", "gpu", "cuda", "mps", "tpu", "auto"),
    "callbacks.update_tally.window": ((lambda v: isinstance(v, list) and len(v) == 2 and all(_num(x) for x in v)
                                       and 0 <= v[0] < v[1] <= 1), "[start, end] with 0 <= start < end <= 1"),
}


_MISSING = object()


def validate_values(values: dict, rules: dict, prefix: str = "") -> None:
    """Raise ConfigValueError (key ``prefix + key``) for the first plain value that breaks a rule."""
    from knowloc.rules import check

    check(values, rules, prefix)


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
