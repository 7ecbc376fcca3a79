"""Spectral-subspace tools shared by HyRes, HyMiNoR and FastHyDe: per-band noise by regression, HySime.

Both follow Bioucas-Dias and Nascimento, "Hyperspectral subspace identification", IEEE TGRS 46(8), 2008,
doi:10.1109/TGRS.2008.918089: a band's noise is what a linear regression on all other bands leaves over
(no intercept), and the signal subspace keeps the eigenvectors of the signal correlation whose projected
signal power exceeds twice the projected noise power.
"""

from __future__ import annotations

import numpy as np
import torch


def regression_noise(y: torch.Tensor, *, eps: float = 1e-6) -> torch.Tensor:
    """Noise estimate ``w`` (B x N) of the bands-by-pixels matrix ``y``: each band's regression residual.

    With G = y y^T + eps I and P = G^{-1}, the residual of band i regressed on the others is
    (P y)_i / P_ii, so all B regressions cost one B x B inverse.
    """
    gram = y @ y.T
    prec = torch.linalg.inv(gram + eps * torch.eye(y.shape[0], dtype=y.dtype, device=y.device))
    return (prec @ y) / torch.diagonal(prec)[:, None]


def band_sigma(y: torch.Tensor, sigma: np.ndarray | None) -> tuple[torch.Tensor, str]:
    """Per-band noise std of ``y`` (B x N): the caller's when given, else the regression estimate."""
    if sigma is not None:
        return torch.as_tensor(np.broadcast_to(sigma, (y.shape[0],)).copy(), dtype=y.dtype, device=y.device), \
            "given"
    w = regression_noise(y)
    return (w.square().mean(dim=1)).sqrt(), "regression"


def hysime(y: torch.Tensor, w: torch.Tensor, noise_cov: torch.Tensor) -> tuple[int, torch.Tensor]:
    """HySime: the signal-subspace dimension and the eigenvectors (columns), best first."""
    n = y.shape[1]
    x = y - w
    ry = y @ y.T / n
    rx = x @ x.T / n
    evals, evecs = torch.linalg.eigh(rx)
    evecs = evecs.flip(1)
    rn = noise_cov + torch.trace(rx) / y.shape[0] / 1e5 * torch.eye(y.shape[0], dtype=y.dtype, device=y.device)
    cost = -torch.einsum("bi,bc,ci->i", evecs, ry, evecs) + 2 * torch.einsum("bi,bc,ci->i", evecs, rn, evecs)
    order = torch.argsort(cost)
    return int((cost < 0).sum()), evecs[:, order]

