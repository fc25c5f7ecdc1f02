"""Every experiment on the GPU (``pytest -m gpu``; skipped without CUDA): the same short job with
``trainer.accelerator=cpu`` and ``=gpu`` finishes on both, its record names the device, and the
results agree within the tolerance of the family:

| family | compared | tolerance | why |
|---|---|---|---|
| localization (engine, float64) | correlations r vs d, phase-1 test accuracy | 1e-8 | exact per-sample semantics; only the order of float64 sums differs |
| localization (engine, float32) | correlations | 2e-3 | float32 rounding over ~500 dependent steps |
| classifier families (default, ablation, snapshots, neuron_stats, freeze) | test accuracy | 0.03 | minibatch SGD in float32; cuBLAS/cuDNN reductions differ from the CPU's, one epoch |
| alignment | network test accuracy, IIA | 0.03, 0.05 | as above, the rotations are trained by Adam on top |
| freeze | max |w_end - w_frozen| | exactly 0 | freezing is exact on every device |
"""

from __future__ import annotations

import math

import pytest

from devices import needs_gpu

pytestmark = needs_gpu

CLASSIFIER = ["logger=csv", "data.first_n=800", "trainer.max_epochs=1"]
LOCALIZATION = ["experiment=localization", "data.pool_size=1200", "logger=csv",
                "callbacks.localization_report.figures=false"]
ALIGNMENT = ["experiment=alignment", "logger=csv", "model.network.data.n_train=6000",
             "model.network.data.vocab_size=200", "equality.epochs.relu=2", "alignment.layers=[1]",
             "alignment.sizes=[1,8]", "trainer.max_epochs=2", "data.n_train=1000", "data.n_test=1000",
             "alignment.baseline_pairs=200", "alignment.select_pairs=500"]


def both(run_job, overrides, name, accelerator="gpu"):
    cpu = run_job(overrides + ["trainer.accelerator=cpu"], name=f"{name}_cpu")
    gpu = run_job(overrides + [f"trainer.accelerator={accelerator}"], name=f"{name}_gpu")
    assert cpu["status"] == "finished", cpu["error"]
    assert gpu["status"] == "finished", gpu["error"]
    assert cpu["device"]["device"] == "cpu"
    assert gpu["device"]["device"].startswith("cuda"), gpu["device"]
    return cpu["metrics"], gpu["metrics"]


def close(a: dict, b: dict, keys, tol: float) -> None:
    assert keys, "nothing to compare"
    for k in keys:
        x, y = float(a[k]), float(b[k])
        assert (math.isnan(x) and math.isnan(y)) or abs(x - y) <= tol, (k, x, y, tol)


@pytest.mark.parametrize("accelerator", ["gpu", "auto"])
def test_default_experiment_on_gpu(run_job, accelerator):
    cpu, gpu = both(run_job, CLASSIFIER, "default", accelerator)
    close(cpu, gpu, ["test/acc"], 0.03)


def test_ablation_on_gpu(run_job):
    cpu, gpu = both(run_job, ["experiment=ablation", *CLASSIFIER, "callbacks.ablation.max_size=2"], "ablation")
    close(cpu, gpu, ["test/acc"] + [k for k in cpu if k.startswith("ablation/acc_before/")], 0.03)


def test_snapshots_on_gpu(run_job):
    cpu, gpu = both(run_job, ["experiment=snapshots", *CLASSIFIER], "snapshots")
    close(cpu, gpu, ["test/acc"], 0.03)


def test_neuron_stats_on_gpu(run_job):
    cpu, gpu = both(run_job, ["experiment=neuron_stats", *CLASSIFIER, "callbacks.neuron_stats.layers=[act2]"],
                    "neurons")
    close(cpu, gpu, ["test/acc"], 0.03)
    assert cpu["neurons/act2/steps"] == gpu["neurons/act2/steps"]


def test_freeze_on_gpu(run_job):
    cpu, gpu = both(run_job, ["experiment=freeze", *CLASSIFIER], "freeze")
    assert cpu["freeze/max_abs_change"] == gpu["freeze/max_abs_change"] == 0.0
    assert cpu["freeze/frozen_params"] == gpu["freeze/frozen_params"] > 0
    close(cpu, gpu, ["test/acc"], 0.03)


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-8), ("float32", 2e-3)])
def test_localization_on_gpu(run_job, dtype, tol):
    cpu, gpu = both(run_job, LOCALIZATION + [f"model.dtype={dtype}"], f"localization_{dtype}")
    keys = [k for k in cpu if k.startswith(("localization/pearson/", "localization/spearman/"))]
    close(cpu, gpu, keys + ["phase1/test_acc"], tol)
    assert gpu["localization/engine/device"].startswith("cuda")
    assert cpu["localization/model_steps"] == gpu["localization/model_steps"]


def test_localization_stack_on_gpu(run_job):
    over = LOCALIZATION + ["experiment=localization_stack", "stack.activations=[relu,tanh]", "stack.seeds=[0,1]",
                           "model.dtype=float64"]
    cpu, gpu = both(run_job, over, "stack")
    assert cpu["localization/n_models"] == gpu["localization/n_models"] == 4
    assert cpu["localization/n_failed"] == gpu["localization/n_failed"]
    assert gpu["localization/engine/forks/models_per_launch"] >= 1


def test_alignment_on_gpu(run_job):
    cpu, gpu = both(run_job, ALIGNMENT, "alignment")
    close(cpu, gpu, ["alignment/network/test_acc"], 0.03)
    close(cpu, gpu, [k for k in cpu if k.startswith("alignment/iia/")], 0.05)
