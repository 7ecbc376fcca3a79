"""Corruption primitives shared by the registered noise models (SPEC section 2).

Every function takes the generator explicitly and works in place on a float32 work copy owned by the
caller, so the clean reference is never touched. Columns are the W axis of an H x W x B cube.
"""

from __future__ import annotations

import math

import numpy as np

SIGMA_SCALE = 255.0


def draw_sigma(bands: int, rng: np.random.Generator, *, smin: float, smax: float, levels: int,
               per_band: bool) -> np.ndarray:
    """Per-band sigma on the 0-1 scale from a 0-255 range: uniform, or one of ``levels`` evenly spaced values.

    ``levels = 0`` draws from the continuous interval [smin, smax]; ``levels = k`` picks uniformly among
    ``linspace(smin, smax, k)`` (QRNN3D's {10, 30, 50, 70} is smin 10, smax 70, levels 4). With
    ``per_band`` false one value is drawn for the whole cube. A degenerate range draws nothing.
    """
    count = bands if per_band else 1
    if smin == smax:
        values = np.full(count, float(smin))
    elif levels:
        values = rng.choice(np.linspace(smin, smax, levels), size=count)
    else:
        values = rng.uniform(smin, smax, size=count)
    return np.broadcast_to(values / SIGMA_SCALE, (bands,)).astype(np.float64)


def correlated_sigma(bands: int, *, beta: float, eta: float) -> np.ndarray:
    """Spectrally correlated sigma curve: beta * exp(-(i/B - 1/2)^2 / (4 eta^2)), 0-1 scale."""
    i = np.arange(bands, dtype=np.float64)
    return beta * np.exp(-((i / bands - 0.5) ** 2) / (4.0 * eta ** 2)) / SIGMA_SCALE


def add_gaussian(cube: np.ndarray, sigma: np.ndarray, rng: np.random.Generator) -> None:
    """Add sigma_b * N(0, 1) to every band of ``cube`` in place."""
    noise = rng.standard_normal(cube.shape, dtype=np.float32)
    noise *= sigma.astype(np.float32)[None, None, :]
    cube += noise


def disjoint_band_groups(bands: int, sizes: list[int], rng: np.random.Generator) -> list[list[int]]:
    """Random disjoint band groups of the given sizes (sorted band indices within each group)."""
    if sum(sizes) > bands:
        raise ValueError(f"cannot pick disjoint groups of {sizes} bands from {bands} bands")
    order = rng.permutation(bands)
    groups, start = [], 0
    for size in sizes:
        groups.append(sorted(int(b) for b in order[start:start + size]))
        start += size
    return groups


def column_count(width: int, rng: np.random.Generator, *, low: float, high: float, rule: str) -> int:
    """Number of stripe/deadline columns for one band.

    ``rule="ceil"``: integer uniform on [ceil(low W), ceil(high W)] inclusive (QRNN3D's MATLAB test sets);
    ``rule="int"``: integer uniform on [int(low W), int(high W)) (T3SC). The count is at least 1 and at most W.
    """
    if rule == "ceil":
        lo, hi = math.ceil(low * width), math.ceil(high * width) + 1
    elif rule == "int":
        lo, hi = int(low * width), int(high * width)
    else:
        raise ValueError(f"unknown column rule {rule!r}")
    lo = min(max(lo, 1), width)
    hi = min(max(hi, lo + 1), width + 1)
    return int(rng.integers(lo, hi))


def pick_columns(width: int, count: int, rng: np.random.Generator) -> list[int]:
    """``count`` distinct random columns, sorted."""
    return sorted(int(c) for c in rng.choice(width, size=count, replace=False))


def stripe(cube: np.ndarray, bands: list[int], rng: np.random.Generator, *, low: float, high: float,
           rule: str, sign: float) -> list[list[int]]:
    """Shift whole columns of the chosen bands by ``sign * (U[0, 1) * 0.5 - 0.25)``; returns the columns.

    QRNN3D subtracts the offset (``sign = -1``), T3SC adds it (``sign = +1``).
    """
    width = cube.shape[1]
    hit = []
    for b in bands:
        cols = pick_columns(width, column_count(width, rng, low=low, high=high, rule=rule), rng)
        offsets = (rng.random(len(cols)) * 0.5 - 0.25).astype(np.float32)
        cube[:, cols, b] += np.float32(sign) * offsets[None, :]
        hit.append(cols)
    return hit


def deadline(cube: np.ndarray, bands: list[int], rng: np.random.Generator, *, low: float, high: float,
             rule: str) -> list[list[int]]:
    """Set whole columns of the chosen bands to zero (dead detector lines); returns the columns."""
    width = cube.shape[1]
    hit = []
    for b in bands:
        cols = pick_columns(width, column_count(width, rng, low=low, high=high, rule=rule), rng)
        cube[:, cols, b] = 0.0
        hit.append(cols)
    return hit


def impulse(cube: np.ndarray, bands: list[int], rng: np.random.Generator, *, rmin: float, rmax: float,
            levels: int) -> tuple[list[float], list[int]]:
    """Salt-and-pepper noise: each pixel of a chosen band flips with ratio r, to 1 or 0 with equal odds.

    r is drawn per band like `draw_sigma` draws sigma (``levels`` evenly spaced values in [rmin, rmax], or
    continuous when ``levels`` is 0). Returns the ratios and the number of pixels flipped per band.
    """
    h, w = cube.shape[:2]
    ratios, flipped = [], []
    for b in bands:
        if rmin == rmax:
            r = float(rmin)
        elif levels:
            r = float(rng.choice(np.linspace(rmin, rmax, levels)))
        else:
            r = float(rng.uniform(rmin, rmax))
        flip = rng.random((h, w)) < r
        salt = rng.random((h, w)) < 0.5
        band = cube[:, :, b]
        band[flip & salt] = 1.0
        band[flip & ~salt] = 0.0
        ratios.append(r)
        flipped.append(int(flip.sum()))
    return ratios, flipped
