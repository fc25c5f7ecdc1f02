"""Per unit x class statistics of one layer, accumulated with running sums, and the anomaly score.

For a training sample i of class c, a_iu is the value of unit u (:func:`~knowloc.neurons.trace.unit_values`)
and g_iu = dℓ_i/da_iu the gradient of the sample's own loss w.r.t. it. Over every training step
(samples count once per epoch they are seen), with n_c = the number of class-c samples seen:

* mean_act[u, c]      = Σ_{i∈c} a_iu / n_c
* mean_grad[u, c]     = Σ_{i∈c} g_iu / n_c
* mean_abs_grad[u, c] = Σ_{i∈c} |g_iu| / n_c
* fire_rate[u, c]     = #{i∈c: a_iu > 0} / n_c           (the unit *fires* when its value is > 0)
* grad_image[u, c]    = Σ_{i∈c} g_iu x_i / Σ_{i∈c} |g_iu|  (class-mean image weighted by the gradient)
* act_image[u, c]     = Σ_{i∈c} a_iu x_i / Σ_{i∈c} |a_iu|  (weighted by the activation)
* ``*_rectified``     = the same sums over the samples where the unit fires only
* top-k: the k training images with the largest |g_iu| (``topk_grad``), the largest a_iu
  (``topk_act``) and the largest unit-specific gradient (``topk_specific``) per unit and class,
  one entry per image (its largest value over training), kept as indices by a running merge. The
  specific gradient is the sample's |gradient| on the unit in excess of its average over the layer,
  as a ratio: s_iu = |g_iu| / mean_{u'} |g_iu'| (0 when the sample has no gradient). A hard example
  has large |g_iu| on every unit (its loss gradient is large) and would top the |g| list of most
  units; its s_iu is large only where its gradient is concentrated on u.

Anomaly score (:func:`anomaly_scores`): a class whose loss depends strongly on a unit although the
unit's activation for that class goes the other way from what the gradient asks for:

    ĝ[u, c] = mean_grad[u, c] / max_{u', c'} |mean_grad|        (gradient strength, layer-wide, in [-1, 1])
    ā[u]    = mean over classes c' of mean_act[u, c']            (the unit's class-average activation)
    â[u, c] = (mean_act[u, c] - ā[u]) / max_{u', c'} |mean_act[u', c'] - ā[u']|   (layer-wide, in [-1, 1])
    score[u, c] = |ĝ[u, c]| · (1 + sign(mean_grad[u, c]) · â[u, c]) / 2          in [0, 1]

mean_grad < 0 means the class's loss falls when the unit rises (the class asks for the unit up):
the score is highest when the unit is at its lowest for that class (â = -1), |ĝ|/2 when the class
gets the unit's average, 0 when it gets its highest; mean_grad > 0 mirrors it (the class asks for
the unit down). The activation is centred on the unit's own class average, so a strong positive and
a strong negative gradient are treated alike even after a ReLU (whose outputs are all >= 0):
score(-g, ā - (a - ā)) = score(g, a). It is scaled layer-wide, not by the unit's own maximum, so a
near-dead unit (tiny activations for every class) gets â ≈ 0 and the neutral |ĝ|/2: its tiny
differences are not inflated to a full-scale mismatch.
"""

from __future__ import annotations

import numpy as np
import torch

from knowloc.neurons.options import ANOMALY_SCORES, STATS_NODE

STATE_KEYS = ("count", "sum_act", "sum_grad", "sum_abs_grad", "fire", "img_grad", "img_act", "img_grad_rect",
              "img_act_rect", "norm_grad", "norm_act", "norm_grad_rect", "norm_act_rect",
              "topk_grad_value", "topk_grad_index", "topk_act_value", "topk_act_index",
              "topk_specific_value", "topk_specific_index", "steps")


def _merge_topk(values: torch.Tensor, index: torch.Tensor, new_values: torch.Tensor, new_index: torch.Tensor,
                k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge kept entries ``(..., k)`` with new ones ``(..., n)`` (index -1 = empty): the k
    largest along the last dimension, one entry per index."""
    v = torch.cat([values, new_values], -1)
    i = torch.cat([index, new_index], -1)
    v, order = v.sort(-1, descending=True)
    i = i.gather(-1, order)
    m = v.shape[-1]
    earlier = torch.ones(m, m, dtype=torch.bool).tril(-1)  # [j, l]: l < j
    dup = ((i.unsqueeze(-1) == i.unsqueeze(-2)) & earlier).any(-1) & (i >= 0)
    v = v.masked_fill(dup, float("-inf"))
    v, order = v.topk(k, -1)
    i = i.gather(-1, order)
    return v, i.masked_fill(torch.isinf(v), -1)


def _by_class(values: torch.Tensor, index: torch.Tensor, y: torch.Tensor, C: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, U)`` values and ``(N,)`` indices laid out as ``(U, C, n_max)`` per class (padded
    with -inf / -1)."""
    counts = torch.bincount(y, minlength=C)
    order = torch.argsort(y, stable=True)
    ys = y[order]
    pos = torch.arange(len(y)) - (counts.cumsum(0) - counts)[ys]
    n_max = int(counts.max()) if len(y) else 0
    v = torch.full((values.shape[1], C, n_max), float("-inf"))
    i = torch.full((values.shape[1], C, n_max), -1, dtype=torch.long)
    v[:, ys, pos] = values[order].T.float()
    i[:, ys, pos] = index[order].unsqueeze(0).expand(values.shape[1], -1)
    return v, i


class UnitClassStats:
    """Running sums for one layer (see module doc); ``images`` keeps the weighted image sums."""

    def __init__(self, num_units: int, num_classes: int, image_shape: tuple[int, ...] | None = None, k: int = 8):
        U, C = int(num_units), int(num_classes)
        self.num_units, self.num_classes, self.k = U, C, int(k)
        self.image_shape = tuple(image_shape) if image_shape is not None else None
        f64 = dict(dtype=torch.float64)
        self.count = torch.zeros(C, **f64)
        self.sum_act, self.sum_grad, self.sum_abs_grad, self.fire = (torch.zeros(U, C, **f64) for _ in range(4))
        P = int(np.prod(self.image_shape)) if self.image_shape else 0
        # image sums in float32 (they are images, and halve the checkpoint)
        self.img_grad, self.img_act, self.img_grad_rect, self.img_act_rect = (torch.zeros(U, C, P) for _ in range(4))
        self.norm_grad, self.norm_act, self.norm_grad_rect, self.norm_act_rect = (torch.zeros(U, C, **f64) for _ in range(4))
        for kind in ("grad", "act", "specific"):
            setattr(self, f"topk_{kind}_value", torch.full((U, C, self.k), float("-inf")))
            setattr(self, f"topk_{kind}_index", torch.full((U, C, self.k), -1, dtype=torch.long))
        self.steps = torch.zeros((), dtype=torch.long)

    @torch.no_grad()
    def update(self, act: torch.Tensor, grad: torch.Tensor, y: torch.Tensor, x: torch.Tensor | None = None,
               index: torch.Tensor | None = None) -> None:
        """Add a batch: unit values ``act`` and per-sample gradients ``grad`` ``(N, U)``, labels ``y``,
        inputs ``x`` (for the images) and sample indices ``index`` (for the top-k; None skips it)."""
        act, grad = act.detach().double(), grad.detach().double()
        y = y.long()
        onehot = torch.nn.functional.one_hot(y, self.num_classes).double()  # (N, C)
        fires = (act > 0).double()
        self.count += onehot.sum(0)
        self.sum_act += act.T @ onehot
        self.sum_grad += grad.T @ onehot
        self.sum_abs_grad += grad.abs().T @ onehot
        self.fire += fires.T @ onehot
        if self.image_shape and x is not None:
            xf = x.detach().reshape(len(x), -1).float()
            classes = [(c, y == c) for c in y.unique().tolist()]
            for img, norm, w in ((self.img_grad, self.norm_grad, grad), (self.img_act, self.norm_act, act),
                                 (self.img_grad_rect, self.norm_grad_rect, grad * fires),
                                 (self.img_act_rect, self.norm_act_rect, act * fires)):
                wf = w.float()
                for c, sel in classes:  # (U, n_c) @ (n_c, P)
                    img[:, c] += wf[sel].T @ xf[sel]
                norm += w.abs().T @ onehot
        if index is not None:
            index = index.long()
            for val, idx, new in ((self.topk_grad_value, self.topk_grad_index, grad.abs()),
                                  (self.topk_act_value, self.topk_act_index, act),
                                  (self.topk_specific_value, self.topk_specific_index, specific_gradient(grad))):
                nv, ni = _by_class(new, index, y, self.num_classes)
                v, i = _merge_topk(val, idx, nv, ni, self.k)
                val.copy_(v)
                idx.copy_(i)
        self.steps += 1

    # -- results -------------------------------------------------------------------------------
    def _per_sample(self, s: torch.Tensor) -> torch.Tensor:
        return s / self.count.where(self.count > 0, torch.nan)

    @staticmethod
    def _weighted(img: torch.Tensor, norm: torch.Tensor) -> torch.Tensor:
        return img.double() / norm.where(norm > 0, torch.nan).unsqueeze(-1)

    def summary(self, anomaly_score: str = "centred") -> dict[str, np.ndarray]:
        """The statistics as numpy arrays ([unit, class] / [unit, class, k] / [unit, class, *image]);
        ``anomaly_score``: the kind of :func:`anomaly_scores`."""
        out = {
            "counts": self.count.numpy(), "mean_act": self._per_sample(self.sum_act).numpy(),
            "mean_grad": self._per_sample(self.sum_grad).numpy(),
            "mean_abs_grad": self._per_sample(self.sum_abs_grad).numpy(),
            "fire_rate": self._per_sample(self.fire).numpy(),
            "topk_grad_index": self.topk_grad_index.numpy(), "topk_grad_value": self.topk_grad_value.numpy(),
            "topk_act_index": self.topk_act_index.numpy(), "topk_act_value": self.topk_act_value.numpy(),
            "topk_specific_index": self.topk_specific_index.numpy(),
            "topk_specific_value": self.topk_specific_value.numpy(),
            "steps": np.int64(self.steps.item()),
        }
        out["anomaly_score"] = anomaly_scores(out["mean_act"], out["mean_grad"], anomaly_score)
        if self.image_shape:
            shape = (self.num_units, self.num_classes, *self.image_shape)
            for name, img, norm in (("grad_image", self.img_grad, self.norm_grad),
                                    ("act_image", self.img_act, self.norm_act),
                                    ("grad_image_rectified", self.img_grad_rect, self.norm_grad_rect),
                                    ("act_image_rectified", self.img_act_rect, self.norm_act_rect)):
                out[name] = self._weighted(img, norm).float().numpy().reshape(shape)
        return out

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"num_units": self.num_units, "num_classes": self.num_classes, "k": self.k,
                "image_shape": self.image_shape, **{k: getattr(self, k).clone() for k in STATE_KEYS}}

    @classmethod
    def from_state_dict(cls, state: dict) -> "UnitClassStats":
        s = cls(state["num_units"], state["num_classes"], state["image_shape"], state["k"])
        for k in STATE_KEYS:
            if k in state:  # checkpoints from before topk_specific keep it empty
                setattr(s, k, state[k].clone())
        return s


def specific_gradient(grad: torch.Tensor) -> torch.Tensor:
    """``(N, U)`` s_iu = |g_iu| / mean_{u'} |g_iu'| (0 for a sample whose gradient is 0)."""
    a = grad.abs()
    m = a.mean(1, keepdim=True)
    return torch.where(m > 0, a / m.where(m > 0, torch.ones_like(m)), torch.zeros_like(a))


def anomaly_scores(mean_act: np.ndarray, mean_grad: np.ndarray, kind: str = "centred") -> np.ndarray:
    """``score[u, c] = |ĝ| · (1 + sign(mean_grad) · â) / 2``; 0 where a class has no sample.

    ``centred`` (default): â centred on the unit's class average and scaled layer-wide (see the
    module doc). ``unit_max`` (knowloc before issue 19, for comparison): â = mean_act[u, c] /
    max_{c'} |mean_act[u, c']|, not centred, scaled by the unit's own maximum (after a ReLU it
    favours positive gradients and inflates near-dead units)."""
    if kind not in ANOMALY_SCORES:
        from knowloc.errors import ConfigValueError

        raise ConfigValueError(STATS_NODE + "anomaly_score", kind, ANOMALY_SCORES)
    g = np.asarray(mean_grad, dtype=np.float64)
    a = np.asarray(mean_act, dtype=np.float64)
    ok = np.isfinite(g) & np.isfinite(a)
    g, a = np.where(ok, g, 0.0), np.where(ok, a, 0.0)
    gmax = np.abs(g).max() if g.size else 0.0
    ghat = g / gmax if gmax > 0 else np.zeros_like(g)
    if kind == "unit_max":
        amax = np.abs(a).max(1, keepdims=True)
        ahat = np.divide(a, amax, out=np.zeros_like(a), where=amax > 0)
        return np.abs(ghat) * (1 + np.sign(g) * ahat) / 2
    n = ok.sum(1, keepdims=True)
    abar = np.divide(a.sum(1, keepdims=True), n, out=np.zeros((len(a), 1)), where=n > 0)
    centred = np.where(ok, a - abar, 0.0)
    amax = np.abs(centred).max() if centred.size else 0.0
    ahat = centred / amax if amax > 0 else np.zeros_like(centred)
    return np.abs(ghat) * (1 + np.sign(g) * ahat) / 2


def anomaly_ranking(summary: dict, n: int = 20, top_images: str = "specific") -> list[dict]:
    """The ``n`` (unit, class) pairs with the highest anomaly score, with their statistics and
    top-k image indices (most anomalous first; ``top_specific_images``: the unit-specific ones;
    ``top_images`` = specific | gradient: which list is ``top_images``, the one shown)."""
    score = summary["anomaly_score"]
    order = np.argsort(-score, axis=None, kind="stable")[:n]
    rows = []
    for flat in order:
        u, c = np.unravel_index(flat, score.shape)
        g, a = summary["mean_grad"][u, c], summary["mean_act"][u, c]
        rows.append({"unit": int(u), "class": int(c), "score": float(score[u, c]), "mean_grad": float(g),
                     "mean_abs_grad": float(summary["mean_abs_grad"][u, c]), "mean_act": float(a),
                     "fire_rate": float(summary["fire_rate"][u, c]),
                     "top_specific_images": [int(i) for i in summary.get("topk_specific_index", summary["topk_grad_index"])[u, c]
                                             if i >= 0],
                     "top_grad_images": [int(i) for i in summary["topk_grad_index"][u, c] if i >= 0],
                     "top_act_images": [int(i) for i in summary["topk_act_index"][u, c] if i >= 0]})
        rows[-1]["top_images"] = rows[-1]["top_specific_images" if top_images == "specific" else "top_grad_images"]
    return rows
