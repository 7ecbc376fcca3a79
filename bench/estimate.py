"""Per-band noise level estimation, shared by every method that accepts ``sigma=None``.

The estimator is the wavelet median-absolute-deviation rule of Donoho and Johnstone
(Biometrika 1994, doi:10.1093/biomet/81.3.425): the finest diagonal detail coefficients of an
orthonormal wavelet transform are dominated by noise, so ``median(|d|) / 0.6745`` estimates the
Gaussian sigma. It reproduces scikit-image's ``estimate_sigma`` (Daubechies-2 wavelet, symmetric
extension) for every band at once instead of one band per call.
"""

from __future__ import annotations

import numpy as np

from bench.arrays import check_cube

# Daubechies-2 decomposition high-pass filter (PyWavelets ``Wavelet("db2").dec_hi``).
_DB2_HI = np.array([-0.48296291314469025, 0.836516303737469, -0.22414386804185735, -0.12940952255092145])
#: median(|d|) / MAD_TO_SIGMA estimates a Gaussian sigma from noise-dominated detail coefficients d.
MAD_TO_SIGMA = 0.6745


def _highpass_decimate(arr: np.ndarray, axis: int) -> np.ndarray:
    """One-level db2 detail coefficients along ``axis`` (symmetric extension, as PyWavelets' default)."""
    taps = len(_DB2_HI)
    pad = [(0, 0)] * arr.ndim
    pad[axis] = (taps - 1, taps - 1)
    ext = np.pad(arr, pad, mode="symmetric")
    windows = np.lib.stride_tricks.sliding_window_view(ext, taps, axis=axis)
    full = windows @ _DB2_HI[::-1]
    n_out = (arr.shape[axis] + taps - 1) // 2
    index = [slice(None)] * arr.ndim
    index[axis] = slice(1, 1 + 2 * n_out, 2)
    return full[tuple(index)]


def estimate_sigma(cube: np.ndarray) -> np.ndarray:
    """Estimate the Gaussian noise sigma of every band of an H x W x B cube.

    Parameters
    ----------
    cube
        Noisy H x W x B cube on the 0-1 scale.

    Returns
    -------
    ndarray of shape (B,)
        Per-band sigma on the same scale, ``median(|HH|) / 0.6745`` of the finest diagonal db2 band.
    """
    cube = check_cube(cube, "cube to estimate sigma of").astype(np.float64)
    diag = _highpass_decimate(_highpass_decimate(cube, 0), 1)
    return np.median(np.abs(diag).reshape(-1, cube.shape[2]), axis=0) / MAD_TO_SIGMA
