"""Run one short job of each family in this process after ``torch.set_num_threads(N)``; print the
metrics as JSON. ``python tests/thread_jobs.py N OUT`` (the thread test runs it under different
OMP_NUM_THREADS / MKL_NUM_THREADS settings of the machine)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: one short job per family (config defaults otherwise: the job's own ``threads`` applies)
FAMILIES = {
    "default": ["trainer.max_epochs=1", "data.first_n=400"],
    "localization": ["experiment=localization", "data.pool_size=800"],
    "neurons": ["experiment=ablation", "trainer.max_epochs=1", "data.first_n=600", "callbacks.ablation.max_size=2",
                "callbacks.ablation.target_acc=0.5"],
    "snapshots": ["experiment=freeze", "+snapshots=default", "freeze=none", "trainer.max_epochs=1", "data.first_n=400"],
    "alignment": ["experiment=alignment", "model.network.data.n_train=2000", "model.network.data.vocab_size=100",
                  "equality.epochs.relu=1", "alignment.layers=[1]", "alignment.sizes=[1,2]",
                  "alignment.variables=[ab]", "trainer.max_epochs=1", "data.n_train=400", "data.n_test=400",
                  "alignment.baseline_pairs=100", "alignment.select_pairs=200"],
}
COMMON = ["logger=csv", "trainer.enable_progress_bar=false"]


def timing(key: str) -> bool:
    """Wall-clock figures differ between any two runs; everything else must not."""
    return key.endswith(("seconds", "_s"))


def main(threads: int, out: Path, extra: list[str]) -> None:
    import torch

    from knowloc.api import run

    torch.set_num_threads(threads)
    result = {}
    for family, overrides in FAMILIES.items():
        rec = run(overrides + COMMON + extra, out / family)
        result[family] = {"status": rec["status"], "torch_threads": rec.get("torch_threads"),
                          "config_threads": rec["config"].get("threads"),
                          "metrics": {k: v for k, v in rec["metrics"].items() if not timing(k)}}
    print("RESULT " + json.dumps(result))


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:])
