"""Interchange interventions on a frozen MLP, batched over pairs and over rotations.

Layer ``L`` of an :class:`~knowloc.models.MLP` is the output of ``act{L}``; layer 0 is the input
itself (the concatenated item embeddings ``[a, b, c, d]``, flattened). With a basis change
``R`` (rows = new basis vectors; orthogonal, or any invertible map) and 0/1 masks ``m_ab``,
``m_cd`` that mark the subspace of each variable in the new coordinates, the intervened hidden
vector is

    h' = h_b + R^{-1} ( m_ab * R (h_s1 - h_b) + m_cd * R (h_s2 - h_b) )

so the coordinates of ``h_b`` inside the subspaces are replaced by those of the sources ``s1``
(for a=b) and ``s2`` (for c=d) and everything else is kept (R^{-1} = R^T when R is orthogonal).
The high-level model is ``y = (V_ab = V_cd)``; with the variable ``V_ab`` taken from ``s1``
(gate g_ab = 1) and/or ``V_cd`` from ``s2`` (g_cd = 1) its counterfactual label is

    y* = ((g_ab ? ab(s1) : ab(b)) = (g_cd ? cd(s2) : cd(b)))

Interchange-intervention accuracy IIA = mean[argmax net(h') = y*], on all pairs, and on the
label-changing pairs only (y* != y(b)), where a no-op scores 0.

At the last hidden layer the rest of the network is linear, so the intervened logit is
A(h_b) + B(h_s1) + B'(h_s2): an additive function cannot express XNOR of a source variable and a
base variable, and IIA on all pairs is at most 0.75 there, whatever the subspace.
"""

from __future__ import annotations

import torch
from torch import nn

from knowloc.alignment.cayley import cayley_rotation
from knowloc.alignment.options import KINDS
from knowloc.seeds import seed_stream

#: gates (g_ab, g_cd) of each intervention target
GATES = {"ab": (1, 0), "cd": (0, 1), "both": (1, 1)}


def activation_index(net: nn.Sequential, layer: int) -> int:
    """Position of ``act{layer}`` in the net's children; for layer 0 (the input) the position of
    the leading ``Flatten`` (-1 when there is none), so that layer 0's output is the input."""
    names = list(net._modules)
    if layer == 0:
        return names.index("flatten") if names and names[0] == "flatten" else -1
    name = f"act{layer}"
    if name not in names:
        hidden = [n for n in names if n.startswith("act")]
        raise ValueError(f"layer {layer}: the network has no {name} (hidden layers: {', '.join(hidden)})")
    return names.index(name)


def hidden_states(net: nn.Sequential, x: torch.Tensor, layers) -> dict[int, torch.Tensor]:
    """Outputs of ``act{L}`` for each L in ``layers`` in one forward pass (any leading dims);
    layer 0 is ``x`` itself."""
    want = {activation_index(net, layer): layer for layer in layers}
    out, h = {}, x
    if -1 in want:
        out[want[-1]] = x
    for i, m in enumerate(net.children()):
        if len(out) == len(want):
            break
        if not isinstance(m, nn.Flatten):
            h = m(h)
        if i in want:
            out[want[i]] = h
    return out


def forward_from(net: nn.Sequential, layer: int, h: torch.Tensor) -> torch.Tensor:
    """The rest of the network after ``act{layer}`` (after the input for layer 0) applied to
    ``h`` (any leading dims)."""
    start = activation_index(net, layer) + 1
    for m in list(net._modules.values())[start:]:
        h = m(h)
    return h


def intervene(h: torch.Tensor, R: torch.Tensor, back: torch.Tensor, m_ab: torch.Tensor,
              m_cd: torch.Tensor) -> torch.Tensor:
    """``h'`` of the module docstring for M rotations at once.

    h: (3, n, d) hidden vectors of base, source_ab, source_cd; R, back: (M, d, d) with
    ``back = R^{-1}``; m_ab, m_cd: masks (M, n, d) or (M, 1, d). Returns (M, n, d).
    """
    hb = h[0]
    z = m_ab * torch.einsum("nd,med->mne", h[1] - hb, R)
    if bool(m_cd.any()):  # skipped when no rotation intervenes on c=d
        z = z + m_cd * torch.einsum("nd,med->mne", h[2] - hb, R)
    return hb + torch.einsum("mne,mde->mnd", z, back)


def projector(R: torch.Tensor, back: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """P = R^T diag(m) R^{-T} (M, d, d) for row vectors: ``delta @ P`` moves ``delta`` into the masked
    subspace, i.e. the ``R^{-1}(m * R delta)`` of the module docstring as one matrix (m: (M, d))."""
    return (R.transpose(-1, -2) * m[:, None, :]) @ back.transpose(-1, -2)


def intervene_gated(h: torch.Tensor, R: torch.Tensor, back: torch.Tensor, m_ab: torch.Tensor, m_cd: torch.Tensor,
                    g_ab: torch.Tensor, g_cd: torch.Tensor, use_cd: bool = True) -> torch.Tensor:
    """``h'`` of the module docstring with the per-pair gates kept apart from the masks:

        h' = h_b + g_ab * ((h_s1 - h_b) P_ab) + g_cd * ((h_s2 - h_b) P_cd)

    h: (3, n, d); R, back: (M, d, d); m_ab, m_cd: (M, d) masks; g_ab, g_cd: (M, n) gates, or (M, 1)
    when each rotation's gate is the same for every pair (then folded into its projector). Equal to
    :func:`intervene` with masks ``m * g``, in fewer and cheaper operations (the projectors are
    d x d, built once per step). ``use_cd=False`` skips the c=d term (no rotation gates it on)."""
    hb = h[0]
    out = hb + _gated_term(h[1] - hb, R, back, m_ab, g_ab)
    if use_cd:
        out = out + _gated_term(h[2] - hb, R, back, m_cd, g_cd)
    return out


def _gated_term(delta: torch.Tensor, R: torch.Tensor, back: torch.Tensor, m: torch.Tensor, g: torch.Tensor):
    """g * (delta P) with P = ``projector(R, back, m)`` (one term of :func:`intervene_gated`)."""
    if g.shape[-1] == 1:  # one gate per rotation: scale the (d, d) projector, not the (n, d) pairs
        return delta @ projector(R, back, m * g)
    return g[..., None] * (delta @ projector(R, back, m))


def orthogonal_forward(R, h, m_ab, m_cd, g_ab, g_cd, use_cd) -> tuple[torch.Tensor, tuple]:
    """(h' of :func:`intervene_gated` with back = R^T, the differences to the base that
    :func:`orthogonal_backward` needs)."""
    hb, back = h[0], R.transpose(-1, -2)
    deltas = (h[1] - hb, h[2] - hb) if use_cd else (h[1] - hb,)
    out = hb + _gated_term(deltas[0], R, back, m_ab, g_ab)
    if use_cd:
        out = out + _gated_term(deltas[1], R, back, m_cd, g_cd)
    return out, deltas


def orthogonal_backward(R, m_ab, m_cd, g_ab, g_cd, deltas, T) -> torch.Tensor:
    """dL/dR for dL/dh' = T (formula: :class:`_OrthogonalInterchange`)."""

    def grad(delta, m, g):
        if g.shape[-1] == 1:
            gp, m = delta.mT @ T, m * g
        else:
            gp = delta.mT @ (g[..., None] * T)
        return m[..., None] * (R @ (gp + gp.mT))

    out = grad(deltas[0], m_ab, g_ab)
    if len(deltas) > 1:
        out = out + grad(deltas[1], m_cd, g_cd)
    return out


class _OrthogonalInterchange(torch.autograd.Function):
    """:func:`intervene_gated` for orthogonal R (R^{-1} = R^T), differentiated in R in closed form.

    Each term is ``t = G (delta P)`` with P = R^T diag(m) R (G: the gates, folded into m when there
    is one per rotation). For dL/dt = T, dL/dP = delta^T (G T) and, as dP = dR^T D R + R^T D dR,

        dL/dR = D R (dL/dP + dL/dP^T)        (D = diag(m), summed over the a=b and c=d terms)
    """

    @staticmethod
    def forward(ctx, R, h, m_ab, m_cd, g_ab, g_cd, use_cd):
        out, deltas = orthogonal_forward(R, h, m_ab, m_cd, g_ab, g_cd, use_cd)
        ctx.save_for_backward(R, m_ab, m_cd, g_ab, g_cd, *deltas)
        return out

    @staticmethod
    def backward(ctx, T):
        R, m_ab, m_cd, g_ab, g_cd, *deltas = ctx.saved_tensors
        return orthogonal_backward(R, m_ab, m_cd, g_ab, g_cd, deltas, T), None, None, None, None, None, None


def intervene_orthogonal(h: torch.Tensor, R: torch.Tensor, m_ab: torch.Tensor, m_cd: torch.Tensor, g_ab: torch.Tensor,
                         g_cd: torch.Tensor, use_cd: bool = True) -> torch.Tensor:
    """:func:`intervene_gated` with ``back = R^T`` (R orthogonal), the same values, with the closed-form
    gradient in R of :class:`_OrthogonalInterchange` (h, masks and gates take no gradient)."""
    return _OrthogonalInterchange.apply(R, h, m_ab, m_cd, g_ab, g_cd, use_cd)


def counterfactual(ab: torch.Tensor, cd: torch.Tensor, g_ab: torch.Tensor, g_cd: torch.Tensor) -> torch.Tensor:
    """``y*`` for triples (ab, cd: (n, 3) bool of base, source_ab, source_cd) and gates
    broadcastable to (M, n); returns (M, n) int64 labels."""
    new_ab = torch.where(g_ab.bool(), ab[:, 1], ab[:, 0])
    new_cd = torch.where(g_cd.bool(), cd[:, 2], cd[:, 0])
    return (new_ab == new_cd).long()


def base_label(ab: torch.Tensor, cd: torch.Tensor) -> torch.Tensor:
    return (ab[:, 0] == cd[:, 0]).long()


def subspace_masks(sizes, variables, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks (M, d) for configs ``[(size, variable) ...]``: a=b gets coordinates [0, k), c=d
    gets [0, k) when searched alone and [k, 2k) in the joint ("both") rotation."""
    m_ab = torch.zeros(len(sizes), dim)
    m_cd = torch.zeros(len(sizes), dim)
    for i, (k, v) in enumerate(zip(sizes, variables)):
        if v == "ab":
            m_ab[i, :k] = 1
        elif v == "cd":
            m_cd[i, :k] = 1
        else:
            m_ab[i, :k] = 1
            m_cd[i, k:2 * k] = 1
    return m_ab, m_cd


def random_orthogonal(n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """(n, d, d) Haar-random orthogonal matrices (QR of a Gaussian matrix, signs fixed)."""
    q, r = torch.linalg.qr(torch.randn(n, dim, dim, generator=generator, device=generator.device))
    return q * torch.sign(torch.diagonal(r, dim1=-2, dim2=-1)).unsqueeze(-2)


class _Weight(nn.Module):
    def __init__(self, weight: torch.Tensor):
        super().__init__()
        self.weight = nn.Parameter(weight)


class Rotations(nn.Module):
    """M learned basis changes of R^d, trained together.

    ``kind="orthogonal"``: ``torch.nn.utils.parametrizations.orthogonal`` on a batched (M, d, d)
    weight, so R stays orthogonal and R^{-1} = R^T; ``orthogonal_map`` is PyTorch's map from the
    free parameters to R: ``cayley`` (R = (I + A/2)^{-1} (I - A/2) with A skew, one linear solve;
    the default, cheapest), ``matrix_exp`` (R = exp(A)) or ``householder``. ``kind="linear"``: a free
    invertible map, R^{-1} by ``torch.linalg.inv`` (the non-orthogonal variant, for comparison).
    Both start from ``start`` (M, d, d) when given, else from Haar-random orthogonal matrices drawn
    from ``generator``.
    """

    def __init__(self, n: int, dim: int, kind: str = "orthogonal", generator: torch.Generator | None = None,
                 orthogonal_map: str = "cayley", start: torch.Tensor | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"rotation kind {kind!r}: expected {' or '.join(KINDS)}")
        self.kind = kind
        if start is None:
            start = random_orthogonal(n, dim, generator or seed_stream(0, "alignment/default_start"))
        self.basis = _Weight(start.clone())
        self.cayley = kind == "orthogonal" and orthogonal_map == "cayley"
        if kind == "orthogonal":
            nn.utils.parametrizations.orthogonal(self.basis, orthogonal_map=orthogonal_map)

    def cayley_parameter(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(X, B): the Cayley parametrization's free parameter and base (``cayley`` only), for
        :func:`knowloc.alignment.fused.cayley_tail_loss`."""
        p = self.basis.parametrizations.weight
        return p.original, p[0].base

    def forward(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(R, R^{-1}). The Cayley map reads the parametrization's own free parameter and base and
        computes R with the same operations, differentiated in closed form (:mod:`knowloc.alignment.cayley`)."""
        if self.cayley:
            R = cayley_rotation(*self.cayley_parameter())
            return R, R.transpose(-1, -2)
        R = self.basis.weight
        return R, (R.transpose(-1, -2) if self.kind == "orthogonal" else torch.linalg.inv(R))
