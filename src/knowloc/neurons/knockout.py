"""Class knockout: a small set of units whose ablation removes one class and spares the others.

Goal for target class t: acc[S, t] < target_acc and, for every other class c,
drop[S, c] = acc_before[c] - acc[S, c] < max_other_drop (fractions; 0.05 = 5 points).

Single-unit effects add up poorly, so the set grows by its real joint effect (beam search):
at each size k the candidates are every beam set plus one unit not in it, all evaluated at once
(:meth:`AblationEvaluator.class_accuracy`, batched), ranked by the key

    (violation, acc[S, t], margin[S, t], max_other_drop[S]),
    violation = max(0, max_{c != t} drop[S, c] - max_other_drop),
    margin[S, t] = mean over class-t samples of logit_t - max_{c != t} logit_c

(accuracy is discrete, so the mean margin breaks its ties: it sees a unit that weakens the
class before the class's accuracy moves, as when two redundant units carry it)

and the best ``beam_width`` sets are kept. Whether a set meets the constraints is decided on counts
of images, exactly, with the fractions read as the decimals they are written as (``0.05`` = 1/20):
with n_c the class-c test images and k_c[S] those classified right,

    k_t[S] < target_acc · n_t        and      k_c[] - k_c[S] < max_other_drop · n_c   for c != t,

i.e. k_t[S] <= ceil(target_acc · n_t) - 1 and lost_c <= ceil(max_other_drop · n_c) - 1 (a drop
of exactly 5 points of 100 images fails "< 5 points" whatever the float rounding of the accuracies);
violation is the largest excess of lost images over that bound, as a fraction of n_c.

The search stops at the first size where the best
set meets both constraints, or at ``max_size``; then ``met`` is false and ``message`` says so
plainly, with the best set found.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import torch

from knowloc.neurons.ablation import AblationEvaluator, class_accuracy


def strict_bound(fraction: float, n: int) -> int:
    """The largest count k with k < fraction · n, exactly (``fraction`` read as its decimal
    repr: 0.05 is 1/20): ceil(fraction · n) - 1."""
    return math.ceil(Fraction(repr(float(fraction))) * int(n)) - 1


def correct_counts(pred: torch.Tensor, y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """``(S, C)`` int64 number of images of each class classified right, predictions ``(S, N)``."""
    onehot = torch.nn.functional.one_hot(y, num_classes).to(torch.int64)
    return (pred == y.unsqueeze(0)).to(torch.int64) @ onehot


def knockout_search(ev: AblationEvaluator, target: int, target_acc: float = 0.2, max_other_drop: float = 0.05,
                    beam_width: int = 1, max_size: int = 10) -> dict:
    """Beam search for the smallest unit set that knocks out class ``target`` (see module doc).

    Returns a JSON-able dict: ``units`` (best set, in the order they were added), ``met``,
    ``acc_before``/``acc_after`` (every class), ``curve`` (the best set at each size and its
    per-class accuracies), ``message``.
    """
    C = ev.num_classes
    if not 0 <= int(target) < C:
        from knowloc.errors import ConfigValueError

        raise ConfigValueError("target_class", target, f"a class index in [0, {C - 1}]")
    target = int(target)
    before = ev.acc_before.to(torch.float64)
    others = torch.tensor([c for c in range(C) if c != target and not torch.isnan(before[c])], dtype=torch.long)
    max_size = min(int(max_size), ev.num_units)
    n = torch.bincount(ev.y, minlength=C)
    k_before = correct_counts(ev.pred_before[None], ev.y, C)[0]
    max_lost = torch.tensor([strict_bound(max_other_drop, int(n[c])) for c in range(C)])
    max_correct = strict_bound(target_acc, int(n[target]))

    def score(acc):
        drop = before[others].unsqueeze(0) - acc[:, others]
        worst = drop.max(1).values if len(others) else torch.zeros(len(acc), dtype=torch.float64)
        return worst

    def excess(k):
        """(S,) largest excess of lost images over the bound, as a fraction of n_c (0: within)."""
        if not len(others):
            return torch.zeros(len(k), dtype=torch.float64)
        lost = k_before[others].unsqueeze(0) - k[:, others]
        return ((lost - max_lost[others]).clamp_min(0).double() / n[others].double()).max(1).values

    curve = [{"size": 0, "units": [], "acc": before.tolist(), "target_acc": float(before[target]),
              "max_other_drop": 0.0, "correct": k_before.tolist(), "within_bound": True}]
    beam: list[tuple[int, ...]] = [()]
    best = curve[0]
    met = bool(k_before[target] <= max_correct)
    evaluated = 0
    size = 0
    while not met and size < max_size:
        size += 1
        seen, cands = set(), []
        for s in beam:
            for u in range(ev.num_units):
                if u in s:
                    continue
                key = frozenset(s + (u,))
                if key not in seen:
                    seen.add(key)
                    cands.append(s + (u,))
        pred, margin = ev.evaluate(ev.masks_of(cands))
        acc = class_accuracy(pred, ev.y, C)
        tmargin = margin[:, ev.y == target].mean(1)
        k = correct_counts(pred, ev.y, C)
        evaluated += len(cands)
        worst = score(acc)
        violation = excess(k)
        order = np.lexsort((worst.numpy(), tmargin.numpy(), acc[:, target].numpy(), violation.numpy()))
        beam = [cands[i] for i in order[: int(beam_width)]]
        i = int(order[0])
        best = {"size": size, "units": list(cands[i]), "acc": acc[i].tolist(),
                "target_acc": float(acc[i, target]), "max_other_drop": float(worst[i]),
                "correct": k[i].tolist(), "within_bound": bool(violation[i] == 0)}
        curve.append(best)
        met = bool(k[i, target] <= max_correct and violation[i] == 0)
    after = best["acc"]
    if met and not best["units"]:
        message = (f"met trivially: class {target} is at {100 * float(before[target]):.1f}% before any "
                   f"ablation, already below {100 * target_acc:g}% (is the net trained?)")
    elif met:
        message = (f"met: ablating {len(best['units'])} unit(s) {best['units']} of {ev.layer} ({ev.method}) "
                   f"drops class {target} from {100 * float(before[target]):.1f}% to "
                   f"{100 * best['target_acc']:.1f}% (< {100 * target_acc:g}%); other classes lose at most "
                   f"{100 * best['max_other_drop']:.1f} points (< {100 * max_other_drop:g})")
    else:
        feasible = [c for c in curve[1:] if c["within_bound"]]
        lowest = min(feasible, key=lambda c: c["target_acc"]) if feasible else None
        message = (f"NOT MET: no set of up to {max_size} unit(s) of {ev.layer} ({ev.method}, beam {beam_width}) "
                   f"brings class {target} below {100 * target_acc:g}% while every other class loses less "
                   f"than {100 * max_other_drop:g} points; "
                   + (f"best within the bound: {lowest['units']} -> class {target} at "
                      f"{100 * lowest['target_acc']:.1f}% (others lose <= {100 * lowest['max_other_drop']:.1f} points)"
                      if lowest else "no set found stays within the bound")
                   + f"; last set {best['units']} -> class {target} at {100 * best['target_acc']:.1f}%, "
                   f"others lose up to {100 * best['max_other_drop']:.1f} points")
    return {
        "layer": ev.layer, "method": ev.method, "target_class": target, "target_acc": float(target_acc),
        "max_other_drop": float(max_other_drop), "beam_width": int(beam_width), "max_size": int(max_size),
        "met": met, "size": len(best["units"]), "units": best["units"],
        "acc_before": before.tolist(), "acc_after": after,
        "target_acc_after": best["target_acc"], "max_other_drop_after": best["max_other_drop"],
        "curve": curve, "sets_evaluated": evaluated, "n_test": int(len(ev.y)), "message": message,
        "class_counts": n.tolist(), "correct_before": k_before.tolist(), "correct_after": best["correct"],
        "max_correct_target": max_correct, "max_lost_other": max_lost.tolist(),
    }
