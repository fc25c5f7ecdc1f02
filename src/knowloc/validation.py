"""Checks of config values that YAML types alone cannot express (ranges, choices).

Each rule names a dotted key, a test and what is allowed; :func:`validate` raises
:class:`~knowloc.errors.ConfigValueError` (one line: key, bad value, what is allowed).
Keys absent from a config are skipped, so experiment families add their rules here.
"""

from __future__ import annotations

from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from knowloc.errors import ConfigValueError


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def int_at_least(lo: int) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _int(v) and v >= lo), f"an integer >= {lo}"


def positive_number() -> tuple[Callable[[Any], bool], str]:
    return (lambda v: _num(v) and v > 0), "a number > 0"


def fraction(closed_low=True, closed_high=True) -> tuple[Callable[[Any], bool], str]:
    lo, hi = ("[" if closed_low else "("), ("]" if closed_high else ")")

    def ok(v):
        return _num(v) and (v >= 0 if closed_low else v > 0) and (v <= 1 if closed_high else v < 1)

    return ok, f"a number in {lo}0, 1{hi}"


def one_of(*choices) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v in choices), "one of " + ", ".join(map(str, choices))


def optional(rule):
    test, text = rule
    return (lambda v: v is None or test(v)), f"null or {text}"


def _equality_run(v) -> bool:
    """A run folder with summary.json and checkpoints/last.ckpt, or a .ckpt inside one."""
    from pathlib import Path

    if not isinstance(v, str):
        return False
    p = Path(v).expanduser()
    run = p if p.is_dir() else p.parent.parent
    ckpt = p / "checkpoints" / "last.ckpt" if p.is_dir() else p
    return ckpt.is_file() and (run / "summary.json").is_file()


RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": int_at_least(0),
    "threads": optional(int_at_least(1)),
    "trainer.max_epochs": optional(int_at_least(-1)),
    "trainer.max_steps": int_at_least(-1),
    "data.batch_size": int_at_least(1),
    "data.eval_batch_size": int_at_least(1),
    "data.first_n": optional(int_at_least(1)),
    "data.val_fraction": fraction(True, False),
    "data.test_fraction": fraction(True, False),
    "data.scaling": one_of("unit", "symmetric", "standard"),
    "data.name": one_of("mnist_embedded", "mnist", "fashion_mnist", "cifar10", "equality"),
    "model.optimizer.lr": positive_number(),
    "model.net.init": one_of("he", "xavier", "default"),
    # neuron statistics and ablation (callbacks.neuron_stats, callbacks.ablation)
    "callbacks.neuron_stats.layers": ((lambda v: isinstance(v, (list, str)) and len(v) > 0),
                                      "a layer name or a non-empty list of layer names, e.g. [act1, act3]"),
    "callbacks.neuron_stats.topk": int_at_least(1),
    "callbacks.neuron_stats.n_anomalies": int_at_least(0),
    "callbacks.ablation.method": one_of("zero", "mean", "resample"),
    "callbacks.ablation.split": one_of("test", "val"),
    "callbacks.ablation.target_class": optional(int_at_least(0)),
    "callbacks.ablation.target_acc": fraction(),
    "callbacks.ablation.max_other_drop": fraction(),
    "callbacks.ablation.beam_width": int_at_least(1),
    "callbacks.ablation.max_size": int_at_least(1),
    "callbacks.ablation.reference_size": int_at_least(1),
    # alignment search (knowloc.alignment)
    "data.vocab_size": int_at_least(2),
    "data.dim": int_at_least(1),
    "alignment.layers": ((lambda v: isinstance(v, list) and len(v) > 0 and all(_int(x) and x >= 1 for x in v)),
                         "a non-empty list of hidden-layer numbers >= 1, e.g. [1, 2]"),
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
    "alignment.select_pairs": int_at_least(1),
    "alignment.baseline_pairs": int_at_least(1),
    "alignment.exhaustive_limit": int_at_least(0),
    "alignment.lr": positive_number(),
    "alignment.checkpoint": ((lambda v: v is None or _equality_run(v)),
                             "null (train the network in the job) or a run folder of experiment=equality "
                             "(with summary.json and checkpoints/last.ckpt) or a .ckpt file in its checkpoints/"),
    # snapshots and freezing (callbacks.weight_snapshots, callbacks.freeze_layers)
    "callbacks.weight_snapshots.every_n_epochs": optional(int_at_least(1)),
    "callbacks.weight_snapshots.every_n_steps": optional(int_at_least(1)),
    "callbacks.weight_snapshots.dtype": one_of("float32", "float16", "bfloat16"),
    "callbacks.weight_snapshots.gif_seconds_per_frame": positive_number(),
    "callbacks.weight_snapshots.range_quantile": fraction(False, True),
    "callbacks.freeze_layers.at_epoch": int_at_least(0),
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
    "callbacks.update_tally.window": ((lambda v: isinstance(v, list) and len(v) == 2 and all(_num(x) for x in v)
                                       and 0 <= v[0] < v[1] <= 1), "[start, end] with 0 <= start < end <= 1"),
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
