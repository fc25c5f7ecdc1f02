"""A full locate of LeNet-5's fc1 units (act3: 120 units) on the embedded MNIST subset: 10 classes,
every method (tally and fork continuation, gradient and activation statistics, captum attribution,
ablation matrix, random), agreement, causal curves to K = 30. Training the network is excluded
(one epoch of SGD, as ``bench_ablation``). Target: under 60 s on 2 CPU cores;
ratio = 60 s / measured wall time (> 1: the target is met). Per-step times are reported too.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

TARGET_S = 60.0
THREADS = 2


def _trained_lenet(seed: int = 0):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from trained import trained_lenet

    return trained_lenet(seed)


def run(threads: int = THREADS, max_k: int = 30) -> dict:
    from knowloc.locate.options import LocateOptions
    from knowloc.locate.pipeline import locate

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        net, dm = _trained_lenet()
        tr, te = dm.train_split, dm.test_split
        locate(net, (tr.x[:200], tr.y[:200]), (te.x[:200], te.y[:200]), 10,
               LocateOptions(layer="act3", max_k=2, attribution_samples=5))  # imports and first calls
        t0, c0 = time.perf_counter(), time.process_time()
        res = locate(net, (tr.x, tr.y), (te.x, te.y), 10, LocateOptions(layer="act3", max_k=max_k))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        torch.set_num_threads(before)
    return {"locate_lenet5_fc1": {
        "ratio": round(TARGET_S / wall, 3), "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "target_s": TARGET_S, "threads": threads, "units": int(res.scores["ablation"].shape[0]),
        "classes": len(res.classes), "max_k": max_k, "n_train": len(tr.y), "n_test": len(te.y),
        "steps_s": {k: round(v, 2) for k, v in res.seconds.items()}, "best_method": res.summary["best_method"],
        "units_of": "seconds"}}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=1))
