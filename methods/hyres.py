"""HyRes and HyMiNoR (Rasti et al.): sigma-free low-rank + wavelet-sparse restoration, in torch."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from methods import register
from methods._subspace import band_sigma
from methods._wavelets import DAUBECHIES, dwt2, idwt2
from methods.base import Method


def _sure_soft(c: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """SURE of soft thresholding unit-variance coefficients ``c`` at each threshold of ``grid``, minus
    the risk of zeroing them (||c||^2 - n); returns (min over the grid, best threshold)."""
    a = c.abs()[:, None]
    risk = (2.0 * (a > grid).sum(0) - (a.square() - grid.square()).clamp_min(0).sum(0)).to(c.dtype)
    best = int(torch.argmin(risk))
    return risk[best], grid[best]


def hyres(y: torch.Tensor, *, sigma: np.ndarray | None, levels: int, order: int, grid_size: int
          ) -> tuple[torch.Tensor, dict[str, Any]]:
    """HyRes on an H x W x B float64 tensor: whiten each band, PCA, SURE soft thresholding of every
    principal image's wavelet coefficients, rank chosen where the total SURE stops falling."""
    h, w, bands = y.shape
    block = 2 ** levels
    ph, pw = -h % block, -w % block
    if ph or pw:
        y = F.pad(y.permute(2, 0, 1)[None], (0, pw, 0, ph), mode="reflect" if max(ph, pw) < min(h, w)
                  else "replicate")[0].permute(1, 2, 0)
    n = y.shape[0] * y.shape[1]
    flat = y.reshape(n, bands)
    sig, used = band_sigma(flat.T, sigma)
    sig = sig.clamp_min(1e-12)
    white = flat / sig
    u, s, vh = torch.linalg.svd(white, full_matrices=False)
    pcs = (u * s).T.reshape(bands, y.shape[0], y.shape[1])
    coeffs = dwt2(pcs, levels, order)
    grid = torch.linspace(0.0, math.sqrt(math.log(grid_size)), grid_size, dtype=y.dtype, device=y.device)
    total, previous, kept = 0.0, math.inf, 0
    shrunk = torch.zeros_like(coeffs)
    for r in range(bands):
        gain, thr = _sure_soft(coeffs[r].reshape(-1), grid)
        total += float(gain)
        if r > 1 and total > previous:
            break
        previous = total
        shrunk[r] = F.softshrink(coeffs[r], float(thr)) if float(thr) > 0 else coeffs[r]
        kept = r + 1
    est_pcs = idwt2(shrunk[:kept], levels, order).reshape(kept, n).T
    out = (est_pcs @ vh[:kept]) * sig
    return out.reshape(y.shape)[:h, :w], {"rank": kept, "sigma_used": used,
                                          "sigma_per_band": [float(v) for v in sig]}


class _Rasti(Method):
    family = "model-driven"
    torch_forward = True
    license = "MIT"

    def _hyres(self, noisy: np.ndarray, sigma: np.ndarray | None, device: Any) -> torch.Tensor:
        p = self.params
        if int(p["order"]) not in DAUBECHIES:
            from bench.errors import UsageError

            raise UsageError(f"{self.name}: wavelet order must be one of {sorted(DAUBECHIES)}, got {p['order']}")
        y = torch.from_numpy(noisy).to(device=device, dtype=torch.float64)
        levels = max(1, min(int(p["levels"]), int(math.log2(min(noisy.shape[:2])))))
        est, info = hyres(y, sigma=sigma, levels=levels, order=int(p["order"]), grid_size=int(p["grid"]))
        self.last_info = {**info, "levels": levels}
        return est


@register("hyres")
class HyRes(_Rasti):
    """HyRes (Rasti, Ulfarsson and Ghamisi, IEEE GRSL 14(12), 2017, doi:10.1109/LGRS.2017.2764059).

    Model Y = D X V^T + N with D an orthonormal 2-D wavelet basis and V the principal directions of the
    whitened cube; X is l1-penalised and every tuning choice (each component's soft threshold, the rank)
    is made by Stein's unbiased risk estimate, so nothing is tuned by hand. Defaults as the authors'
    code: Daubechies wavelet with 5 vanishing moments (10 taps), 5 levels, thresholds searched on 15
    points of [0, sqrt(log 15)] noise std. Noise per band: the caller's sigma, else HySime's regression
    estimate; the wavelet transform is periodised (exactly orthonormal), images are padded by
    reflection to a multiple of 2**levels.
    """

    reference = ("Rasti, Ulfarsson and Ghamisi, 'Automatic hyperspectral image restoration using sparse and "
                 "low-rank modeling', IEEE GRSL 14(12), 2017, doi:10.1109/LGRS.2017.2764059")
    version = "1"
    description = "HyRes: whitened PCA + SURE-thresholded wavelet coefficients, rank by SURE (sigma-free)"
    defaults = {"levels": 5, "order": 5, "grid": 15}

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        return self._hyres(noisy, sigma, device).float().cpu().numpy()


def _spectral_diff(x: torch.Tensor) -> torch.Tensor:
    """Forward difference along bands (rows of the B x N matrix), the last row zero."""
    return F.pad(x[1:] - x[:-1], (0, 0, 0, 1))


def _spectral_diff_t(g: torch.Tensor) -> torch.Tensor:
    """Adjoint of `_spectral_diff`."""
    g = g[:-1]
    return F.pad(g, (0, 0, 1, 0)) - F.pad(g, (0, 0, 0, 1))


@register("hyminor")
class HyMiNoR(_Rasti):
    """HyMiNoR (Rasti, Ghamisi and Benediktsson, IEEE GRSL 17(3), 2020, doi:10.1109/LGRS.2019.2924344).

    Two steps: HyRes removes the Gaussian part, then the sparse part (impulse, stripes, dead lines) is
    removed by min_X ||H - X||_1 + lam ||D X||_1 over the HyRes estimate H, D the spectral difference, by
    ADMM with the splits V1 = H - X, V2 = D X. Defaults as the authors' code: lam 10, mu1 = mu2 = 0.5,
    50 iterations.
    """

    reference = ("Rasti, Ghamisi and Benediktsson, 'Hyperspectral mixed Gaussian and sparse noise reduction', "
                 "IEEE GRSL 17(3), 2020, doi:10.1109/LGRS.2019.2924344")
    version = "1"
    description = "HyMiNoR: HyRes, then an l1 fidelity + l1 spectral-difference ADMM for sparse noise"
    defaults = {"levels": 5, "order": 5, "grid": 15, "lam": 10.0, "mu1": 0.5, "mu2": 0.5, "iterations": 50}

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        p = self.params
        est = self._hyres(noisy, sigma, device)
        h, w, bands = est.shape
        target = est.reshape(h * w, bands).T
        mu1, mu2, lam = float(p["mu1"]), float(p["mu2"]), float(p["lam"])
        eye = torch.eye(bands, dtype=target.dtype, device=target.device)
        system = torch.linalg.inv(mu1 * eye + mu2 * _spectral_diff_t(_spectral_diff(eye)))
        v1, v2 = torch.zeros_like(target), torch.zeros_like(target)
        l1, l2 = torch.zeros_like(target), torch.zeros_like(target)
        x = target
        for _ in range(int(p["iterations"])):
            x = system @ (mu1 * (target - v1 + l1) + mu2 * _spectral_diff_t(v2 - l2))
            v1 = F.softshrink(target - x + l1, 1.0 / mu1)
            dx = _spectral_diff(x)
            v2 = F.softshrink(dx + l2, lam / mu2)
            l1 = l1 + target - x - v1
            l2 = l2 + dx - v2
        self.last_info["iterations"] = int(p["iterations"])
        return x.T.reshape(h, w, bands).float().cpu().numpy()
