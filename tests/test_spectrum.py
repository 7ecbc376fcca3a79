"""The frequency split of a denoiser's error (bench.metrics.spectrum)."""

import numpy as np
import pytest
from scipy.ndimage import uniform_filter

from bench.metrics.spectrum import error_by_frequency


def _cube(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return uniform_filter(rng.random((32, 24, 5)), size=(5, 5, 1)) + 0.1 * rng.random((32, 24, 5))


def test_bands_add_up_to_the_mse():
    clean = _cube()
    est = clean + 0.05 * np.random.default_rng(1).standard_normal(clean.shape)
    est = uniform_filter(est, size=(3, 3, 1))
    bands = error_by_frequency(clean, est)
    assert sum(b["bias"] + b["rest"] for b in bands) == pytest.approx(np.mean((est - clean) ** 2), rel=1e-10)
    assert sum(b["clean_power"] for b in bands) == pytest.approx(np.mean(clean ** 2), rel=1e-10)


def test_exact_estimate_keeps_everything():
    clean = _cube()
    for b in error_by_frequency(clean, clean.copy()):
        assert b["gain"] == pytest.approx(1.0)
        assert b["bias"] == pytest.approx(0.0, abs=1e-20) and b["rest"] == pytest.approx(0.0, abs=1e-20)


def test_smoothing_shows_as_bias_in_the_top_band_and_white_noise_as_rest():
    clean = _cube()
    smooth = error_by_frequency(clean, uniform_filter(clean, size=(5, 5, 1)))
    assert smooth[-1]["gain"] < 0.5 < smooth[0]["gain"]
    assert smooth[-1]["bias"] > smooth[-1]["rest"]
    noisy = error_by_frequency(clean, clean + 0.1 * np.random.default_rng(2).standard_normal(clean.shape))
    assert noisy[-1]["rest"] > 10 * noisy[-1]["bias"]
    assert noisy[-1]["rest"] > noisy[0]["rest"]          # white noise: the top band holds most frequencies


@pytest.mark.parametrize("edges", [(0.0, 0.5, 0.5, 1.5), (0.5,)])
def test_bad_edges_are_refused(edges):
    with pytest.raises(ValueError, match="edges"):
        error_by_frequency(_cube(), _cube(), edges=edges)


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="one shape"):
        error_by_frequency(_cube(), _cube()[:, :, :4])
