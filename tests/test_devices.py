"""Device-agnostic code, checked on the CPU: every tensor knowloc makes follows the device and dtype
of the module or batch it belongs to (tensors made without ``device=`` are sent to ``meta``, where
mixing them with the test's CPU tensors raises; float64 runs produce no float32 tensor), the
engine's launches split exactly, and the launch plan follows the device's memory.
The same checks run on CUDA where a GPU is present (``pytest -m gpu``)."""

from __future__ import annotations

import pytest
import torch

from devices import DEVICES, DtypeWatch, needs_gpu, strays_on_meta
from knowloc.localization.engine import (PARAMS, LaunchPlan, init_stack, launch_bytes, launch_plan, predict,
                                         sgd_chunk, sgd_steps)


def _streams(M=5, K=23, D=30, device="cpu", dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(M, K, D, generator=g, dtype=dtype)
    y = torch.randint(0, 3, (M, K), generator=g)
    lr = torch.full((M, K), 0.05, dtype=dtype)
    lr[1, -4:] = 0  # padded slots
    group = torch.where(torch.arange(K) >= K // 3, y, -1)
    return x.to(device), y.to(device), lr.to(device), group.to(device)


def _stack(M=5, D=30, H=12, C=3, device="cpu", dtype=torch.float64):
    acts = ["relu", "relu", "tanh", "gelu", "sigmoid"][:M]
    return init_stack(list(range(M)), acts, (D, H, C), dtype=dtype, device=device)


def _copy(stack):
    s = stack.select(range(stack.n_models))
    return s


@pytest.mark.parametrize("device", DEVICES)
def test_launches_split_models_and_steps_exactly(device):
    """sgd_steps in launches of 2 models x 4 steps == one sgd_chunk (float64, 1e-12), tallies too."""
    stack = _stack(device=device)
    x, y, lr, group = _streams(device=device)
    one, split = _copy(stack), _copy(stack)
    a = sgd_chunk(one, x, y, lr, group, 3)
    b = sgd_steps(split, x, y, lr, group, 3, plan=LaunchPlan(models=2, steps=4, budget=0, device=device))
    for k, v in one.tensors().items():
        assert (v - split.tensors()[k]).abs().max().item() < 1e-12, k
    assert torch.allclose(a.loss, b.loss, atol=1e-12) and torch.equal(a.correct, b.correct)
    assert torch.equal(a.bad_step, b.bad_step)
    for k in PARAMS:
        assert torch.allclose(a.tally[k], b.tally[k], atol=1e-12) and torch.allclose(a.total[k], b.total[k], atol=1e-12)
    # the invariant holds across launches: sum over groups == total
    for k in PARAMS:
        assert torch.allclose(b.tally[k].sum(1), b.total[k], atol=1e-12)


def test_split_launches_locate_divergence_at_the_same_step():
    stack = _stack()
    x, y, lr, group = _streams()
    lr[3] = 1e300  # model 3 blows up
    one, split = _copy(stack), _copy(stack)
    a = sgd_chunk(one, x, y, lr, None)
    b = sgd_steps(split, x, y, lr, None, plan=LaunchPlan(models=3, steps=5, budget=0, device="cpu"))
    assert int(a.bad_step[3]) >= 0
    assert a.bad_step.tolist() == b.bad_step.tolist()
    assert (b.bad_step[[0, 1, 2, 4]] == -1).all()


def test_launch_plan_fills_the_memory_budget():
    M, K, D, H, C, G = 1000, 64, 784, 100, 2, 2
    per = launch_bytes(K, D, H, C, G, 4)
    plan = launch_plan(M, K, D, H, C, G, torch.float32, "cpu", budget=10 * per + 1)
    # halving the steps first, down to 8, then as many models as fit
    assert plan.steps == 8
    assert plan.models == (10 * per + 1) // launch_bytes(8, D, H, C, G, 4)
    assert launch_plan(M, K, D, H, C, G, torch.float32, "cpu", budget=M * per).models == M
    assert launch_plan(M, K, D, H, C, G, torch.float32, "cpu", budget=M * per).steps == K
    assert launch_plan(M, K, D, H, C, 0, torch.float64, "cpu", budget=1).models == 1
    # float64 needs twice the bytes of float32
    assert launch_bytes(K, D, H, C, G, 8) == 2 * per
    rec = plan.record()
    assert rec["device"] == "cpu" and rec["models_per_launch"] == plan.models


@pytest.mark.parametrize("device", DEVICES)
def test_launch_plan_of_the_device(device):
    plan = launch_plan(100, 64, 784, 100, 2, 2, torch.float32, device)
    assert plan.device.startswith(device) and 1 <= plan.models <= 100 and 8 <= plan.steps <= 64
    if device == "cuda":  # half of the free memory, and the GPU's name
        assert plan.free_bytes > 0 and plan.budget == int(0.5 * plan.free_bytes)
        assert torch.cuda.get_device_name(0) in plan.device


def test_engine_makes_every_tensor_on_the_stack_device():
    stack = _stack()
    x, y, lr, group = _streams()
    with strays_on_meta():
        sgd_steps(stack, x, y, lr, group, 3)
        sgd_steps(stack, x, y, lr, group, 3, plan=LaunchPlan(models=2, steps=4, budget=0, device="cpu"))
        predict(stack, x[0])
        forks = stack.select([0, 0, 1])
        net = stack.net(2)
    assert forks.W1.device.type == "cpu" and net.fc1.weight.device.type == "cpu"
    assert torch.equal(net.fc1.weight, stack.W1[2])


def test_engine_float64_makes_no_float32_tensor():
    stack = _stack()
    x, y, lr, group = _streams()
    with DtypeWatch() as watch:
        sgd_steps(stack, x, y, lr, group, 3)
        sgd_steps(stack, x, y, lr, group, 3, plan=LaunchPlan(models=2, steps=4, budget=0, device="cpu"))
        predict(stack, x[0])
    assert watch.floating == {torch.float64}, watch.ops.get(torch.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_engine_follows_its_device(device):
    """Inputs on the CPU (as a data loader gives them), stack on ``device``: results on ``device``."""
    stack = _stack(device=device)
    x, y, lr, group = _streams()
    res = sgd_steps(stack, x, y, lr, group, 3)
    assert res.loss.device.type == device and res.tally["fc1.weight"].device.type == device
    assert predict(stack, x[0]).device.type == device


# -- alignment search ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def alignment_parts():
    from knowloc.alignment import AlignmentSearch, InterchangeDataModule
    from knowloc.alignment.network import freeze
    from knowloc.models import MLP

    torch.manual_seed(0)
    net = freeze(MLP([16, 16, 16, 2], "relu"))
    dm = InterchangeDataModule(n_train=300, n_test=200, batch_size=100, eval_batch_size=200)
    dm.setup()
    search = AlignmentSearch(net, sizes=[1, 2], restarts=2, select_pairs=100, baseline_pairs=50)
    return search, dm, next(iter(dm.train_dataloader())), next(iter(dm.test_dataloader()))


def test_alignment_search_makes_every_tensor_on_the_module_device(alignment_parts):
    search, dm, train_batch, test_batch = alignment_parts
    with strays_on_meta():
        loss = search.training_step(train_batch, 0)
        entries = {layer: search._entries(layer, dm.train_split) for layer in search.layers}
    search._eval = entries
    search._counts = {layer: torch.zeros(len(e), 4) for layer, e in entries.items()}
    with strays_on_meta():
        search.test_step(test_batch, 0)
    assert torch.isfinite(loss)
    counts = search._counts[1]
    assert (counts[:, 1] == len(test_batch[1])).all()  # every entry scored every test pair


def test_alignment_baselines_follow_the_hidden_states_dtype():
    from knowloc.alignment.baselines import identity_baseline
    from knowloc.alignment.interchange import hidden_states
    from knowloc.alignment import InterchangeDataModule
    from knowloc.models import MLP

    torch.manual_seed(0)
    net = MLP([16, 8, 8, 2], "relu").double().eval()
    dm = InterchangeDataModule(n_train=200, n_test=10)
    dm.setup()
    tr = dm.train_split
    x = tr.x.double().transpose(0, 1)
    with torch.no_grad(), DtypeWatch() as watch:
        h = hidden_states(net, x, [1])[1]
        found = identity_baseline(net, 1, h, tr.ab, tr.cd, 2, limit=10)  # greedy: C(8, 2) > 10
    assert watch.floating == {torch.float64}, watch.ops.get(torch.float32)
    assert found["ab"][0].dtype == torch.float64 and int(found["ab"][0].sum()) == 2


# -- callbacks ----------------------------------------------------------------------------------
def test_freeze_layers_keeps_its_reference_where_the_parameter_is():
    """FreezeLayers copies the reference in setup (the module still on the CPU) and moves it next
    to the parameter once fit starts; the drift is computed there."""
    import lightning as L

    from knowloc.callbacks import FreezeLayers
    from knowloc.models import MLP

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = MLP([4, 3, 2])

    module = Module()
    cb = FreezeLayers(["fc1"])
    cb.setup(None, module, "fit")
    module.to(torch.float64)  # stands for the move to the run's device (a new tensor per parameter)

    class Trainer:
        optimizers = []

    cb.on_fit_start(Trainer(), module)
    ref = cb._reference["fc1.weight"]
    assert ref.dtype == torch.float64 and ref.device == module.net.fc1.weight.device
    assert torch.equal(ref, module.net.fc1.weight)


# -- the GPU-scale sweep file ---------------------------------------------------------------------
def test_gpu_localization_sweep_composes_6_activations_x_1000_seeds_x_3_lrs():
    """The sweep file (no training): one stacked job of 6 x 1,000 models per learning rate, on the GPU."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    import knowloc.api  # noqa: F401  (registers the resolvers)
    from devices import SWEEPS

    GlobalHydra.instance().clear()
    with initialize_config_dir(str(SWEEPS), version_base="1.3"):
        cfg = compose("localization_gpu", return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.hydra.sweeper.params["model.lr"].split(",") == ["0.003", "0.01", "0.03"]
    assert len(cfg.model.activations) == 6 and list(cfg.model.seeds) == list(range(1000))
    assert cfg.trainer.accelerator == "gpu" and cfg.logger.csv._target_ == "knowloc.tracking.csv_logger"
    assert cfg.task_name == "localization_stack" and cfg.model.stop_on_divergence is False


# -- the record and the config ----------------------------------------------------------------------
def test_record_names_the_device_and_the_engine_launches(run_job):
    rec = run_job(["experiment=localization", "data.pool_size=600", "logger=csv",
                   "callbacks.localization_report.figures=false"])
    assert rec["status"] == "finished", rec["error"]
    assert rec["device"]["device"] == "cpu" and rec["device"]["name"] == "cpu"
    m = rec["metrics"]
    assert m["localization/engine/device"] == "cpu"
    # phase 1: one model; forks: 4 copies; all in one launch of the whole 64-step chunk on the CPU
    assert m["localization/engine/phase1/models"] == 1 and m["localization/engine/forks/models"] == 4
    assert m["localization/engine/forks/models_per_launch"] == 4 and m["localization/engine/forks/steps_per_launch"] == 64


def test_unknown_accelerator_is_one_line(knowloc_cli):
    res = knowloc_cli("trainer.accelerator=gpux")
    assert res.returncode == 2 and "Traceback" not in res.stderr
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("knowloc: error: trainer.accelerator") and "gpux" in line and "auto" in line


# -- the ablation matrix's low-rank way -------------------------------------------------------------
@pytest.mark.parametrize("method", ["zero", "mean", "resample"])
def test_ablation_low_rank_update_equals_the_full_suffix(method):
    """act3 -> fc2 (linear): the rank-1 / low-rank update of fc2's pre-activation gives the same
    predictions as running the whole suffix on the ablated copies, for single units and sets; and
    it makes its tensors where the cached layer output is."""
    from knowloc.models import LeNet5
    from knowloc.neurons.ablation import AblationEvaluator

    torch.manual_seed(0)
    net = LeNet5().eval()
    x, y, ref = torch.randn(300, 1, 28, 28), torch.randint(0, 10, (300,)), torch.randn(100, 1, 28, 28)
    fast = AblationEvaluator(net, "act3", x, y, 10, method, ref, seed=1)
    full = AblationEvaluator(net, "act3", x, y, 10, method, ref, seed=1)
    full.linear = None  # the plain way: the whole suffix on every ablated copy
    assert fast.linear is net.fc2
    g = torch.Generator().manual_seed(0)
    sets = [torch.randperm(120, generator=g)[:k].tolist() for k in (1, 2, 5, 20, 30)]
    for masks in (torch.eye(120, dtype=torch.bool), fast.masks_of(sets)):
        with strays_on_meta():
            pred, margin = fast.evaluate(masks)
            pred_only = fast.predictions(masks)
        ref_pred, ref_margin = full.evaluate(masks)
        assert torch.equal(pred, ref_pred) and torch.equal(pred_only, ref_pred)
        assert (margin - ref_margin).abs().max().item() < 1e-4
