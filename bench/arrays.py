"""Validation of hyperspectral cubes at the boundaries of the suite."""

from __future__ import annotations

import numpy as np

from bench.errors import DataError


def check_cube(cube: object, what: str = "cube", *, allow_nonfinite: bool = False) -> np.ndarray:
    """Return ``cube`` as a float32 H x W x B array, or raise a one-line `DataError` naming ``what``."""
    if not isinstance(cube, np.ndarray):
        raise DataError(f"{what}: expected a numpy array, got {type(cube).__name__}")
    if cube.ndim != 3:
        raise DataError(f"{what}: expected an H x W x B array, got {cube.ndim} dimension(s) {cube.shape}")
    if min(cube.shape) == 0:
        raise DataError(f"{what}: empty array of shape {cube.shape}")
    if not np.issubdtype(cube.dtype, np.floating):
        raise DataError(f"{what}: expected floating-point values in [0, 1], got dtype {cube.dtype}")
    if not allow_nonfinite and not np.isfinite(cube).all():
        bad = int((~np.isfinite(cube)).sum())
        raise DataError(f"{what}: contains {bad} NaN/Inf value(s)")
    return np.ascontiguousarray(cube, dtype=np.float32)


def check_pair(clean: np.ndarray, est: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate a clean/estimate pair for scoring: same H x W x B shape, finite floats."""
    clean = check_cube(clean, "clean")
    est = check_cube(est, "estimate")
    if clean.shape != est.shape:
        raise DataError(f"shape mismatch: clean {clean.shape} vs estimate {est.shape}")
    return clean, est


def check_sigma(sigma: object, bands: int) -> np.ndarray | None:
    """Normalise a ``sigma`` argument to a per-band float array of length ``bands`` (or None)."""
    if sigma is None:
        return None
    arr = np.asarray(sigma, dtype=np.float64)
    if arr.ndim == 0:
        arr = np.full(bands, float(arr))
    if arr.ndim != 1 or arr.shape[0] != bands:
        raise DataError(f"sigma: expected a scalar or {bands} per-band values, got shape {arr.shape}")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise DataError("sigma: values must be finite and non-negative")
    return arr


def center_crop(cube: np.ndarray, size: int | None) -> np.ndarray:
    """Centre crop to ``size`` x ``size`` (no-op if ``size`` is None or the cube is smaller)."""
    if size is None:
        return cube
    h, w = cube.shape[:2]
    th, tw = min(size, h), min(size, w)
    top, left = (h - th) // 2, (w - tw) // 2
    return cube[top:top + th, left:left + tw]
