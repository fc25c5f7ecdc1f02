"""Baselines of the alignment search, scored with the same interventions as the learned rotation.

* identity (neuron-aligned): the subspace is a set S of k neurons (R = I, mask = 1_S). S is the
  best set by training-pair IIA: exhaustive over all C(d, k) sets when C(d, k) <= ``limit``,
  else greedy (add the neuron that raises training IIA most, k times). For both variables at
  once: S_ab as for a=b, then S_cd the best set for c=d among the neurons outside S_ab.
* random: a Haar-random rotation with the same subspace masks, not trained.
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import nn

from knowloc.alignment.interchange import activation_index, counterfactual, forward_from


@torch.no_grad()
def neuron_iia(net: nn.Module, layer: int, h: torch.Tensor, ab: torch.Tensor, cd: torch.Tensor,
               m_ab: torch.Tensor, m_cd: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
    """IIA (all pairs) of P neuron-mask pairs (m_ab, m_cd: (P, d)); gates follow the masks
    (a non-empty m_ab takes V_ab from source_ab, likewise for c=d).

    h' = h_b + m_ab * (h_s1 - h_b) + m_cd * (h_s2 - h_b). When the next module is a Linear
    (W, b), its pre-activation is computed as z' = (h_b W^T + b) + (h_s1 - h_b) (m_ab * W^T) + ...,
    with the masks folded into the small d x d' weight instead of a (P, n, d) copy of the pairs."""
    hb, d1, d2 = h[0], h[1] - h[0], h[2] - h[0]
    start = activation_index(net, layer) + 1
    rest = list(net._modules.values())[start:]
    first = rest[0] if rest and isinstance(rest[0], nn.Linear) else None
    use_ab, use_cd = bool(m_ab.any()), bool(m_cd.any())
    if first is not None:
        zb = first(hb)
        wt = first.weight.T  # (d, d')
    out = []
    for i in range(0, len(m_ab), chunk):
        a, c = m_ab[i:i + chunk], m_cd[i:i + chunk]
        y = counterfactual(ab, cd, (a.sum(-1) > 0).long()[:, None], (c.sum(-1) > 0).long()[:, None])
        if first is not None:
            z = zb.expand(len(a), *zb.shape)
            if use_ab:
                z = z + d1 @ (a[:, :, None] * wt)
            if use_cd:
                z = z + d2 @ (c[:, :, None] * wt)
            for m in rest[1:]:
                z = m(z)
        else:
            z = forward_from(net, layer, hb + a[:, None] * d1 + c[:, None] * d2)
        out.append((z.argmax(-1) == y).to(h.dtype).mean(1))
    return torch.cat(out)


def _masks(sets, d: int, like: torch.Tensor) -> torch.Tensor:
    """0/1 masks (len(sets), d) on the device and dtype of ``like`` (the hidden states)."""
    m = like.new_zeros(len(sets), d)
    for i, s in enumerate(sets):
        m[i, list(s)] = 1
    return m


def best_neurons(net, layer, h, ab, cd, k: int, variable: str, limit: int = 13000,
                 allowed: list[int] | None = None) -> tuple[torch.Tensor, float, str]:
    """(mask (d,), training IIA, "exhaustive" | "greedy") of the best k-neuron set for one
    variable ("ab" or "cd"), among ``allowed`` neurons (default all)."""
    d = h.shape[-1]
    pool = list(range(d)) if allowed is None else list(allowed)
    zero = h.new_zeros(1, d)

    def score(masks):
        z = zero.expand(len(masks), d)
        return neuron_iia(net, layer, h, ab, cd, masks if variable == "ab" else z, z if variable == "ab" else masks)

    if math.comb(len(pool), k) <= limit:
        sets = list(itertools.combinations(pool, k))
        s = score(_masks(sets, d, h))
        i = int(s.argmax())
        return _masks([sets[i]], d, h)[0], float(s[i]), "exhaustive"
    chosen: list[int] = []
    best = 0.0
    for _ in range(k):
        cands = [c for c in pool if c not in chosen]
        s = score(_masks([chosen + [c] for c in cands], d, h))
        i = int(s.argmax())
        chosen.append(cands[i])
        best = float(s[i])
    return _masks([chosen], d, h)[0], best, "greedy"


def identity_baseline(net, layer, h, ab, cd, k: int, limit: int = 13000) -> dict:
    """Neuron masks for each target: {"ab": (m_ab, m_cd, train_iia, how), "cd": ..., "both": ...}."""
    d = h.shape[-1]
    zero = h.new_zeros(d)
    m_ab, iia_ab, how_ab = best_neurons(net, layer, h, ab, cd, k, "ab", limit)
    m_cd, iia_cd, how_cd = best_neurons(net, layer, h, ab, cd, k, "cd", limit)
    out = {"ab": (m_ab, zero, iia_ab, how_ab), "cd": (zero, m_cd, iia_cd, how_cd)}
    if 2 * k <= d:
        rest = torch.nonzero(m_ab == 0).flatten().tolist()
        m_cd2, _, how = best_neurons(net, layer, h, ab, cd, k, "cd", limit, allowed=rest)
        both = float(neuron_iia(net, layer, h, ab, cd, m_ab[None], m_cd2[None])[0])
        out["both"] = (m_ab, m_cd2, both, f"{how_ab}+{how}")
    return out

