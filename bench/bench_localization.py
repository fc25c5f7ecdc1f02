"""Speed of the stacked per-sample SGD engine (knowloc.localization.engine), all measured in this run.

- ``localization_engine_vs_lightning``: model-steps/s of the engine (M stacked MLPs 784-100-2, each
  its own MNIST stream, chunks of K steps, exact per-sample SGD) over steps/s of the same MLP
  trained by per-sample SGD through Lightning (``ClassifierModule``, batch size 1, plain SGD).
  Best of 1 and 2 torch threads for each side (the 2 cores are shared).
- ``localization_engine_chunked_vs_rank1``: the chunked engine over the direct stacked alternative
  (every step writes each model's rank-1 update into W1), and the engine's rate by chunk size K.
- ``localization_engine_compute_bound``: the engine's arithmetic rate (``chunk_flops`` / time) over
  the machine's measured float32 matrix-multiply rate (1024^3 ``torch.mm``, same threads).
- ``localization_experiment`` / ``localization_stack_sweep``: wall time of ``knowloc
  experiment=localization`` (one seed, phase 1 + 4 forks, W&B offline) and of
  ``experiment=localization_stack`` (6 activations x 10 seeds in one job); ratio = the time the
  same model-steps would take through Lightning at the measured rate over the measured time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch

D, H, C = 784, 100, 2


def _threads(n: int):
    torch.set_num_threads(n)


def _stream(n: int):
    from knowloc.data import load_source, scale_images, select_classes

    src = load_source("mnist_embedded")
    keep, y = select_classes(src.labels, [[1, 7], [6, 8]])
    x = scale_images(src.images[keep], "symmetric").flatten(1)
    reps = (n + len(y) - 1) // len(y)
    return x.repeat(reps, 1)[:n].contiguous(), y.repeat(reps)[:n].contiguous()


def lightning_steps_per_s(steps: int = 300) -> float:
    """Per-sample SGD through Lightning: ClassifierModule(MLP 784-100-2), batch size 1."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from knowloc.models import MLP, ClassifierModule

    x, y = _stream(steps + 20)
    times = []

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, *a):
            if trainer.global_step == 20:  # after warm-up
                times.append(time.perf_counter())

        def on_train_end(self, trainer, *a):
            times.append(time.perf_counter())

    torch.manual_seed(0)
    model = ClassifierModule(MLP([D, H, C], "relu", init_bias=True),
                             lambda p: torch.optim.SGD(p, lr=0.01), num_classes=C)
    trainer = L.Trainer(max_steps=steps + 20, accelerator="cpu", logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, callbacks=[Clock()])
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=1, shuffle=False))
    return steps / (times[-1] - times[0])


def engine_rate(M: int = 256, K: int = 64, chunks: int = 6) -> tuple[float, float]:
    """(model-steps/s, GFLOP/s) of sgd_chunk on M models, each with its own stream."""
    from knowloc.localization.engine import chunk_flops, init_stack, sgd_chunk

    x, y = _stream(M * 7 + K * (chunks + 1))
    stack = init_stack(list(range(M)), ["relu"] * M)
    lr = torch.full((M, K), 0.01)

    def batch(c):
        idx = (torch.arange(M).unsqueeze(1) * 7 + c * K + torch.arange(K)).clamp_max(len(y) - 1)
        return x[idx], y[idx]

    xb, yb = batch(0)
    sgd_chunk(stack, xb, yb, lr)  # warm-up
    data = [batch(c) for c in range(1, chunks + 1)]
    t0 = time.perf_counter()
    for xb, yb in data:
        sgd_chunk(stack, xb, yb, lr)
    dt = time.perf_counter() - t0
    return M * K * chunks / dt, chunk_flops(M, K, D, H, C) * chunks / dt / 1e9


def rank1_rate(M: int = 256, steps: int = 32) -> float:
    """model-steps/s of the direct stacked alternative: every step writes each model's rank-1
    update into its 784x100 W1 (same arithmetic per step, bound by memory traffic)."""
    import torch.nn.functional as F

    from knowloc.localization.engine import init_stack

    x, y = _stream(M * 7 + steps + 1)
    st = init_stack(list(range(M)), ["relu"] * M)
    W1, b1, W2, b2 = st.W1, st.b1, st.W2, st.b2
    idx = torch.arange(M) * 7

    def step(t):
        xt, yt = x[idx + t], y[idx + t]
        z1 = torch.baddbmm(b1.unsqueeze(2), W1, xt.unsqueeze(2)).squeeze(2)
        h = torch.relu(z1)
        z2 = torch.baddbmm(b2.unsqueeze(2), W2, h.unsqueeze(2)).squeeze(2)
        g2 = (torch.softmax(z2, 1) - F.one_hot(yt, C)).mul_(0.01)
        g1 = torch.bmm(g2.unsqueeze(1), W2).squeeze(1).mul_(z1 > 0)
        W2.baddbmm_(g2.unsqueeze(2), h.unsqueeze(1), alpha=-1.0)
        b2.sub_(g2)
        W1.baddbmm_(g1.unsqueeze(2), xt.unsqueeze(1), alpha=-1.0)
        b1.sub_(g1)

    step(0)
    t0 = time.perf_counter()
    for t in range(1, steps + 1):
        step(t)
    return M * steps / (time.perf_counter() - t0)


def matmul_gflops(n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    t0 = time.perf_counter()
    for _ in range(reps):
        torch.mm(a, b)
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def _experiment(overrides: list[str]) -> dict:
    from knowloc.api import run

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rec = run(overrides + ["trainer.enable_progress_bar=false"], Path(tmp) / "run")
        rec["wall_s"] = time.perf_counter() - t0
    return rec


def run() -> dict:
    import os

    os.environ.setdefault("WANDB_MODE", "offline")
    before = torch.get_num_threads()
    found = {}
    for n in (1, 2):
        _threads(n)
        light = lightning_steps_per_s()
        eng, gf = engine_rate()
        mm = matmul_gflops()
        found[n] = (light, eng, gf, mm)
    # the alternatives the engine was chosen from (1 thread): direct rank-1 writes, chunk sizes
    _threads(1)
    rank1 = rank1_rate()
    by_chunk = {K: round(engine_rate(K=K, chunks=max(2, 384 // K))[0]) for K in (16, 32, 64, 128)}
    _threads(before)
    light_t = max(found, key=lambda n: found[n][0])
    eng_t = max(found, key=lambda n: found[n][1])
    light = found[light_t][0]
    eng, gf, mm = found[eng_t][1:]
    out = {
        "localization_engine_vs_lightning": {
            "ratio": eng / light, "engine_model_steps_per_s": round(eng), "lightning_steps_per_s": round(light, 1),
            "engine_threads": eng_t, "lightning_threads": light_t, "models": 256, "chunk": 64,
            "by_threads": {n: {"lightning_steps_per_s": round(v[0], 1), "engine_model_steps_per_s": round(v[1])}
                           for n, v in found.items()},
            "units": "model-steps/s (one per-sample SGD step of one MLP 784-100-2)"},
        "localization_engine_chunked_vs_rank1": {
            "ratio": found[1][1] / rank1, "chunked_model_steps_per_s": round(found[1][1]),
            "rank1_model_steps_per_s": round(rank1), "chunked_by_chunk_size": by_chunk, "threads": 1, "models": 256,
            "units": "model-steps/s (rank1: stacked models, W1 written at every step)"},
        "localization_engine_compute_bound": {
            "ratio": gf / mm, "engine_gflops": round(gf, 2), "matmul_gflops": round(mm, 2), "threads": eng_t,
            "by_threads": {n: {"engine_gflops": round(v[2], 2), "matmul_gflops": round(v[3], 2), "ratio": round(v[2] / v[3], 3)}
                           for n, v in found.items()},
            "units": "GFLOP/s (engine: chunk_flops / time; matmul: 2 n^3 / time, n = 1024, float32)"},
    }
    for name, ov in (("localization_experiment", ["experiment=localization"]),
                     ("localization_stack_sweep", ["experiment=localization_stack"])):
        rec = _experiment(ov)
        m = rec["metrics"]
        steps = float(m.get("localization/model_steps", 0))
        out[name] = {"ratio": (steps / light) / rec["wall_s"], "wall_s": round(rec["wall_s"], 2),
                     "record_duration_s": rec["duration_s"], "engine_s": round(float(m.get("localization/engine_s", 0)), 2),
                     "model_steps": int(steps), "lightning_equivalent_s": round(steps / light, 1),
                     "status": rec["status"], "units": "seconds (ratio: Lightning-equivalent time / wall time)"}
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
