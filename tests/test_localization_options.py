"""The localization family's one source of options and the one activation registry: the preflight's
rules are the family's, the constructors give the preflight's line, and the engine's activation
kernels are the registry's (the derivative autograd computes for the registry's module)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from knowloc.activations import ACTIVATIONS, activation_names, make_activation
from knowloc.errors import ConfigValueError
from knowloc.localization import options

ROOT = Path(__file__).resolve().parents[1]


def test_rules_are_the_familys_and_name_every_registered_activation():
    from knowloc.validation import RULES

    for key, rule in options.RULES.items():
        assert RULES[key] is rule, key
    test, allowed = options.RULES["model.activations"]
    assert allowed == "a non-empty list of " + ", ".join(activation_names())
    assert test(activation_names()) and not test([]) and not test(["relu", "swish"])


def test_activation_config_group_is_the_registry():
    """``activation=NAME`` (conf/activation/NAME.yaml) offers exactly the registry's names."""
    files = sorted((ROOT / "conf" / "activation").glob("*.yaml"))
    assert sorted(f.stem for f in files) == sorted(ACTIVATIONS)
    for f in files:
        assert yaml.safe_load(f.read_text())["name"] == f.stem


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_registry_function_and_backward_are_the_modules(name):
    """function(z) == module()(z) and backward(g, z, f(z)) == g * f'(z) as autograd computes it for
    module(), bit for bit (float64, z spanning both sides of 0 and softplus' threshold)."""
    gen = torch.Generator().manual_seed(0)
    z = torch.cat([torch.randn(500, generator=gen, dtype=torch.float64) * 3, torch.tensor([0.0, -25.0, 25.0],
                                                                                          dtype=torch.float64)])
    g = torch.randn(z.shape, generator=gen, dtype=torch.float64)
    act = ACTIVATIONS[name]
    zz = z.clone().requires_grad_(True)
    out = make_activation(name)(zz)
    (grad,) = torch.autograd.grad(out, zz, g)
    h = act.function(z)
    assert torch.equal(h, out.detach())
    assert torch.equal(act.backward(g, z, h), grad)


@pytest.mark.parametrize("make,override", [
    (lambda: _module(lr=0), "model.lr=0"),
    (lambda: _module(fork_lr=-0.1), "model.fork_lr=-0.1"),
    (lambda: _module(dtype="float16"), "model.dtype=float16"),
    (lambda: _data(phase1_fraction=1.5), "data.phase1_fraction=1.5"),
    (lambda: _data(pool_size=0), "data.pool_size=0"),
    (lambda: _data(chunk_size=0), "data.chunk_size=0"),
    (lambda: _tally(window=[0.8, 0.2]), "callbacks.update_tally.window=[0.8,0.2]"),
    (lambda: _tally(phase="phase2"), "callbacks.update_tally.phase=phase2"),
])
def test_constructors_give_the_preflight_line(make, override):
    """A constructor called from Python rejects a value with the same one line as the command."""
    from knowloc.preflight import preflight

    with pytest.raises(ConfigValueError) as job:
        preflight(["experiment=localization", override])
    with pytest.raises(ConfigValueError) as built:
        make()
    assert str(built.value) == str(job.value)


def test_unknown_activation_lists_the_registry():
    with pytest.raises(ConfigValueError) as e:
        _module(activations=["relu", "swish"])
    assert str(e.value) == ("model.activations='swish' is not allowed; expected one of "
                            + ", ".join(activation_names()))


def _module(**kw):
    from knowloc.localization.module import LocalizationModule

    return LocalizationModule(**kw)


def _data(**kw):
    from knowloc.localization.data import LocalizationDataModule

    return LocalizationDataModule(**kw)


def _tally(**kw):
    from knowloc.callbacks import UpdateTally

    return UpdateTally(**kw)
