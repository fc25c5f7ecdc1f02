"""The locate family's choices and ranges: read by the preflight (``RULES``, merged into
:data:`knowloc.validation.RULES`), by :class:`LocateOptions` (the callback and the command build
one) and by ``--help`` texts.

Methods (one score per unit u and class c, higher = "class c lives more in u"):

* ``tally``       r_u = A_u / (A_u + B_u): share of the |updates| of u's incoming weights and bias
                  caused by class-c samples (A) vs the others (B) during the fork continuation
* ``fork``        d_u = D_u(c) / sum_c' D_u(c'), D_u(c) = sum_j |W_c[u, j] - W_all[u, j]| + |b_c[u] - b_all[u]|
                  (W_c: the net trained on without class c, W_all: with every class, same batches)
* ``gradient``    mean_i∈c |dl_i/da_u| / sum_c' mean_i∈c' |dl_i/da_u|    (training set, trained net)
* ``activation``  mean_i∈c a_u - mean over c' != c of mean_i∈c' a_u
* ``attribution`` mean over class-c samples of captum's layer attribution of a_u towards logit c
* ``ablation``    acc_c(before) - acc_c(u ablated)   (the causal measure itself; test split)
* ``random``      a seeded random permutation (the floor)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from knowloc.neurons.options import ABLATIONS  # the ablation methods are the neurons family's
from knowloc.rules import check, int_at_least as _int_at_least, is_int as _int, is_number as _num

METHODS = ("tally", "fork", "gradient", "activation", "attribution", "ablation", "random")
#: methods that predict the causal effect (ablation is the effect itself, random the floor)
PREDICTORS = ("tally", "fork", "gradient", "activation", "attribution")
ATTRIBUTIONS = ("conductance", "integrated_gradients")
OVERLAP_KS = (5, 10, 20)
FORK_SCOPES = ("head", "all")


@dataclass
class LocateOptions:
    """Every option of a locate (``callbacks.locate.*`` / ``knowloc locate ... key=value``).

    ``layer``: the units (null: the activation right after ``fc1``); ``target_class``: one class or
    null for every class; ``max_k``: K, the largest top-k set ablated; ``fork_epochs``/``fork_lr``/
    ``fork_batch_size``: the fork continuation (plain SGD); ``fork_scope``: ``head`` trains the
    weight layer of the units and the layers after it (the layers before are shared and frozen),
    ``all`` every layer; ``attribution``/``attribution_steps``/
    ``attribution_samples``: captum method, integration steps, class-c samples per class;
    ``ablation``: zero / mean / resample; knockout criteria as ``experiment=ablation``:
    acc_c < ``target_acc`` and every other class loses < ``max_other_drop``.
    """

    layer: str | None = None
    target_class: int | None = None
    methods: list = field(default_factory=lambda: list(METHODS))
    max_k: int = 30
    overlap_ks: list = field(default_factory=lambda: list(OVERLAP_KS))
    fork_epochs: int = 1
    fork_lr: float = 0.05
    fork_batch_size: int = 64
    fork_scope: str = "head"
    attribution: str = "conductance"
    attribution_steps: int = 16
    attribution_samples: int = 100
    ablation: str = "zero"
    target_acc: float = 0.2
    max_other_drop: float = 0.05
    seed: int = 0

    def __post_init__(self):
        check(asdict(self), RULES)

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in fields(cls)]


#: the config node of these options (``callbacks.locate.<key>``)
PREFIX = "callbacks.locate."
#: option -> (test, allowed) (:mod:`knowloc.rules`), merged into :data:`knowloc.validation.RULES`
RULES = {
    "layer": ((lambda v: v is None or (isinstance(v, str) and v != "")), "null or a layer name, e.g. act3"),
    "target_class": ((lambda v: v is None or (_int(v) and v >= 0)), "null or an integer >= 0"),
    "methods": ((lambda v: isinstance(v, list) and len(v) > 0 and set(v) <= set(METHODS)),
                "a non-empty list of " + ", ".join(METHODS)),
    "max_k": _int_at_least(1),
    "overlap_ks": ((lambda v: isinstance(v, list) and len(v) > 0 and all(_int(k) and k >= 1 for k in v)),
                   "a non-empty list of integers >= 1, e.g. [5, 10, 20]"),
    "fork_epochs": _int_at_least(1),
    "fork_lr": ((lambda v: _num(v) and v > 0), "a number > 0"),
    "fork_batch_size": _int_at_least(1),
    "fork_scope": ((lambda v: v in FORK_SCOPES), "one of " + ", ".join(FORK_SCOPES)),
    "attribution": ((lambda v: v in ATTRIBUTIONS), "one of " + ", ".join(ATTRIBUTIONS)),
    "attribution_steps": _int_at_least(2),
    "attribution_samples": _int_at_least(1),
    "ablation": ((lambda v: v in ABLATIONS), "one of " + ", ".join(ABLATIONS)),
    "target_acc": ((lambda v: _num(v) and 0 <= v <= 1), "a number in [0, 1]"),
    "max_other_drop": ((lambda v: _num(v) and 0 <= v <= 1), "a number in [0, 1]"),
    "seed": _int_at_least(0),
}
