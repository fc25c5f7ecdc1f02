"""Cost of the snapshot callbacks: the time of ``trainer.fit`` plus ``wandb.finish`` of
experiment=snapshots (one snapshot per epoch written by the callback's background worker; at the
end the filter pictures of three views, GIFs, change curves, W&B offline images, metrics and the
artifact, all inside ``fit``; then the W&B run finished with its media) against the same training
without them (``snapshots=none``, also finishing its W&B run), in this process, alternating, best of
``REPEATS``.

ratio = t_without / t_with (higher is better; >= 0.97 means at most 3% overhead). On a shared
machine wall-clock times of separate fits vary by tens of percent, so two steadier figures come
with it: ``cpu_ratio`` (this process's CPU time, all threads; on a machine busier than its cores,
OpenMP threads waiting for each other burn CPU time too, so it is only steady on a quiet machine)
and ``in_run_ratio`` = (t - h) / t,
where h is the time Lightning's profiler measured inside the callback's hooks during the fit
with the callback, and t that fit's time: the same run with and without the callback's work.
"""

from __future__ import annotations

import os
import tempfile
import time

EPOCHS = int(os.environ.get("KNOWLOC_BENCH_SNAPSHOT_EPOCHS", 10))  # the experiment's default length
REPEATS = int(os.environ.get("KNOWLOC_BENCH_SNAPSHOT_REPEATS", 2))
BASE = ["experiment=snapshots", f"trainer.max_epochs={EPOCHS}", "trainer.enable_progress_bar=false",
        "logger=wandb", "test=false"]


def fit_seconds(overrides: list[str], out: str) -> tuple[float, float, dict[str, float]]:
    """(wall, CPU) seconds of ``trainer.fit`` and ``wandb.finish`` for a job built exactly as
    ``knowloc.train.run`` builds it, and the seconds spent in WeightSnapshots' hooks on the training
    thread (Lightning's SimpleProfiler; the worker's writing is not in them)."""
    from lightning.pytorch.profilers import SimpleProfiler

    import lightning as L
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from knowloc.api import compose
    from knowloc.tracking import finish_wandb
    from knowloc.train import instantiate_all, instantiate_loggers

    os.environ.setdefault("WANDB_MODE", "offline")
    cfg = compose(overrides, out)
    L.seed_everything(int(cfg.seed), workers=True, verbose=False)
    dm = instantiate(cfg.data)
    model = instantiate(cfg.model)
    resolved = OmegaConf.to_container(cfg, resolve=True)
    loggers = instantiate_loggers(cfg.logger, resolved)
    profiler = SimpleProfiler(dirpath=out, filename="profile")
    trainer = instantiate(cfg.trainer, callbacks=instantiate_all(cfg.callbacks), logger=loggers,
                          default_root_dir=out, profiler=profiler)
    dm.setup("fit")
    t0, c0 = time.perf_counter(), time.process_time()
    trainer.fit(model, datamodule=dm)
    finish_wandb()
    t, c = time.perf_counter() - t0, time.process_time() - c0
    prefix = "[Callback]WeightSnapshots."
    hooks = {k.split(prefix, 1)[1].split("{")[0]: sum(d) for k, d in profiler.recorded_durations.items()
             if k.startswith(prefix)}
    return t, c, hooks


def run() -> dict:
    with_s, without_s = [], []
    with tempfile.TemporaryDirectory() as tmp:
        fit_seconds(BASE + ["snapshots=none", "trainer.max_epochs=1", "data.first_n=300"], f"{tmp}/warm")
        for r in range(REPEATS):  # alternating, first one arm then the other, so neither always runs first
            arms = [(without_s, ["snapshots=none"], "without"), (with_s, [], "with")]
            for times, extra, name in arms if r % 2 == 0 else arms[::-1]:
                times.append(fit_seconds(BASE + extra, f"{tmp}/{name}{r}"))
    t_without, t_with = min(r[0] for r in without_s), min(r[0] for r in with_s)
    c_without, c_with = min(r[1] for r in without_s), min(r[1] for r in with_s)
    in_run = [(t - sum(h.values())) / t for t, _, h in with_s]
    best = min(with_s, key=lambda r: r[0])[2]
    return {"snapshot_callbacks_overhead": {
        "ratio": t_without / t_with, "t_without_s": round(t_without, 3), "t_with_s": round(t_with, 3),
        "overhead_pct": round(100 * (t_with / t_without - 1), 2), "units": "seconds of trainer.fit + wandb.finish (best of repeats)",
        "cpu_ratio": c_without / c_with, "cpu_without_s": round(c_without, 3), "cpu_with_s": round(c_with, 3),
        "in_run_ratio": min(in_run), "hook_s": [round(sum(h.values()), 3) for _, _, h in with_s],
        "hook_s_by_name": {k: round(v, 3) for k, v in sorted(best.items(), key=lambda kv: -kv[1]) if v >= 0.001},
        "epochs": EPOCHS, "snapshots": EPOCHS + 1, "repeats": REPEATS,
        "all_without_s": [round(r[0], 3) for r in without_s], "all_with_s": [round(r[0], 3) for r in with_s],
        "setup": "LeNetWSS on the embedded MNIST subset (3,600 training images), one snapshot per epoch of all "
                 "4 layers written in the background, filter pictures of 3 views + GIFs + change curves at the "
                 "end, W&B offline (wandb.finish timed)",
    }}


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
