"""The suite's default metrics on H x W x B cubes (SPEC section 3), vectorised over bands.

Public functions validate their input with `bench.arrays.check_pair`; the ``_``-prefixed kernels take
already validated float32 arrays so `bench.metrics.evaluate` validates a pair only once.
"""

from __future__ import annotations

import math

import numpy as np

from bench.arrays import check_pair
from bench.errors import DataError

SSIM_K1 = 0.01
SSIM_K2 = 0.03


def gaussian_taps(sigma: float, radius: int) -> np.ndarray:
    """Normalised 1-D Gaussian taps of length 2 * radius + 1 (as scipy.ndimage builds them)."""
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 * (x / sigma) ** 2)
    return taps / taps.sum()


def valid_filter(cube: np.ndarray, taps: np.ndarray, axis: int) -> np.ndarray:
    """Correlate ``cube`` with symmetric ``taps`` along ``axis``, keeping only fully covered positions.

    SSIM averages over the region where the window lies inside the image, so no padding is ever needed;
    pairing mirrored taps halves the multiplications. Works on contiguous slices, float32 or float64.
    """
    r = len(taps) // 2
    n = cube.shape[axis]
    dtype = cube.dtype.type

    def part(start: int) -> np.ndarray:
        idx = [slice(None)] * cube.ndim
        idx[axis] = slice(start, start + n - 2 * r)
        return cube[tuple(idx)]

    out = part(r) * dtype(taps[r])
    tmp = np.empty_like(out)
    for k in range(1, r + 1):
        np.add(part(r - k), part(r + k), out=tmp)
        tmp *= dtype(taps[r + k])
        out += tmp
    return out


def ssim_bands(clean: np.ndarray, est: np.ndarray, *, taps: np.ndarray, data_range: float,
               cov_norm: float = 1.0) -> np.ndarray:
    """Mean SSIM map over the valid region, per band, for a separable window given by its 1-D ``taps``.

    Wang et al., "Image quality assessment: from error visibility to structural similarity", IEEE TIP
    2004, doi:10.1109/TIP.2003.819861. The cube is processed in blocks of output rows so the filtered
    maps stay in cache (about 3x faster than whole-cube passes on 512 x 512 x 31).
    """
    win = len(taps)
    h, w = clean.shape[:2]
    if h < win or w < win:
        raise DataError(f"ssim: a {win} x {win} window needs at least {win} x {win} pixels, got {h} x {w}")
    rows = h - win + 1
    shift = clean.mean(axis=(0, 1), dtype=np.float64).astype(np.float32)
    total = np.zeros(clean.shape[2], dtype=np.float64)
    for top in range(0, rows, _BLOCK_ROWS):
        stop = min(top + _BLOCK_ROWS, rows) + win - 1
        total += _ssim_block_sum(clean[top:stop], est[top:stop], shift, taps=taps, data_range=data_range,
                                 cov_norm=cov_norm)
    return total / (rows * (w - win + 1))


_BLOCK_ROWS = 12


def _ssim_block_sum(clean: np.ndarray, est: np.ndarray, shift: np.ndarray, *, taps: np.ndarray,
                    data_range: float, cov_norm: float) -> np.ndarray:
    """Per-band sum of the SSIM map over one block's valid positions.

    Both images are shifted by the clean band mean before the float32 filtering (variances are shift
    invariant) so E[x^2] - E[x]^2 loses no precision; only var_x + var_y and cov_xy are needed, so four
    filtered maps suffice.
    """
    x = clean - shift
    y = est - shift

    def blur(a: np.ndarray) -> np.ndarray:
        return valid_filter(valid_filter(a, taps, 0), taps, 1)

    ux, uy = blur(x), blur(y)
    sq = x * x
    sq += y * y
    usq = blur(sq)
    x *= y
    uxy = blur(x)
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    vsum = (usq - ux * ux - uy * uy) * np.float32(cov_norm)
    vxy = (uxy - ux * uy) * np.float32(cov_norm)
    ux += shift
    uy += shift
    num = (2 * ux * uy + c1) * (2 * vxy + c2)
    den = (ux * ux + uy * uy + c1) * (vsum + c2)
    return (num / den).sum(axis=(0, 1), dtype=np.float64)


def _row_blocks(height: int, rows: int = 64) -> list[slice]:
    return [slice(top, min(top + rows, height)) for top in range(0, height, rows)]


def _mse_bands(clean: np.ndarray, est: np.ndarray) -> np.ndarray:
    sse = np.zeros(clean.shape[2], dtype=np.float64)
    for blk in _row_blocks(clean.shape[0]):
        d = clean[blk].astype(np.float64)
        d -= est[blk]
        sse += np.einsum("ijk,ijk->k", d, d)
    return sse / (clean.shape[0] * clean.shape[1])


def _psnr_per_band(clean: np.ndarray, est: np.ndarray, *, data_range: float = 1.0) -> np.ndarray:
    mse = _mse_bands(clean, est)
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range ** 2 / mse)


def _psnr(clean: np.ndarray, est: np.ndarray) -> float:
    return float(_psnr_per_band(clean, est).mean())


def _ssim(clean: np.ndarray, est: np.ndarray) -> float:
    return float(ssim_bands(clean, est, taps=gaussian_taps(1.5, 5), data_range=1.0).mean())


def _cosines(clean: np.ndarray, est: np.ndarray) -> np.ndarray:
    """Per-pixel cosine of the spectral angle (float64), clipped to [-1, 1].

    A pixel whose two spectra are both zero counts as angle 0; one zero spectrum against a non-zero one
    as pi/2 (its dot product is zero).
    """
    c = clean.astype(np.float64)
    e = est.astype(np.float64)
    dot = np.einsum("ijk,ijk->ij", c, e)
    nc = np.einsum("ijk,ijk->ij", c, c)
    ne = np.einsum("ijk,ijk->ij", e, e)
    den = np.sqrt(nc * ne)
    degenerate = den == 0
    cos = np.divide(dot, den, out=np.zeros_like(dot), where=~degenerate)
    if degenerate.any():
        cos[degenerate & (nc == 0) & (ne == 0)] = 1.0
    return np.clip(cos, -1.0, 1.0, out=cos)


def _sam(clean: np.ndarray, est: np.ndarray) -> float:
    total = sum(float(np.arccos(_cosines(clean[blk], est[blk])).sum()) for blk in _row_blocks(clean.shape[0]))
    return total / (clean.shape[0] * clean.shape[1])


def _band_means(clean: np.ndarray) -> np.ndarray:
    mu = clean.mean(axis=(0, 1), dtype=np.float64)
    zero = np.flatnonzero(mu == 0)
    if zero.size:
        raise DataError(f"ergas: clean band(s) {zero.tolist()} have zero mean; ERGAS is undefined")
    return mu


def _ergas(clean: np.ndarray, est: np.ndarray) -> float:
    return float(100.0 * math.sqrt(np.mean(_mse_bands(clean, est) / _band_means(clean) ** 2)))


def psnr_per_band(clean: np.ndarray, est: np.ndarray, *, data_range: float = 1.0) -> np.ndarray:
    """PSNR of each band in dB, 10 log10(peak^2 / MSE_b); ``inf`` for a band reproduced exactly."""
    clean, est = check_pair(clean, est)
    return _psnr_per_band(clean, est, data_range=data_range)


def psnr(clean: np.ndarray, est: np.ndarray) -> float:
    """Mean over bands of the per-band PSNR (peak 1), in dB (SPEC default)."""
    return _psnr(*check_pair(clean, est))


def ssim(clean: np.ndarray, est: np.ndarray) -> float:
    """Mean over bands of SSIM with an 11 x 11 Gaussian window (sigma 1.5), data range 1, population statistics.

    Equals skimage ``structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
    data_range=1)`` per band, averaged over bands (its 5-pixel border is dropped likewise).
    """
    return _ssim(*check_pair(clean, est))


def sam(clean: np.ndarray, est: np.ndarray) -> float:
    """Spectral angle mapper: mean over pixels of arccos(<x, y> / (|x| |y|)), in radians.

    Yuhas et al., "Discrimination among semi-arid landscape endmembers using the spectral angle mapper
    (SAM) algorithm", JPL Airborne Geoscience Workshop 1992.
    """
    return _sam(*check_pair(clean, est))


def ergas(clean: np.ndarray, est: np.ndarray) -> float:
    """ERGAS = 100 sqrt(mean_b(MSE_b / mu_b^2)), mu_b the clean band mean (resolution ratio 1).

    Wald, "Quality of high resolution synthesised images: is there a simple criterion?", 2000.
    """
    return _ergas(*check_pair(clean, est))
