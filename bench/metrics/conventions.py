"""Other published metric conventions (SPEC section 3), registered as ``metric@convention``.

They exist so a number can be compared with a paper that used that convention; the suite's tables use
the defaults in `bench.metrics.core`. Each has a public, validating function and a raw kernel.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage

from bench.arrays import check_pair
from bench.metrics.core import SSIM_K1, SSIM_K2, _band_means, _mse_bands, _sam, ssim_bands

_QRNN3D_WIN = 7


def _psnr_sert(clean: np.ndarray, est: np.ndarray) -> float:
    h, w = clean.shape[:2]
    sse = _mse_bands(clean, est) * (h * w)
    with np.errstate(divide="ignore"):
        return float(np.mean(10.0 * np.log10(h * w / sse)))


def _ssim_qrnn3d(clean: np.ndarray, est: np.ndarray) -> float:
    taps = np.full(_QRNN3D_WIN, 1.0 / _QRNN3D_WIN)
    n = _QRNN3D_WIN ** 2
    return float(ssim_bands(clean, est, taps=taps, data_range=2.0, cov_norm=n / (n - 1)).mean())


def _ssim_sert(clean: np.ndarray, est: np.ndarray) -> float:
    x = clean.reshape(-1, clean.shape[2]).astype(np.float64)
    y = est.reshape(-1, est.shape[2]).astype(np.float64)
    mx, my = x.mean(axis=0), y.mean(axis=0)
    x -= mx
    y -= my
    vx, vy, cxy = (x * x).mean(axis=0), (y * y).mean(axis=0), (x * y).mean(axis=0)
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    s = (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(s.mean())


def _ssim_matlab3d(clean: np.ndarray, est: np.ndarray) -> float:
    x = clean.astype(np.float64)
    y = est.astype(np.float64)

    def blur(a: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(a, sigma=1.5, truncate=5 / 1.5, mode="nearest")

    ux, uy = blur(x), blur(y)
    vx, vy, vxy = blur(x * x) - ux * ux, blur(y * y) - uy * uy, blur(x * y) - ux * uy
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    s = (2 * ux * uy + c1) * (2 * vxy + c2) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())


def _sam_deg(clean: np.ndarray, est: np.ndarray) -> float:
    return math.degrees(_sam(clean, est))


def _ergas_t3sc(clean: np.ndarray, est: np.ndarray) -> float:
    return float(100.0 * math.sqrt(np.mean(_mse_bands(clean, est) / _band_means(clean))))


def psnr_sert(clean: np.ndarray, est: np.ndarray) -> float:
    """SST/SERT's PSNR form, 10 log10(H W / SSE_b) per band, mean over bands (same value as `psnr`)."""
    return _psnr_sert(*check_pair(clean, est))


def ssim_qrnn3d(clean: np.ndarray, est: np.ndarray) -> float:
    """QRNN3D/HSIR's SSIM: skimage defaults per band (7 x 7 uniform window, sample covariance) with the
    data range 2 that scikit-image before 0.19 inferred for float images; mean over bands."""
    return _ssim_qrnn3d(*check_pair(clean, est))


def ssim_sert(clean: np.ndarray, est: np.ndarray) -> float:
    """SST/SERT's SSIM: one global (non-windowed) SSIM per band from whole-band statistics, data range 1."""
    return _ssim_sert(*check_pair(clean, est))


def ssim_matlab3d(clean: np.ndarray, est: np.ndarray) -> float:
    """MATLAB ``ssim`` applied to the whole H x W x B array: one 3-D volume, Gaussian radius 1.5 in all
    three axes (11-tap), replicate padding, mean over every voxel."""
    return _ssim_matlab3d(*check_pair(clean, est))


def sam_deg(clean: np.ndarray, est: np.ndarray) -> float:
    """SAM in degrees, as SST/SERT report it."""
    return _sam_deg(*check_pair(clean, est))


def ergas_t3sc(clean: np.ndarray, est: np.ndarray) -> float:
    """T3SC's ERGAS: 100 sqrt(mean_b(MSE_b / mu_b)), dividing by the band mean instead of its square."""
    return _ergas_t3sc(*check_pair(clean, est))
