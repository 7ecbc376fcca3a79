"""Torch versions of PSNR, SSIM and SAM for validation during training (any device, no host copies).

Tensors are channels-first, ``(..., B, H, W)``: one cube ``B x H x W`` or a batch ``N x B x H x W``. Each
function returns one value per cube (a tensor of the leading shape; 0-d for a single cube) and agrees with
the numpy defaults in `bench.metrics.core` on ``cube.transpose(2, 0, 1)`` within 1e-4.
"""

from __future__ import annotations

import torch

from bench.errors import DataError
from bench.metrics.core import SSIM_K1, SSIM_K2, gaussian_taps

_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5


def _check(clean: torch.Tensor, est: torch.Tensor) -> None:
    for what, t in (("clean", clean), ("estimate", est)):
        if not isinstance(t, torch.Tensor):
            raise DataError(f"{what}: expected a torch tensor, got {type(t).__name__}")
        if t.ndim < 3 or min(t.shape) == 0:
            raise DataError(f"{what}: expected a (..., B, H, W) tensor, got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise DataError(f"{what}: expected a floating-point tensor, got {t.dtype}")
        if not bool(torch.isfinite(t).all()):
            raise DataError(f"{what}: contains NaN/Inf values")
    if clean.shape != est.shape:
        raise DataError(f"shape mismatch: clean {tuple(clean.shape)} vs estimate {tuple(est.shape)}")


def _valid_filter(t: torch.Tensor, taps: list[float], dim: int) -> torch.Tensor:
    """Correlate with symmetric ``taps`` along ``dim`` over fully covered positions only.

    Shifted-slice sums: about 5x faster than a grouped conv2d on CPU and just as fit for the GPU.
    """
    r = len(taps) // 2
    m = t.shape[dim] - 2 * r
    out = t.narrow(dim, r, m) * taps[r]
    for k in range(1, r + 1):
        out = out + (t.narrow(dim, r - k, m) + t.narrow(dim, r + k, m)) * taps[r + k]
    return out


def torch_psnr(clean: torch.Tensor, est: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Mean over bands of 10 log10(peak^2 / MSE_b) in dB, per cube."""
    _check(clean, est)
    mse = (clean.double() - est.double()).pow(2).mean(dim=(-2, -1))
    return (10.0 * torch.log10(data_range ** 2 / mse)).mean(dim=-1).to(clean.dtype)


def torch_ssim(clean: torch.Tensor, est: torch.Tensor, *, data_range: float = 1.0) -> torch.Tensor:
    """Per-band SSIM (11 x 11 Gaussian window, sigma 1.5, population statistics, 5-pixel border dropped),
    mean over bands, per cube; the window only visits fully covered positions, so no padding is used.

    Differentiable (autograd flows through every step), so it can also serve as a loss term.
    """
    _check(clean, est)
    *lead, bands, h, w = clean.shape
    win = 2 * _SSIM_RADIUS + 1
    if h < win or w < win:
        raise DataError(f"ssim: a {win} x {win} window needs at least {win} x {win} pixels, got {h} x {w}")
    x = clean.reshape(-1, h, w)
    y = est.reshape(-1, h, w)
    shift = x.mean(dim=(-2, -1), keepdim=True).detach()
    x = x - shift
    y = y - shift
    taps = [float(t) for t in gaussian_taps(_SSIM_SIGMA, _SSIM_RADIUS)]

    def blur(a: torch.Tensor) -> torch.Tensor:
        return _valid_filter(_valid_filter(a, taps, -2), taps, -1)

    ux, uy = blur(x), blur(y)
    vsum = blur(x * x + y * y) - ux * ux - uy * uy
    vxy = blur(x * y) - ux * uy
    ux = ux + shift
    uy = uy + shift
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    smap = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vsum + c2))
    per_band = smap.double().mean(dim=(-2, -1)).reshape(*lead, bands)
    return per_band.mean(dim=-1).to(clean.dtype)


def torch_sam(clean: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """Mean over pixels of the spectral angle in radians, per cube (computed in float64).

    Two zero spectra count as angle 0, one zero spectrum as pi/2, as in the numpy version.
    """
    _check(clean, est)
    c = clean.double()
    e = est.double()
    dot = (c * e).sum(dim=-3)
    nc = (c * c).sum(dim=-3)
    ne = (e * e).sum(dim=-3)
    den = torch.sqrt(nc * ne)
    fallback = ((nc == 0) & (ne == 0)).double()
    cos = torch.where(den > 0, dot / den.clamp_min(torch.finfo(torch.float64).tiny), fallback)
    return torch.arccos(cos.clamp(-1.0, 1.0)).mean(dim=(-2, -1)).to(clean.dtype)
