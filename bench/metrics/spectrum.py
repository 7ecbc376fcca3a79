"""Where in spatial frequency a denoiser's error lies: lost detail against what is left over.

A mean PSNR says how large the error is, not what kind it is. Split by radial spatial frequency, the error of
an estimate O of a clean cube C falls apart exactly (per frequency band, summed over spectral bands) into

- a *bias* part, (1 - g)^2 |C|^2, where g = Re<O, C> / <C, C> is the share of the clean content in that
  frequency band that the estimate keeps (g < 1: detail is smoothed away), and
- the *rest*, |O - g C|^2: noise left in, or structure that is not in C.

The two parts sum to the band's share of the mean squared error (Parseval), so the bands of one method add up to
its MSE and two methods' bands can be compared term by term.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: Band edges in units of the Nyquist frequency: the coarse structure, two octaves of texture, the finest detail.
DEFAULT_EDGES = (0.0, 0.125, 0.25, 0.5, np.sqrt(2.0) + 1e-9)


def error_by_frequency(clean: np.ndarray, estimate: np.ndarray, *,
                       edges: Sequence[float] = DEFAULT_EDGES) -> list[dict[str, float]]:
    """Split the MSE of an H x W x B ``estimate`` of ``clean`` into radial spatial-frequency bands.

    Parameters
    ----------
    clean, estimate : ndarray
        Cubes of the same H x W x B shape.
    edges : sequence of float, keyword-only
        Increasing band edges in units of the Nyquist frequency; the last must exceed sqrt(2) to cover the
        corners of the spectrum, or the bands do not add up to the MSE.

    Returns
    -------
    list of dict
        Per band: ``low``, ``high`` (its edges), ``gain`` (g, the kept share of the clean content), ``bias``
        and ``rest`` (the two parts of the band's MSE share) and ``clean_power`` (the clean cube's mean power
        in that band), all on the scale of the per-pixel mean squared error.
    """
    clean = np.asarray(clean, dtype=np.float64)
    estimate = np.asarray(estimate, dtype=np.float64)
    if clean.ndim != 3 or clean.shape != estimate.shape:
        raise ValueError(f"error_by_frequency: need two H x W x B cubes of one shape, got {clean.shape} and "
                         f"{estimate.shape}")
    edges = [float(e) for e in edges]
    if len(edges) < 2 or any(b <= a for a, b in zip(edges, edges[1:])):
        raise ValueError(f"error_by_frequency: band edges must increase, got {edges}")
    h, w, _ = clean.shape
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")) / 0.5
    c = np.fft.fft2(clean, axes=(0, 1))
    o = np.fft.fft2(estimate, axes=(0, 1))
    scale = float(clean.size) * h * w
    out = []
    for low, high in zip(edges, edges[1:]):
        band = (radius >= low) & (radius < high)
        cb, ob = c[band], o[band]
        power = float(np.sum(np.abs(cb) ** 2))
        gain = float(np.real(np.sum(ob * np.conj(cb)))) / power if power > 0 else 0.0
        out.append({"low": low, "high": high, "gain": gain, "bias": (1.0 - gain) ** 2 * power / scale,
                    "rest": float(np.sum(np.abs(ob - gain * cb) ** 2)) / scale, "clean_power": power / scale})
    return out
