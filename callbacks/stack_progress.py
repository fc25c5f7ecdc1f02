"""``StackProgress``: progress of a stacked job (``experiment=localization_stack``) over its models
and phases.

A stacked job trains M models (activations x seeds) and their forks in one Lightning run, phase by
phase (``batch["phase"]``: ``phase1``, then ``forks``). With Lightning's progress bar the bar's
description names the phase and the models; without a bar (multirun jobs,
``trainer.enable_progress_bar=false``) it prints a line when a phase starts, every ``every`` of the
batches, and at the end::

    knowloc stack: phase forks starts at batch 38/150: 4 models (relu, sigmoid x seeds 0, 4), 4 forks each
    knowloc stack: 75/150 batches done (50%), now phase forks, 4 models, 0:00:31 elapsed, about 0:00:31 left

Time left = elapsed · (N - b) / b over the N batches of the run (chunks of phases differ in cost).
"""

from __future__ import annotations

import sys
import time

import lightning as L

PREFIX = "knowloc stack:"


def _hms(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class StackProgress(L.Callback):
    """``every``: fraction of the batches between progress lines when there is no progress bar."""

    def __init__(self, every: float = 0.1):
        self.every = float(every)
        self.phase: str | None = None
        self.started = 0.0
        self.next_report = 0

    def _models(self, pl_module) -> str:
        models = getattr(pl_module, "models", None) or []
        acts = list(dict.fromkeys(a for a, _ in models))
        seeds = list(dict.fromkeys(str(s) for _, s in models))
        return f"{len(models)} models ({', '.join(acts)} x seeds {', '.join(seeds)})" if models else "1 model"

    @staticmethod
    def _shown(trainer) -> bool:
        bar = trainer.progress_bar_callback
        return bar is not None and bar.is_enabled

    def _bar(self, trainer):
        """Lightning's tqdm bar (``set_description``/``write``); None without a bar, and for a rich bar
        (whose task has neither: it gets the lines on stdout, which rich prints above the bar)."""
        bar = getattr(trainer.progress_bar_callback, "train_progress_bar", None) if self._shown(trainer) else None
        return bar if hasattr(bar, "set_description") and hasattr(bar, "write") else None

    def on_train_start(self, trainer, pl_module) -> None:
        self.started, self.phase, self.next_report = time.time(), None, 0

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        phase = batch.get("phase") if isinstance(batch, dict) else None
        total = trainer.num_training_batches
        n_models = len(getattr(pl_module, "models", None) or [1])
        bar = self._bar(trainer)
        if bar is not None:
            bar.set_description(f"{phase or 'training'} · {n_models} models")
        if phase != self.phase:
            self.phase = phase
            forks = len(getattr(pl_module, "fork_specs", None) or [])
            extra = f", {forks} forks each" if phase == "forks" and forks else ""
            self._say(f"phase {phase} starts at batch {batch_idx + 1}/{total}: {self._models(pl_module)}{extra}", bar)
        if not self._shown(trainer) and isinstance(total, int) and batch_idx >= self.next_report and batch_idx > 0:
            elapsed = time.time() - self.started
            print(f"{PREFIX} {batch_idx}/{total} batches done ({batch_idx / total:.0%}), now phase {phase}, {n_models} models, "
                  f"{_hms(elapsed)} elapsed, about {_hms(elapsed * (total - batch_idx) / batch_idx)} left",
                  flush=True)
        if isinstance(total, int) and batch_idx >= self.next_report:
            self.next_report = batch_idx + max(1, int(self.every * total))

    def on_train_end(self, trainer, pl_module) -> None:
        self._say(f"trained {self._models(pl_module)} in {_hms(time.time() - self.started)}", self._bar(trainer))

    def _say(self, text: str, bar) -> None:
        if bar is not None:
            bar.write(f"{PREFIX} {text}")
        else:
            print(f"{PREFIX} {text}", file=sys.stdout, flush=True)

    def state_dict(self) -> dict:
        return {"phase": self.phase}

    def load_state_dict(self, state_dict: dict) -> None:
        self.phase = state_dict.get("phase")
