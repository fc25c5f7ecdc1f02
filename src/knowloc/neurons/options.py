"""The neurons family's choices and ranges: read by the preflight (``RULES``, merged into
:data:`knowloc.validation.RULES`), by the callbacks (:class:`NeuronStatsOptions` for
``NeuronStats``, :class:`AblationOptions` for ``AblationAnalysis``), by the ablation functions of
:mod:`knowloc.neurons.ablation` and by locate (``callbacks.locate.ablation``).

Choices:

* ``ABLATIONS``      how the units of a set S are removed, on every evaluated sample i:
                     ``zero`` out[i, u] <- 0; ``mean`` out[i, u] <- mean_j ref[j, u];
                     ``resample`` out[i, u] <- ref[d(i), u] (d(i) a seeded random donor)
                     (formulas in :mod:`knowloc.neurons.ablation`)
* ``SPLITS``         the split whose per-class accuracy an ablation is measured on
* ``ANOMALY_SCORES`` score[u, c] = |ĝ| · (1 + sign(mean_grad) · â) / 2 with â centred on the
                     unit's class average and scaled layer-wide (``centred``) or scaled by the
                     unit's own max |mean_act| (``unit_max``) (:mod:`knowloc.neurons.statistics`)
* ``TOP_IMAGES``     the images shown per anomaly: largest s_iu = |g_iu| / mean_u' |g_iu'|
                     (``specific``) or largest |g_iu| (``gradient``)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from knowloc.rules import check, fraction, int_at_least, one_of, optional, plain as _plain

ABLATIONS = ("zero", "mean", "resample")
SPLITS = ("test", "val")
ANOMALY_SCORES = ("centred", "unit_max")
TOP_IMAGES = ("specific", "gradient")

#: the config node of each callback's options (``callbacks.neuron_stats.<key>``, ``callbacks.ablation.<key>``)
STATS_NODE = "callbacks.neuron_stats."
ABLATION_NODE = "callbacks.ablation."

#: ``NeuronStats`` option -> (test, allowed) (:mod:`knowloc.rules`)
STATS_RULES = {
    "layers": ((lambda v: isinstance(v, (list, str)) and len(v) > 0),
               "a layer name or a non-empty list of layer names, e.g. [act1, act3]"),
    "topk": int_at_least(1),
    "n_anomalies": int_at_least(0),
    "anomaly_score": one_of(*ANOMALY_SCORES),
    "top_images": one_of(*TOP_IMAGES),
}
#: ``AblationAnalysis`` option -> (test, allowed)
ABLATION_RULES = {
    "method": one_of(*ABLATIONS),
    "split": one_of(*SPLITS),
    "target_class": optional(int_at_least(0)),
    "target_acc": fraction(),
    "max_other_drop": fraction(),
    "beam_width": int_at_least(1),
    "max_size": int_at_least(1),
    "reference_size": optional(int_at_least(1)),
}

#: two callback nodes, so the keys below are full config keys
PREFIX = ""
#: full config key -> rule, merged into :data:`knowloc.validation.RULES`
RULES = {**{STATS_NODE + k: r for k, r in STATS_RULES.items()},
         **{ABLATION_NODE + k: r for k, r in ABLATION_RULES.items()}}


class _Options:
    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    @classmethod
    def of(cls, **options):
        """From keyword arguments as Hydra passes them (containers made plain)."""
        return cls(**{k: _plain(v) for k, v in options.items()})


@dataclass
class NeuronStatsOptions(_Options):
    """Every option of ``NeuronStats`` (``callbacks.neuron_stats.*``).

    ``layers``: names of the net's modules whose output units are tallied (a name or a list);
    ``topk``: training images kept per unit and class; ``images``: keep the weighted class-mean
    images; ``n_anomalies``: rows of the anomaly ranking; ``max_units_plotted``: units per image
    grid; ``anomaly_images``: images shown per anomaly; ``anomaly_score``: one of
    ``ANOMALY_SCORES``; ``top_images``: one of ``TOP_IMAGES``.
    """

    layers: list = field(default_factory=lambda: ["act3"])
    topk: int = 8
    images: bool = True
    n_anomalies: int = 20
    max_units_plotted: int = 128
    anomaly_images: int = 6
    anomaly_score: str = "centred"
    top_images: str = "specific"

    def __post_init__(self):
        if isinstance(self.layers, tuple):
            self.layers = list(self.layers)
        check(asdict(self), STATS_RULES, STATS_NODE)
        self.layers = [str(x) for x in ([self.layers] if isinstance(self.layers, str) else self.layers)]
        self.images = bool(self.images)
        self.max_units_plotted, self.anomaly_images = int(self.max_units_plotted), int(self.anomaly_images)


@dataclass
class AblationOptions(_Options):
    """Every option of ``AblationAnalysis`` (``callbacks.ablation.*``).

    ``layer``: whose units are ablated; ``method``: one of ``ABLATIONS``; ``split``: one of
    ``SPLITS``; knockout of ``target_class`` (null: the matrix only): acc_c < ``target_acc`` while
    every other class loses < ``max_other_drop`` (fractions), beam search of width
    ``beam_width`` up to ``max_size`` units; ``reference_size``: null = the whole training split
    is the reference of mean / resample, N = the first N samples of the train loader; ``seed``:
    the resample donors; ``batch_size``: samples per forward pass.
    """

    layer: str = "act3"
    method: str = "zero"
    split: str = "test"
    target_class: int | None = 0
    target_acc: float = 0.2
    max_other_drop: float = 0.05
    beam_width: int = 1
    max_size: int = 10
    reference_size: int | None = None
    seed: int = 0
    batch_size: int = 1000

    def __post_init__(self):
        check(asdict(self), ABLATION_RULES, ABLATION_NODE)
        self.layer = str(self.layer)
        self.target_acc, self.max_other_drop = float(self.target_acc), float(self.max_other_drop)
        self.seed, self.batch_size = int(self.seed), int(self.batch_size)
