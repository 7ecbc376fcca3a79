"""HyRes, HyMiNoR, FastHyDe, NGMeet and LLRT: their building blocks and small fast runs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

import methods
import noise
from methods._subspace import band_sigma, hysime, regression_noise
from methods._wavelets import dwt2, idwt2
from test_baselines import _psnr, reference_cube

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("levels", [1, 3, 5])
def test_wavelet_transform_is_orthonormal(levels: int) -> None:
    x = torch.randn(2, 64, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    c = dwt2(x, levels)
    assert float(c.norm() / x.norm()) == pytest.approx(1.0, abs=1e-12)
    assert float((idwt2(c, levels) - x).abs().max()) < 1e-12


def test_wavelet_of_a_constant_is_one_coefficient() -> None:
    c = dwt2(torch.ones(1, 32, 32, dtype=torch.float64), 5)
    assert float(c[0, 0, 0]) == pytest.approx(32.0) and float(c.abs().sum()) == pytest.approx(32.0)


def test_regression_noise_equals_per_band_least_squares() -> None:
    rng = np.random.default_rng(0)
    y = torch.from_numpy(rng.random((6, 200)) + 0.1 * rng.standard_normal((6, 200)))
    w = regression_noise(y, eps=0.0)
    for i in range(6):
        others = torch.cat([y[:i], y[i + 1:]]).T
        beta = torch.linalg.lstsq(others, y[i]).solution
        np.testing.assert_allclose(w[i].numpy(), (y[i] - others @ beta).numpy(), atol=1e-10)


def test_band_sigma_estimates_per_band_noise() -> None:
    clean, _ = reference_cube()
    rng = np.random.default_rng(1)
    sigma = rng.uniform(0.02, 0.2, clean.shape[2])
    noisy = clean + rng.standard_normal(clean.shape) * sigma
    est, how = band_sigma(torch.from_numpy(noisy.reshape(-1, clean.shape[2]).T), None)
    assert how == "regression"
    np.testing.assert_allclose(est.numpy(), sigma, rtol=0.1, atol=0.015)  # low-noise bands: regressors are noisy


def test_hysime_finds_the_rank_of_a_low_rank_cube() -> None:
    rng = np.random.default_rng(2)
    y = torch.from_numpy(rng.random((31, 3)) @ rng.random((3, 4000)) + 0.01 * rng.standard_normal((31, 4000)))
    w = regression_noise(y)
    k, basis = hysime(y, w, torch.diag(w.square().mean(1)))
    assert k == 3 and basis.shape == (31, 31)


def test_hyres_picks_a_small_rank_and_beats_the_plain_projection() -> None:
    clean, noisy = reference_cube()
    meth = methods.create("hyres")
    out = meth.denoise(noisy)
    assert 2 <= meth.last_info["rank"] <= 6 and meth.last_info["sigma_used"] == "regression"
    assert _psnr(clean, out) > _psnr(clean, noisy) + 15


def test_hyminor_removes_dead_lines_hyres_leaves() -> None:
    """The l1 spectral-difference step removes sparse noise; lam 1 suits [0, 1] data (the default 10 is the
    authors' and smooths spectra strongly)."""
    clean, _ = reference_cube()
    noisy = noise.parse("deadline").sample(clean, np.random.default_rng(0)).noisy.astype(np.float32)
    hyres = _psnr(clean, methods.create("hyres").denoise(noisy))
    meth = methods.create("hyminor", lam=1.0)
    assert _psnr(clean, meth.denoise(noisy)) > hyres + 0.5
    assert meth.last_info["iterations"] == 50 and "rank" in meth.last_info


@pytest.mark.skipif(importlib.util.find_spec("bm3d") is None, reason="needs bm3d (extra 'reference')")
def test_fasthyde_whitening_helps_on_non_iid_noise() -> None:
    clean, noisy = reference_cube()
    whitened = methods.create("fasthyde")
    out = whitened.denoise(noisy)
    plain = methods.create("fasthyde", iid=True).denoise(noisy)
    assert whitened.last_info["sigma_used"] == "regression"
    assert _psnr(clean, out) > _psnr(clean, plain) + 1.0


@pytest.mark.parametrize("name, params", [("ngmeet", {"patnum": 40}), ("llrt", {"patnum": 40, "iterations": 2})])
def test_nonlocal_methods_denoise_deterministically(name: str, params: dict) -> None:
    clean = reference_cube(size=24, bands=8)[0]
    rng = np.random.default_rng(4)
    sigma = rng.uniform(0.05, 0.15, 8)
    noisy = (clean + rng.standard_normal(clean.shape) * sigma).astype(np.float32)
    meth = methods.create(name, **params)
    out = meth.denoise(noisy, sigma=sigma)
    np.testing.assert_array_equal(out, methods.create(name, **params).denoise(noisy, sigma=sigma))
    assert _psnr(clean, out) > _psnr(clean, noisy) + 3
    assert meth.last_info["sigma_used"] == "mean" and meth.last_info["sigma_value"] == pytest.approx(sigma.mean())


def test_nonlocal_settings_follow_the_authors_tables() -> None:
    from methods.llrt import authors_settings as llrt
    from methods.ngmeet import authors_settings as ngmeet

    assert ngmeet(25.0, 31)["k_subspace"] == 6 and ngmeet(60.0, 31)["patnum"] == 200
    assert llrt(25.0, 31)["patch"] == 7 and llrt(60.0, 31)["patch"] == 8 and llrt(5.0, 191)["step"] == 4
