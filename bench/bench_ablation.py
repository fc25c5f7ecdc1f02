"""Ablation matrix of LeNet-5 (embedded MNIST, test split): batched vs direct.

Batched: :class:`knowloc.neurons.ablation.AblationEvaluator` (the net up to the layer runs once,
the rest on many ablated copies at once). Direct: one forward hook and one full forward pass over
the test set per unit (:func:`knowloc.neurons.ablation.ablation_matrix_direct`), as hook-based
attribution libraries loop. Both on the same briefly trained LeNet-5; ratio = direct_s / batched_s,
wall-clock, the best of ``REPEATS`` timings for the batched way (under a second, so one preemption
by another job doubles a single timing) and of ``DIRECT_REPEATS`` for the direct way (half a minute);
process CPU times are reported too. The predictions of every ablation must be identical.

For a fully connected layer followed by a linear layer (LeNet-5's act3 -> fc2) the batched way
applies the rank-1 update of fc2's pre-activation per unit (``-h_u W[:, u]``) instead of
recomputing fc2, so what is left per unit is act4 + fc3 on (N, 84) and the argmax; what dominates
then is the one prefix pass (conv1..fc1 over the test set, ``prefix_s``), which bounds the ratio
near the number of units (120: the direct way runs the whole net once per unit).
Both run with one torch thread (``THREADS``): on a CPU shared with other jobs, intra-op thread
synchronisation otherwise dominates and makes both timings erratic.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

REPEATS = 7
DIRECT_REPEATS = 2
THREADS = 1


def _trained_lenet(seed: int = 0):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from trained import trained_lenet

    return trained_lenet(seed)


def _best(fn, repeats):
    """(best wall time, best process CPU time, result)."""
    best, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best, cpu = min(best, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return best, cpu, out


def bench_layer(net, dm, layer: str, method: str = "zero", repeats: int = REPEATS,
                direct_repeats: int = DIRECT_REPEATS) -> dict:
    from knowloc.neurons.ablation import AblationEvaluator, ablation_matrix_direct

    x, y = dm.test_split.x, dm.test_split.y
    ref = dm.train_split.x[:2000]

    split = {"prefix_s": float("inf"), "matrix_s": float("inf")}

    def batched():
        t0 = time.perf_counter()
        ev = AblationEvaluator(net, layer, x, y, 10, method, ref, seed=0)
        t1 = time.perf_counter()
        pred = ev.predictions(torch.eye(ev.num_units, dtype=torch.bool))
        t2 = time.perf_counter()
        if t2 - t0 < split["prefix_s"] + split["matrix_s"]:
            split.update(prefix_s=t1 - t0, matrix_s=t2 - t1)
        return ev, pred

    batched_s, batched_cpu, (ev, pred_b) = _best(batched, repeats)
    direct_s, direct_cpu, (acc_d, pred_d) = _best(
        lambda: ablation_matrix_direct(net, layer, x, y, 10, method, ev.mean, ev.donors), direct_repeats)
    identical = bool(torch.equal(pred_b, pred_d))
    return {"ratio": round(direct_s / batched_s, 2), "batched_s": round(batched_s, 4), "direct_s": round(direct_s, 4),
            "units": int(ev.num_units), "n_test": int(len(y)), "layer": layer, "method": method,
            "low_rank": ev.linear is not None, "prefix_s": round(split["prefix_s"], 4),
            "matrix_s": round(split["matrix_s"], 4),
            "identical_predictions": identical, "differing_predictions": int((pred_b != pred_d).sum()),
            "batched_cpu_s": round(batched_cpu, 4), "direct_cpu_s": round(direct_cpu, 4),
            "cpu_ratio": round(direct_cpu / batched_cpu, 2), "repeats": [repeats, direct_repeats],
            "torch_threads": torch.get_num_threads(), "unit_of_time": "s (best of repeats)",
            "target_ratio": 100 if ev.linear is not None else 50}


def run() -> dict:
    threads = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    try:
        return _run()
    finally:
        torch.set_num_threads(threads)


def _run() -> dict:
    net, dm = _trained_lenet()
    with torch.no_grad():
        out = {"ablation_matrix_batched_vs_direct": bench_layer(net, dm, "act3")}
        out["ablation_matrix_batched_vs_direct_act2_mean"] = bench_layer(net, dm, "act2", "mean", repeats=3, direct_repeats=1)
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
