"""``locate``: every method's per-unit scores for one trained classifier and layer, their
agreement, and their causal curves. Plain function; the callback and the command call it.

``top1_hit``: the fraction of the located classes whose top unit by the method is a unit with the
largest single-unit ablation drop (on a planted detector: the detector).

Best method: among the predictors (not ``ablation``, the effect itself, nor ``random``), the one
with the largest area under selectivity, averaged over the located classes; the result also says
whether it beats ``random`` and how far it is from ``ablation``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from knowloc.errors import ConfigValueError
from knowloc.locate import agreement, causal, signals
from knowloc.locate.forks import continue_forks
from knowloc.locate.options import PREDICTORS, LocateOptions

log = logging.getLogger("knowloc")


@dataclass
class LocateResult:
    layer: str
    weight_layer: str | None
    classes: list[int]
    num_classes: int
    methods: list[str]
    scores: dict[str, np.ndarray]               # method -> (U, C)
    acc_before: np.ndarray                       # (C,) test accuracy, nothing ablated
    agreement: list[dict]
    curves: list[dict]
    causal: list[dict]
    seconds: dict[str, float]
    act_image: np.ndarray | None = None          # (U, C, *image) activation-weighted class images
    summary: dict = field(default_factory=dict)


def default_layer(net: nn.Module) -> str:
    """The child right after ``fc1`` (its activation), else ``fc1``."""
    names = [n for n, _ in net.named_children()]
    if "fc1" not in names:
        raise ConfigValueError("layer", None, "a layer name (this net has no fc1): one of " + ", ".join(names))
    i = names.index("fc1")
    return names[i + 1] if i + 1 < len(names) - 1 else "fc1"


def top1_hit(score: np.ndarray, drop: np.ndarray) -> bool:
    """Is the method's top unit one whose single ablation loses the most class accuracy?"""
    from knowloc.locate.signals import ranking

    return bool(drop[ranking(score[:, None])[0][0]] == np.nanmax(drop))


def summarize(res: LocateResult) -> dict:
    """The best predictor and per-method means over the located classes."""
    out = {"layer": res.layer, "classes": res.classes, "methods": {}}
    for m in res.methods:
        rows = [r for r in res.causal if r["method"] == m]
        ks = [r["knockout_k"] for r in rows if r["knockout_k"] is not None]
        sp = [agreement.spearman(res.scores[m][:, c], res.scores["ablation"][:, c])
              for c in res.classes] if "ablation" in res.scores else []
        sp = [v for v in sp if np.isfinite(v)]
        hits = [top1_hit(res.scores[m][:, c], res.scores["ablation"][:, c]) for c in res.classes] \
            if "ablation" in res.scores else []
        out["methods"][m] = {"area": float(np.mean([r["area"] for r in rows])) if rows else float("nan"),
                             "top1_hit": float(np.mean(hits)) if hits else None,
                             "knockout_met": len(ks), "knockout_k_mean": float(np.mean(ks)) if ks else None,
                             "spearman_vs_ablation": float(np.mean(sp)) if sp else None,
                             "seconds": res.seconds.get(m)}
    preds = [m for m in res.methods if m in PREDICTORS and np.isfinite(out["methods"][m]["area"])]
    best = max(preds, key=lambda m: out["methods"][m]["area"]) if preds else None
    out["best_method"] = best
    if best is not None:
        a = out["methods"][best]["area"]
        parts = [f"best predictor of the causal effect: {best} (area under selectivity {a:.3f})"]
        if "random" in out["methods"]:
            r = out["methods"]["random"]["area"]
            parts.append(f"random {r:.3f}" + ("" if a > r else f"; no method beats random"))
        if "ablation" in out["methods"]:
            parts.append(f"ablation drop itself {out['methods']['ablation']['area']:.3f}")
        out["message"] = "; ".join(parts)
    else:
        out["message"] = "no predictor method was run"
    return out


def locate(net: nn.Module, train: tuple[torch.Tensor, torch.Tensor], test: tuple[torch.Tensor, torch.Tensor],
           num_classes: int, options: LocateOptions | None = None) -> LocateResult:
    """Run every method of ``options.methods`` on ``net`` (left unchanged): scores on the
    training set (statistics, forks, attribution) and the test set (ablation, causal curves)."""
    from knowloc.neurons.ablation import AblationEvaluator

    opts = options or LocateOptions()
    C = int(num_classes)
    layer = opts.layer or default_layer(net)
    if opts.target_class is not None and not 0 <= opts.target_class < C:
        raise ConfigValueError("target_class", opts.target_class, f"null or a class index in [0, {C - 1}]")
    classes = list(range(C)) if opts.target_class is None else [int(opts.target_class)]
    methods = [m for m in opts.methods]
    if "ablation" not in methods:
        methods.append("ablation")  # the causal measure is always computed
    (xtr, ytr), (xte, yte) = train, test
    seconds: dict[str, float] = {}
    scores: dict[str, np.ndarray] = {}
    was = net.training
    net.eval()
    t_all = time.perf_counter()
    try:
        t0 = time.perf_counter()
        ref = xtr if opts.ablation != "zero" else None
        ev = AblationEvaluator(net, layer, xte, yte, C, opts.ablation, ref, opts.seed)
        scores["ablation"], _ = signals.ablation_scores(ev)
        seconds["ablation"] = time.perf_counter() - t0
        U = ev.num_units
        act_image = None
        if {"gradient", "activation"} & set(methods):
            t0 = time.perf_counter()
            st = signals.unit_statistics(net, layer, xtr, ytr, C, images=xtr.ndim > 2)
            act_image = st.get("act_image")
            if "gradient" in methods:
                scores["gradient"] = signals.share_over_classes(st["mean_abs_grad"])
            if "activation" in methods:
                scores["activation"] = signals.contrast(st["mean_act"])
            seconds["gradient"] = seconds["activation"] = time.perf_counter() - t0
        wname = None
        if {"tally", "fork"} & set(methods):
            t0 = time.perf_counter()
            fr = continue_forks(net, layer, xtr, ytr, C, opts.fork_epochs, opts.fork_lr, opts.fork_batch_size,
                                opts.seed, opts.fork_scope)
            from knowloc.locate.forks import weight_layer

            wname = weight_layer(net, layer)
            if "tally" in methods:
                scores["tally"] = signals.share_over_classes(fr.tally.T.numpy())
            if "fork" in methods:
                scores["fork"] = signals.share_over_classes(fr.distance.T.numpy())
            seconds["tally"] = seconds["fork"] = time.perf_counter() - t0
        if "attribution" in methods:
            t0 = time.perf_counter()
            scores["attribution"] = signals.attribution_scores(net, layer, xtr, ytr, C, opts.attribution,
                                                               opts.attribution_steps, opts.attribution_samples)
            seconds["attribution"] = time.perf_counter() - t0
        if "random" in methods:
            scores["random"] = signals.random_scores(U, C, opts.seed)
        methods = [m for m in methods if m in scores]
        scores = {m: scores[m] for m in methods}
        t0 = time.perf_counter()
        rows = agreement.agreement_rows(scores, classes, opts.overlap_ks)
        seconds["agreement"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        orders = {m: signals.ranking(s) for m, s in scores.items()}
        curves, summary_rows = causal.causal_curves(ev, orders, classes, opts.max_k, opts.target_acc,
                                                    opts.max_other_drop)
        seconds["causal"] = time.perf_counter() - t0
    finally:
        net.train(was)
    seconds["total"] = time.perf_counter() - t_all
    res = LocateResult(layer, wname, classes, C, methods, scores, ev.acc_before.double().numpy(), rows, curves,
                       summary_rows, seconds, act_image)
    res.summary = summarize(res)
    log.info("locate: %s", res.summary["message"])
    return res
