"""``AlignmentSearch``: distributed alignment search (DAS) on a frozen equality network.

For every layer L, subspace size k and variable V (a=b, c=d, or both at once) a basis change R
of the layer's hidden space is learned so that interchange interventions in its subspace (see
:mod:`knowloc.alignment.interchange`) make the frozen network output the high-level model's
counterfactual label. The only trainable parameters are the rotations; all (restart, size,
variable) rotations of one layer are one batched (M, d, d) weight, trained in one pass over a
batch of pairs, with loss = sum over rotations of the mean cross-entropy on y*.

Joint ("both") rotations give a=b the coordinates [0, k) and c=d [k, 2k) and train on a mix of
interventions on a=b only, c=d only and both (one third each).

Evaluation on held-out triples (fresh items): IIA on all pairs and on label-changing pairs for
the selected rotation (restart with the best training-pair IIA when ``select=train_iia``, the
first restart when ``select=first``), every restart, and the identity / random baselines.
Artefacts and result names: see :mod:`knowloc.alignment.artefacts`.
"""

from __future__ import annotations

import logging
import warnings
from typing import Sequence

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn

from knowloc.alignment import baselines
from knowloc.alignment.options import BASELINES, KINDS, RANDOM_FROM, SEARCH, SEARCH_RULES, VARIABLES
from knowloc.alignment.fused import cayley_tail_loss
from knowloc.alignment.starts import data_starts
from knowloc.alignment.tail import relu_tail, tail_loss
from knowloc.alignment.interchange import (GATES, Rotations, base_label, counterfactual,
                                           forward_from, hidden_states, intervene, intervene_gated,
                                           intervene_orthogonal, random_orthogonal,
                                           subspace_masks)
from knowloc.errors import ConfigValueError
from knowloc.rules import check
from knowloc.seeds import seed_stream

log = logging.getLogger("knowloc")
#: batches between updates of the progress bar's loss and IIA (when a bar is shown)
PROGRESS_EVERY = 10


class AlignmentSearch(L.LightningModule):
    """Learns the rotations; ``network`` is the frozen equality net (see ``network.py``)."""

    def __init__(self, network: nn.Module, layers: Sequence[int] = (0, 1, 2), sizes: Sequence[int] = (1, 2, 4, 8),
                 variables: Sequence[str] = VARIABLES, rotations: Sequence[str] = ("orthogonal",),
                 restarts: int = 3, select: str = "train_iia", select_pairs: int = 2000, lr: float = 0.01,
                 baselines: Sequence[str] = BASELINES, exhaustive_limit: int = 13000, baseline_pairs: int = 1000,
                 seed: int = 0, init: str = "data", orthogonal_map: str = "cayley", lr_schedule: str = "cosine"):
        super().__init__()
        self.net = network
        self._epoch_hits, self._epoch_pairs = 0, 0  # this epoch's training hits and pairs
        self.layers = [int(x) for x in layers]
        self.sizes = [int(x) for x in sizes]
        self.variables = list(variables)
        self.kinds = list(rotations)
        self.restarts, self.select, self.select_pairs = int(restarts), str(select), int(select_pairs)
        self.lr, self.baselines = float(lr), list(baselines)
        self.init, self.orthogonal_map, self.lr_schedule = str(init), str(orthogonal_map), str(lr_schedule)
        self.exhaustive_limit, self.baseline_pairs, self.seed = int(exhaustive_limit), int(baseline_pairs), int(seed)
        # raised in setup(), outside Hydra's instantiate, so the user gets one line
        self._config_error: ConfigValueError | None = None
        try:
            self._check()
        except ConfigValueError as e:
            self._config_error = e
            return
        widths = list(getattr(network, "sizes", []))
        self.width = {layer: widths[layer] for layer in self.layers}
        # per layer: the (size, variable) configs; rotation index = restart * n_configs + config
        self.configs = {layer: [(k, v) for k in self.sizes for v in self.variables
                                if k * (2 if v == "both" else 1) <= self.width[layer]] for layer in self.layers}
        g = seed_stream(self.seed, "alignment/starts")
        self.rot = nn.ModuleDict()
        for layer in self.layers:
            cf = self.configs[layer]
            m_ab, m_cd = subspace_masks([k for k, _ in cf], [v for _, v in cf], self.width[layer])
            self.register_buffer(f"m_ab_{layer}", m_ab.repeat(self.restarts, 1), persistent=False)
            self.register_buffer(f"m_cd_{layer}", m_cd.repeat(self.restarts, 1), persistent=False)
            for kind in self.kinds:
                self.rot[f"{kind}_{layer}"] = Rotations(self.restarts * len(cf), self.width[layer], kind, g,
                                                        self.orthogonal_map)
        self.info = dict(getattr(network, "alignment_info", {}))
        self._train_h: dict[int, torch.Tensor] | None = None
        self._uses_cd, self._joint = {}, {}
        # frozen Linear/ReLU tails after each layer: the loss with its hand-derived gradient (alignment.tail)
        self._tails = {layer: relu_tail(network, layer) for layer in self.layers}
        for layer in self.layers:
            cf = self.configs[layer] * self.restarts
            # per rotation: the fixed gates of a=b / c=d rotations and which ones are joint (buffers, so
            # they follow the module's device)
            self.register_buffer(f"g_ab_{layer}", torch.tensor([float(v == "ab") for _, v in cf]), persistent=False)
            self.register_buffer(f"g_cd_{layer}", torch.tensor([float(v == "cd") for _, v in cf]), persistent=False)
            self.register_buffer(f"joint_{layer}", torch.tensor([v == "both" for _, v in cf]), persistent=False)
            self._uses_cd[layer] = any(v != "ab" for _, v in cf)
            self._joint[layer] = any(v == "both" for _, v in cf)

    def _check(self) -> None:
        """The network must be an MLP; the options follow :data:`knowloc.alignment.options.SEARCH_RULES`
        (the preflight's rules); layers and sizes must exist in this network."""
        net = self.net
        widths = list(getattr(net, "sizes", []))
        if len(widths) < 3:
            raise ConfigValueError("model.network", type(net).__name__, "an MLP with at least one hidden layer")
        # every option the module holds, under its own name (rotations: self.kinds)
        values = {key: getattr(self, key) for key in SEARCH_RULES if key in vars(self)}
        check({**values, "rotations": self.kinds}, SEARCH_RULES, SEARCH)
        hidden = list(range(0, len(widths) - 1))
        for layer in self.layers:
            if layer not in hidden:
                raise ConfigValueError("alignment.layers", self.layers,
                                       f"layers among {hidden} (0: the input embeddings, L >= 1: output of actL)")
        for k in self.sizes:
            if not 1 <= k <= max(widths[1:-1]):
                raise ConfigValueError("alignment.sizes", self.sizes, f"sizes in [1, {max(widths[1:-1])}]")

    def setup(self, stage: str) -> None:
        if self._config_error is not None:
            raise self._config_error
        # the searched network is frozen in eval mode on purpose; only the rotations train
        warnings.filterwarnings("ignore", message=r"Found \d+ module\(s\) in eval mode")
        if stage == "fit":
            train = self.trainer.datamodule.train_split
            self.cache_hidden_states(train)
            if self.init == "data":
                self.start_from_data(train)

    @torch.no_grad()
    def cache_hidden_states(self, train) -> None:
        """The frozen network's hidden states of every training triple, computed once: a training batch
        that carries its triples' ``index`` looks them up instead of running the network's prefix."""
        x = train.x.to(self.device).transpose(0, 1)
        # kept as (N, 3, d): a batch is one index_select along the first dimension
        self._train_h = {k: h.transpose(0, 1).contiguous() for k, h in hidden_states(self.net, x, self.layers).items()}
        # and, for layers without joint rotations (fixed gates), the counterfactual labels y* (M, N)
        ab, cd = train.ab.to(self.device), train.cd.to(self.device)
        self._train_y = {layer: counterfactual(ab, cd, *self._gates(layer, len(ab))) for layer in self.layers
                         if not self._joint[layer]}

    def on_fit_start(self) -> None:
        if getattr(self, "_train_h", None) is not None:  # the module has moved to its device by now
            self._train_h = {k: v.to(self.device) for k, v in self._train_h.items()}
            self._train_y = {k: v.to(self.device) for k, v in self._train_y.items()}

    @torch.no_grad()
    def start_from_data(self, train) -> None:
        """Replace restarts 0 and 1 of every rotation by data starts (:mod:`knowloc.alignment.starts`).

        Runs in ``setup("fit")``, before the optimiser exists and before a checkpoint is restored, so
        a resumed search continues from its checkpoint, not from the start."""
        cache = getattr(self, "_train_h", None)
        hs = ({k: h.transpose(0, 1) for k, h in cache.items()} if cache
              else hidden_states(self.net, train.x.transpose(0, 1), self.layers))
        for layer in self.layers:
            configs = self.configs[layer]
            for kind in self.kinds:
                key = f"{kind}_{layer}"
                base = self.rot[key]()[0].detach()
                start = data_starts(hs[layer], train.ab, train.cd, configs, base)
                self.rot[key] = Rotations(len(start), self.width[layer], kind, None, self.orthogonal_map, start)

    # -- training --------------------------------------------------------------------------------
    def _gates(self, layer: int, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(g_ab, g_cd) on the module's device: (M, 1) when every rotation's gates are fixed (a=b or
        c=d alone); (M, n) with joint rotations, each drawing one of (1, 0), (0, 1), (1, 1) per pair
        (from a CPU generator on every device, so a GPU run sees the same draws as a CPU run)."""
        fixed_ab, fixed_cd = getattr(self, f"g_ab_{layer}"), getattr(self, f"g_cd_{layer}")
        if not self._joint[layer]:
            return fixed_ab[:, None], fixed_cd[:, None]
        joint = getattr(self, f"joint_{layer}")
        # drawn from (seed, step) on the CPU, not the global stream: the same search gives the same gates
        # whether or not the network was trained in the same job, on every device, and a resumed
        # search continues the sequence
        g = seed_stream(self.seed, "alignment/gates", self.global_step)
        t = torch.randint(0, 3, (n,), generator=g, device="cpu").to(self.device)
        g_ab = torch.where(joint[:, None], (t != 1).float(), fixed_ab[:, None])
        g_cd = torch.where(joint[:, None], (t != 0).float(), fixed_cd[:, None])
        return g_ab, g_cd

    def training_step(self, batch, batch_idx):
        x, ab, cd, *index = batch
        cache = getattr(self, "_train_h", None)
        cached = bool(index) and cache is not None
        if cached:
            hs = {layer: cache[layer].index_select(0, index[0]).transpose(0, 1) for layer in self.layers}
        else:
            with torch.no_grad():
                hs = hidden_states(self.net, x.transpose(0, 1), self.layers)
        total, hits, count = None, None, 0
        for layer in self.layers:
            g_ab, g_cd = self._gates(layer, len(ab))
            labels = self._train_y.get(layer) if cached else None
            y = labels.index_select(1, index[0]) if labels is not None else counterfactual(ab, cd, g_ab, g_cd)
            m_ab, m_cd = getattr(self, f"m_ab_{layer}"), getattr(self, f"m_cd_{layer}")
            use_cd = self._uses_cd[layer]
            for kind in self.kinds:
                rot, tail = self.rot[f"{kind}_{layer}"], self._tails[layer]
                if rot.cayley and tail is not None:  # Cayley map, intervention and tail as one node (alignment.fused)
                    ce, logits = cayley_tail_loss(*rot.cayley_parameter(), hs[layer], m_ab, m_cd, g_ab, g_cd,
                                                  use_cd, y, tail)
                else:
                    R, back = rot()
                    # orthogonal: the same h' with the closed-form gradient in R (interchange.intervene_orthogonal)
                    h = (intervene_orthogonal(hs[layer], R, m_ab, m_cd, g_ab, g_cd, use_cd) if kind == "orthogonal"
                         else intervene_gated(hs[layer], R, back, m_ab, m_cd, g_ab, g_cd, use_cd))
                    if tail is not None:
                        ce, logits = tail_loss(h, y, tail)
                    else:
                        logits = forward_from(self.net, layer, h)
                        ce = F.cross_entropy(logits.flatten(0, 1), y.flatten()) * y.shape[0]
                hit = (logits.detach().argmax(-1) == y).sum()
                total, hits = (ce, hit) if total is None else (total + ce, hits + hit)
                count += y.numel()
        loss = total / max(1, sum(len(c) for c in self.configs.values()) * self.restarts * len(self.kinds))
        self.log("alignment/train_loss", loss, on_step=True, on_epoch=True, batch_size=len(ab))
        # the epoch's training IIA = all hits / all pairs, summed on the device and logged once an epoch
        # (each self.log call costs Lightning more than a whole step of the search)
        self._epoch_hits, self._epoch_pairs = self._epoch_hits + hits, self._epoch_pairs + count
        if batch_idx % PROGRESS_EVERY == 0 and self._bar_shown():  # short names, for the progress bar only
            self.log_dict({"loss": loss, "train_iia": hits / max(1, count)}, prog_bar=True, logger=False,
                          on_step=True, on_epoch=False, batch_size=len(ab))
        return total

    def _bar_shown(self) -> bool:
        if self._trainer is None:
            return False
        bar = self.trainer.progress_bar_callback
        return bar is not None and bar.is_enabled

    def on_train_epoch_start(self) -> None:
        self._epoch_hits, self._epoch_pairs = 0, 0

    def on_train_epoch_end(self) -> None:
        if self._epoch_pairs:
            self.log("alignment/train_iia_mean", self._epoch_hits / self._epoch_pairs, on_step=False, on_epoch=True)

    def configure_optimizers(self):
        from knowloc.optim import Adam

        opt = Adam(self.rot.parameters(), lr=self.lr)
        if self.lr_schedule == "constant" or self._trainer is None or not self.trainer.max_epochs:
            return opt
        # cosine decay to 0 over the run's epochs: a search started next to a subspace settles into it
        # instead of circling it at the initial step size
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, int(self.trainer.max_epochs)))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    # -- evaluation ------------------------------------------------------------------------------
    @torch.no_grad()
    def _score(self, layer: int, h: torch.Tensor, ab, cd, R, back, m_ab, m_cd, g_ab, g_cd) -> torch.Tensor:
        """Counts (E, 4): hits on all pairs, pairs, hits on label-changing pairs, changing pairs."""
        y = counterfactual(ab, cd, g_ab[:, None], g_cd[:, None])
        ma = (m_ab * g_ab[:, None])[:, None, :]
        mc = (m_cd * g_cd[:, None])[:, None, :]
        pred = forward_from(self.net, layer, intervene(h, R, back, ma, mc)).argmax(-1)
        hit = (pred == y).float()
        changed = (y != base_label(ab, cd)).float()
        return torch.stack([hit.sum(1), torch.full_like(hit[:, 0], hit.shape[1]), (hit * changed).sum(1),
                            changed.sum(1)], 1)

    def _entries(self, layer: int, train) -> list[dict]:
        """Every (method, rotation, masks, target) evaluated on held-out pairs for ``layer``."""
        cf = self.configs[layer]
        n_cf = len(cf)
        d = self.width[layer]
        m_ab, m_cd = getattr(self, f"m_ab_{layer}"), getattr(self, f"m_cd_{layer}")
        dev = self.device  # the interchange data stay on the CPU in the data module
        hs = hidden_states(self.net, train.x[: self.select_pairs].to(dev).transpose(0, 1), [layer])[layer]
        ab, cd = train.ab[: self.select_pairs].to(dev), train.cd[: self.select_pairs].to(dev)
        entries = []
        for kind in self.kinds:
            R, back = (t.detach() for t in self.rot[f"{kind}_{layer}"]())
            g_ab = torch.tensor([GATES[v][0] for _, v in cf * self.restarts], dtype=torch.float, device=dev)
            g_cd = torch.tensor([GATES[v][1] for _, v in cf * self.restarts], dtype=torch.float, device=dev)
            c = self._score(layer, hs, ab, cd, R, back, m_ab, m_cd, g_ab, g_cd)
            train_iia = (c[:, 0] / c[:, 1]).view(self.restarts, n_cf)
            chosen = (train_iia.argmax(0) if self.select == "train_iia"
                      else torch.zeros(n_cf, dtype=torch.long, device=dev))
            # with data starts (restarts 0, 1), the random restarts (2, ...) alone are the random-start
            # search, reported beside it as "<method>_random_start" (selected the same way among them)
            first_random = RANDOM_FROM if self.init == "data" else 0
            chosen_random = None
            if self.init == "data" and self.restarts > RANDOM_FROM:
                tail = train_iia[RANDOM_FROM:]
                chosen_random = (tail.argmax(0) if self.select == "train_iia"
                                 else torch.zeros(n_cf, dtype=torch.long, device=dev)) + first_random
            method = KINDS[kind]
            for r in range(self.restarts):
                for j, (k, v) in enumerate(cf):
                    i = r * n_cf + j
                    targets = [v] if v != "both" else ["both", "ab", "cd"]
                    variants = [(method, bool(chosen[j] == r))]
                    if chosen_random is not None and bool(chosen_random[j] == r):
                        variants.append((method + "_random_start", True))
                    for name, selected in variants:
                        for t in targets:
                            joint = "_joint" if v == "both" and t != "both" else ""
                            entries.append({"layer": layer, "size": k, "variable": t, "restart": r,
                                            "method": name.replace(method, method + joint, 1),
                                            "selected": selected, "train_iia": float(train_iia[r, j])
                                            if t == v else None, "R": R[i], "back": back[i], "m_ab": m_ab[i],
                                            "m_cd": m_cd[i], "gates": GATES[t]})
        if "random" in self.baselines:
            g = seed_stream(self.seed, "alignment/random_baseline", layer)
            Q = random_orthogonal(n_cf, d, g).to(dev)
            for j, (k, v) in enumerate(cf):
                entries.append({"layer": layer, "size": k, "variable": v, "restart": 0, "method": "random",
                                "selected": True, "train_iia": None, "R": Q[j], "back": Q[j].T,
                                "m_ab": m_ab[j], "m_cd": m_cd[j], "gates": GATES[v]})
        if "identity" in self.baselines:
            n = self.baseline_pairs
            hb = hidden_states(self.net, train.x[:n].to(dev).transpose(0, 1), [layer])[layer]
            eye = torch.eye(d, device=dev)
            for k in sorted({k for k, _ in cf}):
                found = baselines.identity_baseline(self.net, layer, hb, train.ab[:n].to(dev), train.cd[:n].to(dev), k,
                                                    self.exhaustive_limit)
                for v in self.variables:
                    if v in found:
                        a, c, tr, how = found[v]
                        entries.append({"layer": layer, "size": k, "variable": v, "restart": 0,
                                        "method": "identity", "selected": True, "train_iia": tr, "R": eye,
                                        "back": eye, "m_ab": a, "m_cd": c, "gates": GATES[v],
                                        "neurons": " ".join(str(i) for i in torch.nonzero(a + c).flatten().tolist()),
                                        "search": how})
        return entries

    def on_test_start(self) -> None:
        train = self.trainer.datamodule.train_split
        self._eval = {layer: self._entries(layer, train) for layer in self.layers}
        self._counts = {layer: torch.zeros(len(e), 4, device=self.device) for layer, e in self._eval.items()}

    def test_step(self, batch, batch_idx):
        x, ab, cd = batch
        hs = hidden_states(self.net, x.transpose(0, 1), self.layers)
        for layer, entries in self._eval.items():
            st = {k: torch.stack([e[k] for e in entries]) for k in ("R", "back", "m_ab", "m_cd")}
            g_ab = torch.tensor([float(e["gates"][0]) for e in entries], device=hs[layer].device)
            g_cd = torch.tensor([float(e["gates"][1]) for e in entries], device=hs[layer].device)
            self._counts[layer] += self._score(layer, hs[layer], ab, cd, st["R"], st["back"], st["m_ab"],
                                               st["m_cd"], g_ab, g_cd)

    def on_test_epoch_end(self) -> None:
        from knowloc.alignment import artefacts

        rows = []
        for layer, entries in self._eval.items():
            for e, c in zip(entries, self._counts[layer].cpu()):
                row = {k: v for k, v in e.items() if k not in ("R", "back", "m_ab", "m_cd", "gates")}
                row.update(iia_all=float(c[0] / c[1]), iia_changed=float(c[2] / c[3]) if c[3] > 0 else float("nan"),
                           n_pairs=int(c[1]), n_changed=int(c[3]))
                rows.append(row)
        artefacts.write(self.trainer, rows, self.info, self.restarts, self.select)
