"""3DLogTNN and MTSNMF: their building blocks and small fast runs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import methods
from methods.logtnn import logsum_shrink, tlogsum_prox
from methods.mtsnmf import fold_patches, patch_matrix, sparse_nmf
from test_baselines import _psnr, _smooth_cube

pytestmark = pytest.mark.usefixtures("one_thread")


def test_logsum_shrink_is_the_stationary_point_and_cuts_small_values() -> None:
    s = torch.tensor([100.0, 40.0, 20.0, 5.0, 0.0], dtype=torch.float64)
    tau, eps = 30.0, 2.0
    x = logsum_shrink(s, tau, eps)
    cut = (s + eps) ** 2 <= 4 * tau
    assert torch.equal(x[cut], torch.zeros(int(cut.sum()), dtype=torch.float64)) and bool(cut[-2:].all())
    kept = ~cut
    np.testing.assert_allclose((x[kept] - s[kept] + tau / (eps + x[kept])).numpy(), 0.0, atol=1e-10)
    assert float(x[0]) == pytest.approx(100.0 - tau / 102.0, abs=0.01)


def _tubal_rank_one(shape: tuple[int, int, int], dim: int, seed: int = 0) -> torch.Tensor:
    """A t-product a * b^T along ``dim``: every Fourier slice along ``dim`` has rank one."""
    gen = torch.Generator().manual_seed(seed)
    n = shape[dim]
    rest = [shape[d] for d in range(3) if d != dim]
    a = torch.fft.rfft(torch.randn(n, rest[0], 1, generator=gen, dtype=torch.float64), dim=0)
    b = torch.fft.rfft(torch.randn(n, 1, rest[1], generator=gen, dtype=torch.float64), dim=0)
    return torch.fft.irfft(a @ b, n=n, dim=0).movedim(0, dim)


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_tlogsum_prox_keeps_low_tubal_rank_and_removes_the_rest(dim: int) -> None:
    low = _tubal_rank_one((12, 10, 9), dim)
    gen = torch.Generator().manual_seed(1)
    noise = 0.01 * torch.randn(low.shape, generator=gen, dtype=torch.float64)
    out = tlogsum_prox(low + noise, 0.05, 0.01, dim)
    assert float((out - low).norm() / low.norm()) < float(noise.norm() / low.norm()) / 2
    assert float(tlogsum_prox(low, 1e6, 0.01, dim).abs().max()) == 0.0


def test_3dlogtnn_denoises_and_its_iterates_settle() -> None:
    clean = _smooth_cube(32, 31)
    rng = np.random.default_rng(0)
    noisy = (clean + rng.standard_normal(clean.shape) * 0.1).astype(np.float32)
    method = methods.create("3dlogtnn")
    out = method.denoise(noisy)
    assert _psnr(clean, out) > _psnr(clean, noisy) + 5.0
    change = method.last_info["change"]
    assert method.last_info["iterations"] < 80 and change[-1] < 1e-4 and method.last_info["sigma_estimated"]


def test_3dlogtnn_sparse_term_takes_impulse_noise() -> None:
    clean = _smooth_cube(32, 31)
    rng = np.random.default_rng(3)
    noisy = clean + rng.standard_normal(clean.shape).astype(np.float32) * 0.05
    mask = rng.random(clean.shape) < 0.1
    noisy[mask] = rng.choice([0.0, 1.0], size=int(mask.sum()))
    out = methods.create("3dlogtnn").denoise(noisy, sigma=0.05)
    assert _psnr(clean, out) > _psnr(clean, noisy) + 12.0


def test_patch_matrix_and_fold_are_inverse_on_a_cube() -> None:
    cube = torch.rand(13, 11, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    cols = patch_matrix(cube, 4, 1)
    assert cols.shape == (3 * 16, 10 * 8)
    assert torch.equal(cols[16:32, 0], cube[:4, :4, 1].reshape(-1))
    torch.testing.assert_close(fold_patches(cols, (13, 11, 3), 4, 1), cube)
    torch.testing.assert_close(fold_patches(patch_matrix(cube, 3, 2), (13, 11, 3), 3, 2), cube)


def test_sparse_nmf_fits_a_nonnegative_product_and_lowers_its_objective() -> None:
    gen = torch.Generator().manual_seed(2)
    x = torch.rand(40, 4, generator=gen, dtype=torch.float64) @ torch.rand(4, 300, generator=gen, dtype=torch.float64)
    u, v, objective = sparse_nmf(x, 4, 0.0, max_iter=400, tol=0.0, generator=gen)
    assert bool((u > 0).all()) and bool((v > 0).all())
    assert all(b <= a * (1 + 1e-9) for a, b in zip(objective, objective[1:]))
    assert float((x - u @ v).norm() / x.norm()) < 0.03


def test_sparse_nmf_l1_weight_makes_the_codes_sparser() -> None:
    gen = torch.Generator().manual_seed(3)
    x = torch.rand(30, 200, generator=gen, dtype=torch.float64)
    dense = sparse_nmf(x, 20, 0.0, max_iter=150, tol=0.0, generator=torch.Generator().manual_seed(0))[1]
    sparse = sparse_nmf(x, 20, 20.0, max_iter=150, tol=0.0, generator=torch.Generator().manual_seed(0))[1]
    assert float(sparse.sum()) < 0.7 * float(dense.sum())


def test_mtsnmf_denoises_a_smooth_cube() -> None:
    clean = _smooth_cube(24, 31)
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.03, 0.15, 31)
    noisy = (clean + rng.standard_normal(clean.shape) * sigma).astype(np.float32)
    method = methods.create("mtsnmf", stride=2, max_iter=150)
    out = method.denoise(noisy)
    assert _psnr(clean, out) > _psnr(clean, noisy) + 4.0
    scale = float(noisy.max() - noisy.min())
    assert method.last_info["lam"] > math.sqrt(2 * math.log(196)) * 0.5 * sigma.sum() / scale
    assert method.last_info["iterations"] == 150 and method.last_info["atoms"] == 196
