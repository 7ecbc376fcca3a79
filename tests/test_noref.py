"""No-reference scores: calibrated on synthetic cases whose answer is known in closed form."""

from __future__ import annotations

import numpy as np
import pytest

from bench import metrics


def _smooth(h: int = 256, w: int = 256, b: int = 6) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    return (0.4 + 0.2 * np.sin(2 * xx) * np.cos(yy))[..., None] * np.linspace(0.6, 1.0, b)


@pytest.mark.parametrize("sigma", [0.01, 0.05, 0.1])
def test_nr_sigma_returns_the_added_gaussian_sigma(sigma: float) -> None:
    noisy = _smooth() + sigma * np.random.default_rng(0).standard_normal((256, 256, 6))
    assert metrics.nr_sigma(noisy) == pytest.approx(sigma, rel=0.03)
    assert metrics.nr_sigma(_smooth()) < 1e-3


@pytest.mark.parametrize("s", [0.01, 0.04])
def test_nr_stripe_returns_the_column_offset_std(s: float) -> None:
    """Offsets d_j ~ N(0, s^2) down whole columns of a flat cube: the index is s (sampling error ~3 %)."""
    rng = np.random.default_rng(1)
    striped = np.full((64, 1024, 4), 0.5) + s * rng.standard_normal((1, 1024, 4))
    assert metrics.nr_stripe(striped) == pytest.approx(s, rel=0.05)
    assert metrics.nr_sigma(striped) < 1e-6  # the wavelet diagonal band does not see stripes


def test_nr_stripe_of_pixel_noise_is_sigma_over_sqrt_rows() -> None:
    noisy = np.full((256, 1024, 4), 0.5) + 0.08 * np.random.default_rng(2).standard_normal((256, 1024, 4))
    assert metrics.nr_stripe(noisy) == pytest.approx(0.08 / 16, rel=0.05)
    assert metrics.nr_stripe(_smooth()) < 1e-3  # a smooth scene: only its slow trend


def test_registered_as_no_reference() -> None:
    for name in metrics.NO_REFERENCE:
        spec = metrics.spec(name)
        assert spec.convention == "no-reference" and spec.description.startswith("NO-REFERENCE")
        assert not spec.higher_is_better
    est = _smooth(32, 32, 3)
    assert set(metrics.no_reference(est)) == set(metrics.NO_REFERENCE)
    assert metrics.evaluate(np.zeros_like(est), est, "nr_stripe")["nr_stripe"] == metrics.nr_stripe(est)
