"""GPU entries of ``make bench`` (only where CUDA is available; ``run()`` returns nothing elsewhere).

- ``gpu_localization_engine_vs_lightning``: model-steps/s of the stacked per-sample engine on the
  GPU by number of models (M stacked MLPs 784-100-2, each its own MNIST stream, chunks of K = 64
  steps, exact per-sample SGD, float32; launches sized by :func:`knowloc.localization.engine.launch_plan`
  from the GPU's free memory) over the steps/s of the same MLP trained by per-sample SGD through
  Lightning on the same GPU (``ClassifierModule``, batch size 1, plain SGD). ratio = the engine at
  the largest M over Lightning. Also GFLOP/s (``chunk_flops`` / time) and the device's name.
- ``gpu_localization_stack_experiment``: wall time of ``knowloc experiment=localization_stack
  trainer.accelerator=gpu logger=csv`` (60 models in one job) and the device its record names.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch

D, H, C, K = 784, 100, 2, 64
MODELS = (256, 1024, 4096, 16384, 65536)
TARGET_STEPS_PER_S = 30e6  # issue 15: >= 30M model-steps/s at >= 16,384 models on one H100/H200


def _stream(n: int, device):
    from knowloc.data import load_source, scale_images, select_classes

    src = load_source("mnist_embedded")
    keep, y = select_classes(src.labels, [[1, 7], [6, 8]])
    x = scale_images(src.images[keep], "symmetric").flatten(1)
    reps = (n + len(y) - 1) // len(y)
    return x.repeat(reps, 1)[:n].contiguous().to(device), y.repeat(reps)[:n].contiguous().to(device)


def lightning_steps_per_s(steps: int = 300, accelerator: str = "gpu") -> float:
    """Per-sample SGD through Lightning on the GPU: ClassifierModule(MLP 784-100-2), batch size 1."""
    import lightning as L
    from torch.utils.data import DataLoader, TensorDataset

    from knowloc.models import MLP, ClassifierModule

    x, y = _stream(steps + 20, "cpu")
    times = []

    class Clock(L.Callback):
        def on_train_batch_start(self, trainer, *a):
            if trainer.global_step == 20:  # after warm-up
                torch.cuda.synchronize()
                times.append(time.perf_counter())

        def on_train_end(self, trainer, *a):
            torch.cuda.synchronize()
            times.append(time.perf_counter())

    torch.manual_seed(0)
    model = ClassifierModule(MLP([D, H, C], "relu", init_bias=True),
                             lambda p: torch.optim.SGD(p, lr=0.01), num_classes=C)
    trainer = L.Trainer(max_steps=steps + 20, accelerator=accelerator, devices=1, logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        callbacks=[Clock()])
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=1, shuffle=False))
    return steps / (times[-1] - times[0])


def engine_rate(M: int, chunks: int = 4, device="cuda") -> dict:
    """Model-steps/s and GFLOP/s of the engine on M models (each its own stream) on ``device``."""
    from knowloc.localization.engine import Stack, chunk_flops, launch_plan, sgd_steps

    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    x, y = _stream(4096, device)
    g = torch.Generator(device).manual_seed(0)  # He-scaled random weights (init_stack is a Python loop)
    stack = Stack(*(torch.randn(*shape, generator=g, device=device) * (2.0 / fan_in) ** 0.5
                    for shape, fan_in in (((M, H, D), D), ((M, H), D), ((M, C, H), H), ((M, C), H))),
                  activations=["relu"] * M)
    lr = torch.full((M, K), 0.01, device=device)
    plan = launch_plan(M, K, D, H, C, 0, torch.float32, device)
    offset = torch.arange(M, device=device).unsqueeze(1) * 7

    def batch(c):
        idx = (offset + c * K + torch.arange(K, device=device)) % len(y)
        return x[idx], y[idx]

    sgd_steps(stack, *batch(0), lr, plan=plan)  # warm-up
    data = [batch(1), batch(2)]  # two chunks of inputs made beforehand, used in turn (26 GB at 65,536 models)
    sync()
    t0 = time.perf_counter()
    for c in range(chunks):
        xb, yb = data[c % 2]
        sgd_steps(stack, xb, yb, lr, plan=plan)
    sync()
    dt = time.perf_counter() - t0
    out = {"models": M, "model_steps_per_s": round(M * K * chunks / dt),
           "gflops": round(chunk_flops(M, K, D, H, C) * chunks / dt / 1e9, 1),
           "models_per_launch": plan.models, "steps_per_launch": plan.steps}
    del stack, x, y, data
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def _stack_experiment() -> dict:
    from knowloc.api import run

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        rec = run(["experiment=localization_stack", "trainer.accelerator=gpu", "logger=csv",
                   "trainer.enable_progress_bar=false"], Path(tmp) / "run")
        rec["wall_s"] = time.perf_counter() - t0
    return rec


def run(models=MODELS) -> dict:
    if not torch.cuda.is_available():
        return {}
    os.environ.setdefault("WANDB_MODE", "offline")
    from knowloc.localization.engine import device_name

    name = device_name("cuda")
    light = lightning_steps_per_s()
    by_models = []
    for M in models:
        try:
            by_models.append(engine_rate(M))
        except torch.OutOfMemoryError:
            by_models.append({"models": M, "error": "out of memory"})
            torch.cuda.empty_cache()
    ok = [r for r in by_models if "model_steps_per_s" in r]
    best = ok[-1] if ok else {"model_steps_per_s": float("nan"), "models": 0}
    at_16k = [r["model_steps_per_s"] for r in ok if r["models"] >= 16384]
    out = {"gpu_localization_engine_vs_lightning": {
        "ratio": best["model_steps_per_s"] / light, "device": name,
        "engine_model_steps_per_s": best["model_steps_per_s"], "models": best["models"],
        "lightning_steps_per_s": round(light, 1), "by_models": by_models, "chunk": K, "dtype": "float32",
        "target_model_steps_per_s_at_16384_models": TARGET_STEPS_PER_S,
        "target_met": bool(at_16k and max(at_16k) >= TARGET_STEPS_PER_S),
        "units": "model-steps/s (one per-sample SGD step of one MLP 784-100-2); Lightning: batch size 1, same GPU"}}
    rec = _stack_experiment()
    m = rec["metrics"]
    steps = float(m.get("localization/model_steps", 0))
    out["gpu_localization_stack_experiment"] = {
        "ratio": (steps / light) / rec["wall_s"], "device": (rec.get("device") or {}).get("name"),
        "wall_s": round(rec["wall_s"], 2), "engine_s": round(float(m.get("localization/engine_s", 0)), 2),
        "model_steps": int(steps), "status": rec["status"],
        "engine_device": m.get("localization/engine/device"),
        "units": "seconds (ratio: Lightning-on-GPU-equivalent time / wall time)"}
    return out


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
