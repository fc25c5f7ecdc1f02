"""Where the alignment search starts: random rotations, or directions read off the data.

``random``: Haar-random orthogonal matrices (the original DAS start).

``data``: for a variable V (a=b or c=d) and hidden vectors h of the training triples (base and both
sources), the directions in which the samples where V is false spread away from those where V is
true::

    S_V = E[(h - mu_T)(h - mu_T)^T | V false] - Cov(h | V true),     mu_T = E[h | V true]
        = Sigma_F - Sigma_T + (mu_F - mu_T)(mu_F - mu_T)^T

Restart 0 starts from the top-k eigenvectors of S_V (a variable written as a mean shift, or as extra
spread when false), restart 1 from the k eigenvectors of largest |eigenvalue| (where the two cases
differ most, in either direction), every further restart at random (``alignment.init``:
:data:`knowloc.alignment.options.INITS`); the search trains them all and keeps the best by training-pair IIA
(``select=train_iia``), so a data start can only win where it fits the training pairs better.
At the input of the equality task, a != b spreads x along the four (a - b) directions (variance
sigma^2 per direction, 0 when a = b) and shrinks it along (a + b), so restart 0 starts next to the
hand-built 4-dimensional a=b subspace that random starts do not find; with k = 8, restart 1 starts at
span(a, b) (the (a - b) and (a + b) directions), which holds a=b as well.
For the joint ("both") rotation the first k rows come from S_ab and the next k from S_cd
(orthonormalised in that order); the rest of each basis completes it orthonormally.
"""

from __future__ import annotations

import torch


def spread_matrix(h: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``S_V`` of the module docstring for hidden vectors h (N, d) and a bool variable v (N,)."""
    h = h.double()
    t, f = h[v], h[~v]
    mu_t = t.mean(0)
    ft = f - mu_t
    return (ft.T @ ft) / len(f) - torch.cov(t.T, correction=0)


def top_directions(S: torch.Tensor, order: str) -> torch.Tensor:
    """Eigenvectors of S as rows, largest eigenvalue first (``order="signed"``) or largest
    |eigenvalue| first (``order="abs"``; ties keep the signed order)."""
    ev, vec = torch.linalg.eigh(S)
    key = ev if order == "signed" else ev.abs()
    idx = torch.argsort(ev, descending=True)
    idx = idx[torch.argsort(key[idx], descending=True, stable=True)]
    return vec[:, idx].T


def complete_basis(rows: torch.Tensor, d: int) -> torch.Tensor:
    """An orthonormal (d, d) basis whose first len(rows) rows span ``rows`` (Gram-Schmidt order)."""
    a = torch.cat([rows, torch.eye(d, dtype=rows.dtype)]).T
    q, _ = torch.linalg.qr(a)
    return q.T.contiguous()


def data_start(S: dict[str, torch.Tensor], size: int, variable: str, order: str) -> torch.Tensor:
    """The (d, d) start of one (size, variable) rotation from the spread matrices {"ab", "cd"}."""
    d = S["ab"].shape[0]
    if variable == "both":
        rows = torch.cat([top_directions(S["ab"], order)[:size], top_directions(S["cd"], order)[:size]])
    else:
        rows = top_directions(S[variable], order)[:size]
    return complete_basis(rows, d)


def data_starts(h: torch.Tensor, ab: torch.Tensor, cd: torch.Tensor, configs: list[tuple[int, str]],
                base: torch.Tensor) -> torch.Tensor:
    """``base`` (restarts * len(configs), d, d; restart-major: index = r * len(configs) + j) with
    restart 0 replaced by the data start of sign +1 and restart 1 (if any) by that of sign -1.

    h: (3, n, d) hidden vectors of the training triples; ab, cd: (n, 3) bool variables per role.
    """
    d = h.shape[-1]
    flat = h.reshape(-1, d)
    S = {"ab": spread_matrix(flat, ab.T.reshape(-1)), "cd": spread_matrix(flat, cd.T.reshape(-1))}
    out = base.clone()
    restarts = len(base) // len(configs)
    for r, order in zip(range(min(restarts, 2)), ("signed", "abs")):
        for j, (k, v) in enumerate(configs):
            out[r * len(configs) + j] = data_start(S, k, v, order).to(out.dtype)
    return out
