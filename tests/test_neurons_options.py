"""The neurons family's options have one source (knowloc.neurons.options): the preflight rules, the
callbacks' constructors, the config files and locate's ablation choices all agree with it."""

from __future__ import annotations

import pytest

from knowloc.errors import ConfigValueError
from knowloc.neurons import options

#: a value each rule refuses, per option
BAD = {"layers": [], "topk": 0, "n_anomalies": -1, "anomaly_score": "max", "top_images": "random",
       "method": "erase", "split": "train", "target_class": -1, "target_acc": 1.5, "max_other_drop": -0.1,
       "beam_width": 0, "max_size": 0, "reference_size": 0}


def test_rules_are_the_preflights_and_cover_every_option_with_a_rule():
    from knowloc.validation import RULES

    for node, rules in ((options.STATS_NODE, options.STATS_RULES), (options.ABLATION_NODE, options.ABLATION_RULES)):
        for key, rule in rules.items():
            assert RULES[node + key] is rule is options.RULES[node + key]
    assert set(BAD) == set(options.STATS_RULES) | set(options.ABLATION_RULES)


@pytest.mark.parametrize("key", sorted(BAD))
def test_constructors_refuse_what_the_preflight_refuses_with_the_same_line(key):
    from omegaconf import OmegaConf

    from knowloc.callbacks import AblationAnalysis, NeuronStats
    from knowloc.validation import validate

    stats = key in options.STATS_RULES
    node, cls = (options.STATS_NODE, NeuronStats) if stats else (options.ABLATION_NODE, AblationAnalysis)
    with pytest.raises(ConfigValueError) as built:
        cls(**{key: BAD[key]})
    cfg = OmegaConf.create({})
    OmegaConf.update(cfg, node + key, BAD[key])
    with pytest.raises(ConfigValueError) as checked:
        validate(cfg)
    assert str(built.value) == str(checked.value)
    assert str(built.value).startswith(f"{node}{key}={BAD[key]!r} is not allowed; expected ")


def test_config_files_hold_every_option_and_its_default():
    """conf/callbacks/{neuron_stats,ablation}.yaml: the same keys as the options classes, the same
    defaults (seed: the run's, 0 by default)."""
    from omegaconf import OmegaConf

    from knowloc.api import compose

    cfg = compose(["callbacks=neurons"])
    for name, cls in (("neuron_stats", options.NeuronStatsOptions), ("ablation", options.AblationOptions)):
        node = OmegaConf.to_container(cfg.callbacks[name], resolve=True)
        node.pop("_target_")
        assert list(node) == cls.keys()
        assert cls(**node) == cls()


def test_callbacks_take_hydra_containers():
    from omegaconf import OmegaConf

    from knowloc.callbacks import AblationAnalysis, NeuronStats

    cb = NeuronStats(layers=OmegaConf.create(["act1", "act3"]), topk=3)
    assert cb.options.layers == cb.layers == ["act1", "act3"] and cb.options.topk == 3
    assert NeuronStats(layers="fc1").layers == ["fc1"]
    ab = AblationAnalysis(method="mean", target_class=None, target_acc=0)
    assert (ab.options.method, ab.options.target_class, ab.options.target_acc) == ("mean", None, 0.0)


def test_ablation_methods_are_listed_once():
    from knowloc.locate import options as locate_options
    from knowloc.neurons.ablation import apply_ablation

    assert locate_options.ABLATIONS is options.ABLATIONS
    assert locate_options.RULES["ablation"][1] == "one of " + ", ".join(options.ABLATIONS)
    with pytest.raises(ConfigValueError, match="one of zero, mean, resample"):
        apply_ablation(None, None, "erase")
