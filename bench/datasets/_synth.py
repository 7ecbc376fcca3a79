"""Turn an RGB (or grey) photograph into a hyperspectral cube built from measured reflectance spectra.

Colour photographs: SLIC superpixels (Achanta et al., TPAMI 2012, doi:10.1109/TPAMI.2012.120); each
superpixel gets a non-negative mix (NNLS) of the ``k`` library spectra whose rendered chromaticity is
closest to its mean colour. Each pixel then re-solves the mixing weights of its superpixel's ``k``
spectra against its own colour, regularised towards the superpixel mix scaled by the pixel's luminance
ratio, so texture, shading and colour edges inside a superpixel survive while every spectrum stays a
non-negative combination of measured ones.

Grey photographs carry no colour: superpixels are ranked by brightness and given a spectrum of similar
rank from a material pool (e.g. vegetation for grass), picked with a generator seeded by the image id.
The luminance-normalised spectral shapes are smoothed spatially (Gaussian, about half a superpixel) so
flat areas show no superpixel blocks, then multiplied by each pixel's luminance.

Limits: spectra are plausible mixtures of real reflectances, not measurements of the photographed scene;
illumination is a flat D65; photo noise and JPEG artefacts of the source are part of the "clean" cube.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.optimize import nnls
from skimage.segmentation import slic

from bench.datasets._spectra import LUMA, render_matrix, srgb_to_linear


def synthesize(photo: np.ndarray, *, visible: np.ndarray, full: np.ndarray, segment_px: int = 300,
               k: int = 4, pool: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Cube (H x W x B float32 in [0, 1], one global min/max) for ``photo`` (float in [0, 1]).

    ``visible`` (N x 31, 400-700 nm) renders the library to colour; ``full`` (N x B) is what the cube
    holds. ``pool`` restricts the spectra used for grey photos.
    """
    h, w = photo.shape[:2]
    n_segments = max(16, (h * w) // segment_px)
    if photo.ndim == 3:
        labels = slic(photo, n_segments=n_segments, compactness=10.0, start_label=0, channel_axis=-1)
        cube = _colour_cube(srgb_to_linear(photo).reshape(-1, 3), labels.ravel(), visible, full, k)
    else:
        labels = slic(photo, n_segments=n_segments, compactness=0.1, start_label=0, channel_axis=None)
        indices = np.arange(len(full)) if pool is None else np.asarray(pool)
        cube = _grey_cube(srgb_to_linear(photo).ravel(), labels.ravel(), visible[indices], full[indices], seed,
                          (h, w), 0.5 * segment_px ** 0.5)
    lo, hi = float(cube.min()), float(cube.max())
    cube = (cube - lo) / (hi - lo) if hi > lo else np.zeros_like(cube)
    return cube.reshape(h, w, -1).astype(np.float32)


def _segment_means(values: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    counts = np.bincount(labels, minlength=n).astype(np.float64)
    cols = [np.bincount(labels, weights=values[:, c], minlength=n) for c in range(values.shape[1])]
    return np.stack(cols, axis=1) / np.maximum(counts, 1.0)[:, None]


def _chroma(rgb: np.ndarray) -> np.ndarray:
    total = rgb.sum(axis=1, keepdims=True)
    return rgb / np.where(np.abs(total) > 1e-9, total, 1e-9)


def _colour_cube(lin: np.ndarray, labels: np.ndarray, visible: np.ndarray, full: np.ndarray,
                 k: int) -> np.ndarray:
    n = int(labels.max()) + 1
    lib_rgb = visible @ render_matrix().T
    means = _segment_means(lin, labels, n)
    seg_c, lib_c = _chroma(means), _chroma(lib_rgb)
    dist = sum((seg_c[:, c:c + 1] - lib_c[None, :, c]) ** 2 for c in range(3))
    part = np.argpartition(dist, k, axis=1)[:, :k]
    rows = np.arange(n)[:, None]
    nearest = part[rows, np.argsort(dist[rows, part], axis=1, kind="stable")]
    gain = np.zeros((n, k, 3))
    prior = np.zeros((n, k, k))
    base = np.zeros((n, k))
    for s in range(n):
        a = lib_rgb[nearest[s]].T
        weights, _ = nnls(a, means[s])
        luma = float(LUMA @ (a @ weights))
        gram = a.T @ a
        lam = 0.05 * np.trace(gram) / k
        inv = np.linalg.inv(gram + lam * np.eye(k))
        gain[s] = inv @ a.T
        prior[s] = lam * inv
        base[s] = weights / luma if luma > 1e-9 else 0.0
    ratio_target = (lin @ LUMA)[:, None] * base[labels]
    mix = np.einsum("pkc,pc->pk", gain[labels], lin) + np.einsum("pkj,pj->pk", prior[labels], ratio_target)
    np.clip(mix, 0.0, None, out=mix)
    cube = np.zeros((lin.shape[0], full.shape[1]))
    for j in range(k):
        cube += mix[:, j:j + 1] * full[nearest[labels, j]]
    return cube


def _grey_cube(lum: np.ndarray, labels: np.ndarray, visible: np.ndarray, full: np.ndarray,
               seed: int, shape: tuple[int, int], smooth: float) -> np.ndarray:
    n = int(labels.max()) + 1
    means = _segment_means(lum[:, None], labels, n)[:, 0]
    lib_luma = (visible @ render_matrix().T) @ LUMA
    usable = np.flatnonzero(lib_luma > 1e-3)
    order = usable[np.argsort(lib_luma[usable], kind="stable")]
    rank = np.argsort(np.argsort(means, kind="stable"), kind="stable") / max(n - 1, 1)
    rng = np.random.default_rng(seed)
    spread = max(1, len(order) // 20)
    centre = np.round(rank * (len(order) - 1)).astype(int)
    chosen = order[np.clip(centre + rng.integers(-spread, spread + 1, size=n), 0, len(order) - 1)]
    unit = full[chosen] / lib_luma[chosen][:, None]
    field = gaussian_filter(unit[labels].reshape(*shape, -1), sigma=(smooth, smooth, 0.0), mode="reflect")
    return field.reshape(lum.size, -1) * lum[:, None]
