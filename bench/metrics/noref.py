"""No-reference scores for real-noise data, where no clean cube exists to compare with.

Both read only the estimate, so they also score what a method leaves behind on synthetic data. Neither is a
quality measure on its own: an over-smoothed output scores well on both, so they are shown beside images and
profiles, never instead of them, and every table marks them "no-reference".

- ``nr_sigma``: residual noise level. Per band the wavelet-MAD Gaussian sigma estimate of the output
  (`bench.estimate.estimate_sigma`: ``median(|HH_1|) / 0.6745`` of the finest db2 diagonal detail band,
  Donoho & Johnstone, Biometrika 1994, doi:10.1093/biomet/81.3.425), mean over bands, 0-1 scale. On a smooth
  cube plus Gaussian noise of standard deviation s it returns s.
- ``nr_stripe``: stripe index of the column-mean profile (the curve of paper Figs. 9-11). Per band the
  column means c_j = mean_i x_ij, then ``sqrt(mean_j (c_{j+1} - c_j)^2 / 2)``, mean over bands, 0-1 scale.
  A constant offset d_j added to every column j with d_j i.i.d. of standard deviation s gives s; a smooth
  scene gives nearly 0 and zero-mean pixel noise of sigma adds about sigma / sqrt(H).
"""

from __future__ import annotations

import numpy as np

from bench.arrays import check_cube
from bench.estimate import estimate_sigma

#: The no-reference scores, in table order.
NO_REFERENCE = ("nr_sigma", "nr_stripe")


def nr_sigma(est: np.ndarray) -> float:
    """Residual noise level of an H x W x B estimate: mean over bands of the wavelet-MAD sigma (0-1 scale)."""
    return float(np.mean(estimate_sigma(est)))


def nr_stripe(est: np.ndarray) -> float:
    """Stripe index: RMS first difference of each band's column-mean profile over sqrt(2), mean over bands."""
    cube = check_cube(est, "cube to score").astype(np.float64)
    if cube.shape[1] < 2:
        return 0.0
    cols = cube.mean(axis=0)
    return float(np.mean(np.sqrt(np.mean(np.diff(cols, axis=0) ** 2, axis=0) / 2.0)))


def no_reference(est: np.ndarray) -> dict[str, float]:
    """Every no-reference score of ``est`` (H x W x B): ``{"nr_sigma": ..., "nr_stripe": ...}``."""
    return {"nr_sigma": nr_sigma(est), "nr_stripe": nr_stripe(est)}
