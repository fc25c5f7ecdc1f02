"""``LocalizationModule``: phase 1, then the forks, through the stacked per-sample SGD engine, as a
LightningModule with manual optimization (one ``training_step`` per chunk of steps), so Lightning's
callbacks, loggers and checkpoints work as for any module.

Models: one per (activation, seed) of ``activations`` x ``seeds`` (activation-major; a single run
has one of each). Phase 1 trains them on the phase-1 stream; at the first fork batch each model is
copied once per fork (``forks[m * F + f]`` is fork f of model m) and the copies train on their fork
streams. The weights of both stacks are buffers (``phase1.W1`` ... ``forks.b2``), saved in
checkpoints.

Update-tally hook (used by :class:`knowloc.callbacks.UpdateTally`): a callback may put
``batch["tally_group"]`` (S,K), the group of each step of each stream (-1: not tallied), and
``batch["tally_groups"]`` (the number of groups) into the batch in ``on_train_batch_start``; the
step's outputs then hold ``"tally"`` and ``"total"``: ``{param: (M, G, *shape)}`` and
``{param: (M, *shape)}``, the per-step ``|Delta theta|`` of the chunk summed per group and over
all tallied steps, for the M models of ``outputs["phase"]``.
"""

from __future__ import annotations

import time
from typing import Sequence

import lightning as L
import torch
from torch import nn

from knowloc.errors import ConfigValueError, DivergenceError
from knowloc.localization import options
from knowloc.localization.engine import Stack, check_activation, init_stack, launch_plan, predict, sgd_steps


class StackBuffers(nn.Module):
    """The weights of a :class:`Stack` as buffers (so they are in the state dict)."""

    def __init__(self, stack: Stack):
        super().__init__()
        for k, v in (("W1", stack.W1), ("b1", stack.b1), ("W2", stack.W2), ("b2", stack.b2)):
            self.register_buffer(k, v)
        self.activations = list(stack.activations)

    def stack(self) -> Stack:
        return Stack(self.W1, self.b1, self.W2, self.b2, self.activations)


class LocalizationModule(L.LightningModule):
    """Per-sample SGD (batch size 1, plain SGD, cross-entropy) of MLPs ``D -> hidden -> classes``.

    ``lr``: learning rate (``fork_lr``: of the forks, null = ``lr``); ``init``/``init_bias``: He initialisation of all weights and biases;
    ``stop_on_divergence``: raise :class:`DivergenceError` naming the fork and the step at the
    first NaN/inf (else the model is marked failed, frozen, and the others continue).
    """

    def __init__(self, activations: Sequence[str] = ("relu",), seeds: Sequence[int] = (0,), hidden: int = 100,
                 lr: float = 0.01, fork_lr: float | None = None, init: str = "he", init_bias: bool = True,
                 stop_on_divergence: bool = True, dtype: str = "float32"):
        super().__init__()
        self.automatic_optimization = False
        self.activation_names = [check_activation(a, "model.activations") for a in activations]
        self.seeds = [int(s) for s in seeds]
        if not self.activation_names or not self.seeds:
            raise ConfigValueError("model.seeds", list(seeds), "at least one activation and one seed")
        options.check("model", lr=lr, fork_lr=fork_lr, dtype=dtype)
        self.models = [(a, s) for a in self.activation_names for s in self.seeds]
        self.hidden, self.lr, self.init, self.init_bias = int(hidden), float(lr), init, bool(init_bias)
        self.fork_lr = self.lr if fork_lr is None else float(fork_lr)
        self.stop_on_divergence = bool(stop_on_divergence)
        self.dtype_ = getattr(torch, dtype)
        self.phase1: StackBuffers | None = None
        self.forks: StackBuffers | None = None
        self.fork_specs = []  # data.Fork, set in setup
        self.failures: dict[str, str] = {}  # "activation/seed" -> message
        self.engine_seconds, self.model_steps = 0.0, 0  # time in the engine, per-sample steps done
        self.launch = {}  # (phase, models, steps, groups) -> engine.LaunchPlan (per launch, device)

    # -- set-up ---------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        if self.phase1 is not None:
            return
        dm = self.trainer.datamodule
        dm.setup(stage)
        self.fork_specs = list(dm.forks)
        sizes = (dm.input_size, self.hidden, dm.num_classes)
        acts = [a for a, _ in self.models]
        p1 = init_stack([s for _, s in self.models], acts, sizes, self.init, self.init_bias, self.dtype_)
        self.phase1 = StackBuffers(p1)
        F = len(self.fork_specs)
        self.forks = StackBuffers(p1.select([m for m in range(len(self.models)) for _ in range(F)]))
        self.register_buffer("forked", torch.zeros((), dtype=torch.bool))
        self.register_buffer("failed", torch.zeros(len(self.models), dtype=torch.bool))
        self.register_buffer("phase1_test_acc", torch.full((len(self.models),), float("nan")))

    def configure_optimizers(self):
        import warnings

        warnings.filterwarnings("ignore", message=r".*configure_optimizers.* returned `None`")
        return None  # the engine applies the SGD steps itself (manual optimization)

    def model_name(self, m: int) -> str:
        a, s = self.models[m]
        return f"{a}/seed{s}"

    def child_name(self, m: int) -> str:
        """The child run of stacked model ``m``: its folder ``<run>/runs/<activation>_seed<seed>``."""
        a, s = self.models[m]
        return f"{a}_seed{s}"

    def child_runs(self) -> list:
        """One child record per model when several are stacked (none for a single model), as if each
        had been run alone: ``activation=A seed=S`` (see :mod:`knowloc.children`)."""
        from knowloc.children import Child

        if len(self.models) < 2:
            return []
        failed = [bool(f) for f in self.failed] if hasattr(self, "failed") else [False] * len(self.models)
        return [Child(self.child_name(m), {"seed": s, "activation.name": a}, {"activation": a},
                      [f"activation={a}", f"seed={s}"], "failed" if failed[m] else "finished",
                      self.failures.get(self.model_name(m)) if failed[m] else None)
                for m, (a, s) in enumerate(self.models)]

    # -- training -------------------------------------------------------------------------------
    def training_step(self, batch, batch_idx):
        phase = batch["phase"]
        F = len(self.fork_specs)
        R = len(self.models)
        if phase == "forks" and not bool(self.forked):
            self._fork()
        dev = self.failed.device
        if phase == "phase1":
            stack, stream = self.phase1.stack(), torch.zeros(R, dtype=torch.long, device=dev)
            owner = torch.arange(R, device=dev)
        else:
            stack, stream = self.forks.stack(), torch.arange(F, device=dev).repeat(R)
            owner = torch.arange(R, device=dev).repeat_interleave(F)
        S = batch["x"].shape[0]
        if S == 1:
            x = batch["x"].expand(len(stream), -1, -1)
        else:
            x = batch["x"].index_select(0, stream)
        y, valid = batch["y"][stream], batch["valid"][stream]
        rate = self.lr if phase == "phase1" else self.fork_lr
        lr = valid.to(stack.W1.dtype) * rate * (~self.failed[owner]).unsqueeze(1).to(stack.W1.dtype)
        group = batch.get("tally_group")
        G = int(batch.get("tally_groups", 0)) if group is not None else 0
        key = (phase, len(stream), x.shape[1], G)
        if key not in self.launch:  # sized once per phase from the device's free memory
            self.launch[key] = launch_plan(len(stream), x.shape[1], x.shape[2], self.hidden, stack.W2.shape[1], G,
                                           stack.W1.dtype, stack.W1.device)
        plan = self.launch[key]
        t0 = time.perf_counter()
        res = sgd_steps(stack, x.contiguous(), y, lr, None if group is None else group[stream], G, plan=plan)
        if stack.W1.is_cuda:  # kernels are asynchronous: time them to their end
            torch.cuda.synchronize(stack.W1.device)
        self.engine_seconds += time.perf_counter() - t0
        self.model_steps += int((lr > 0).sum())
        self._check(res.bad_step, phase, batch["step"][stream], res.loss, owner)
        ok = valid & ~self.failed[owner].unsqueeze(1)
        n = ok.sum().clamp_min(1)
        loss = torch.where(ok, res.loss, 0.0).sum() / n  # failed models (NaN) left out
        acc = (res.correct & ok).sum().float() / n
        self.log(f"{phase}/loss", loss, on_step=True, on_epoch=True, batch_size=int(n))
        self.log(f"{phase}/acc", acc, on_step=False, on_epoch=True, batch_size=int(n))
        self.log("train/loss", loss, on_step=True, on_epoch=False, prog_bar=True, batch_size=int(n))
        if phase == "forks":  # each fork's online loss (mean over its models)
            for f, spec in enumerate(self.fork_specs):
                okf = ok[f::F]
                if okf.any():
                    self.log(f"forks/loss/{spec.key}", torch.where(okf, res.loss[f::F], 0.0).sum() / okf.sum(),
                             on_step=True, on_epoch=False, batch_size=int(okf.sum()))
        return {"loss": loss, "phase": phase, "tally": res.tally, "total": res.total}

    def _fork(self) -> None:
        """Copy every phase-1 model once per fork; note its held-out accuracy (phase-1 net)."""
        F = len(self.fork_specs)
        p1 = self.phase1.stack()
        idx = torch.arange(len(self.models), device=p1.W1.device).repeat_interleave(F)
        for k in ("W1", "b1", "W2", "b2"):
            getattr(self.forks, k).copy_(getattr(p1, k).index_select(0, idx))
        self.forked.fill_(True)
        x, y, _ = self.trainer.datamodule.test
        acc = (predict(p1, x).argmax(2) == y.to(p1.W1.device)).float().mean(1)
        self.phase1_test_acc.copy_(acc)
        self.log("phase1/test_acc", acc[~self.failed].mean() if (~self.failed).any() else acc.new_tensor(float("nan")))

    def _check(self, bad_step, phase, step, loss, owner) -> None:
        bad = torch.nonzero(bad_step >= 0).flatten().tolist()
        for i in sorted(bad, key=lambda i: (int(bad_step[i]), i)):  # the earliest first
            m = int(owner[i])
            if bool(self.failed[m]):
                continue
            t = int(bad_step[i])
            a, s = self.models[m]
            what = "phase 1" if phase == "phase1" else f"fork '{self.fork_specs[i % len(self.fork_specs)].name}'"
            msg = (f"{what} (activation {a}, seed {s}) diverged at step {int(step[i, t])} of "
                   f"{'phase 1' if phase == 'phase1' else 'the fork'}: loss = {float(loss[i, t])}")
            if self.stop_on_divergence:
                raise DivergenceError(msg)
            self.failed[m] = True
            self.failures.setdefault(self.model_name(m), msg)

    # -- evaluation -----------------------------------------------------------------------------
    def test_step(self, batch, batch_idx):
        """``test/acc``: the phase-1 nets on the test split (mean over models); with an official
        test split also ``test/acc/fork/<drop c>``: each fork on the test samples of its classes."""
        x, y, cls = batch
        ok = ~self.failed
        hit = (predict(self.phase1.stack(), x).argmax(2) == y).float().mean(1)
        if ok.any():
            self.log("test/acc", hit[ok].mean(), on_epoch=True, batch_size=len(y))
        if self.trainer.datamodule.test_is_official and bool(self.forked):
            logits = predict(self.forks.stack(), x)
            F = len(self.fork_specs)
            for f, spec in enumerate(self.fork_specs):
                keep = cls != spec.dropped
                sel = [m * F + f for m in range(len(self.models)) if not self.failed[m]]
                if sel and keep.any():
                    acc = (logits[sel][:, keep].argmax(2) == y[keep]).float().mean()
                    self.log(f"test/acc/fork/{spec.key}", acc, on_epoch=True, batch_size=int(keep.sum()))

    # -- checkpoints ----------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["localization_failures"] = dict(self.failures)

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.failures = dict(checkpoint.get("localization_failures", {}))
