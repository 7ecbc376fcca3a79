"""Metrics: calibration against scikit-image and closed forms, conventions, validation, torch path."""

from __future__ import annotations

import csv
import dataclasses
import importlib.util
from pathlib import Path

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench import metrics
from bench.errors import DataError, UsageError

DATA = Path(__file__).parent / "data"
NAMES = metrics.registry.names()


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_metric_reference", DATA / "make_metric_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _load_generator()
with (DATA / "metric_reference.csv").open() as _fh:
    ROWS = list(csv.DictReader(_fh))


def _pair(shape=(24, 22, 6), noise=0.05, seed=0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    clean = rng.uniform(0.1, 0.9, shape).astype(np.float32)
    return clean, (clean + noise * rng.standard_normal(shape)).astype(np.float32)


@pytest.mark.parametrize("row", ROWS, ids=[f"{r['case']}-{r['metric']}" for r in ROWS])
def test_matches_reference_csv(row):
    clean, est = GEN.build_case(row["case"])
    value = metrics.evaluate(clean, est, [row["metric"]])[row["metric"]]
    assert value == pytest.approx(float(row["value"]), abs=float(row["tolerance"]))


@pytest.mark.parametrize("name", NAMES)
def test_every_metric_is_calibrated(name):
    assert name in {r["metric"] for r in ROWS}


def test_reference_csv_is_current():
    current = {(c, m): (v, t) for c, m, v, t, _ in GEN.reference_rows()}
    stored = {(r["case"], r["metric"]): (float(r["value"]), float(r["tolerance"])) for r in ROWS}
    assert current.keys() == stored.keys()
    for key, (value, tol) in current.items():
        assert stored[key][0] == pytest.approx(value, abs=tol / 10) and stored[key][1] == tol


def test_psnr_per_band_matches_skimage():
    clean, est = _pair()
    ours = metrics.psnr_per_band(clean, est)
    ref = [peak_signal_noise_ratio(clean[..., b].astype(float), est[..., b].astype(float), data_range=1)
           for b in range(clean.shape[2])]
    np.testing.assert_allclose(ours, ref, atol=1e-9)
    assert metrics.psnr(clean, est) == pytest.approx(np.mean(ref), abs=1e-9)


def test_ssim_matches_skimage_on_float32_noise():
    clean, est = _pair((40, 33, 5), noise=0.2, seed=3)
    ref = np.mean([structural_similarity(clean[..., b].astype(float), est[..., b].astype(float),
                                         gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                         data_range=1) for b in range(5)])
    assert metrics.ssim(clean, est) == pytest.approx(ref, abs=1e-6)


def test_psnr_sert_equals_psnr_and_deg_equals_rad():
    clean, est = _pair()
    scores = metrics.evaluate(clean, est, "psnr,psnr@sert,sam,sam@deg")
    assert scores["psnr@sert"] == pytest.approx(scores["psnr"], abs=1e-9)
    assert scores["sam@deg"] == pytest.approx(np.degrees(scores["sam"]), abs=1e-9)


@pytest.mark.parametrize("name", NAMES)
def test_direction_better_estimate_scores_better(name):
    spec = metrics.spec(name)
    clean, noisy = _pair(noise=0.1)
    _, light = _pair(noise=0.02)
    bad, good = spec.fn(clean, noisy), spec.fn(clean, light)
    assert (good > bad) if spec.higher_is_better else (good < bad)


@pytest.mark.parametrize("name", NAMES)
def test_spec_fields_and_inputs_untouched(name):
    spec = metrics.spec(name)
    assert spec.name == name and spec.convention and spec.description and spec.reference
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.unit = "x"
    clean, est = _pair()
    copies = clean.copy(), est.copy()
    assert isinstance(spec.fn(clean, est), float)
    np.testing.assert_array_equal(clean, copies[0])
    np.testing.assert_array_equal(est, copies[1])


_BAD = {
    "nan": lambda c, e: (c, np.where(np.arange(c.size).reshape(c.shape) == 5, np.nan, e).astype(np.float32)),
    "inf": lambda c, e: (np.where(np.arange(c.size).reshape(c.shape) == 7, np.inf, c).astype(np.float32), e),
    "ndim": lambda c, e: (c[..., 0], e[..., 0]),
    "shape": lambda c, e: (c, e[:, :-1]),
    "zero-bands": lambda c, e: (c[..., :0], e[..., :0]),
    "integer": lambda c, e: ((c * 255).astype(np.uint8), (e * 255).astype(np.uint8)),
}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad", list(_BAD))
def test_bad_input_raises_data_error(name, bad):
    clean, est = _BAD[bad](*_pair())
    with pytest.raises(DataError):
        metrics.spec(name).fn(clean, est)


def test_window_larger_than_image_and_zero_mean_band():
    clean, est = _pair((8, 30, 3))
    with pytest.raises(DataError, match="11 x 11"):
        metrics.ssim(clean, est)
    clean, est = _pair()
    clean[..., 2] = 0.0
    with pytest.raises(DataError, match="zero mean"):
        metrics.ergas(clean, est)


def test_evaluate_defaults_clip_and_unknown_names():
    clean, est = _pair(noise=0.3)
    assert list(metrics.evaluate(clean, est)) == ["psnr", "ssim", "sam"]
    plain, clipped = metrics.evaluate(clean, est), metrics.evaluate(clean, est, clip=True)
    assert clipped["psnr"] > plain["psnr"]
    assert clipped["psnr"] == pytest.approx(metrics.psnr(clean, np.clip(est, 0, 1)), abs=1e-12)
    assert set(metrics.evaluate(clean, est, "all")) == set(NAMES)
    assert list(metrics.evaluate(clean, est, "default")) == ["psnr", "ssim", "sam", "ergas"]
    with pytest.raises(UsageError, match="did you mean"):
        metrics.evaluate(clean, est, ["ssim@qrnn"])


def test_perfect_reconstruction():
    clean, _ = _pair()
    scores = metrics.evaluate(clean, clean.copy(), "psnr,ssim,sam,ergas")
    assert scores["psnr"] == np.inf and scores["ssim"] == pytest.approx(1.0, abs=1e-6)
    assert scores["sam"] == pytest.approx(0.0, abs=1e-6) and scores["ergas"] == 0.0


def test_sam_zero_spectra_convention():
    clean = np.zeros((12, 12, 4), np.float32)
    est = clean.copy()
    est[:6] = 0.5
    assert metrics.sam(clean, clean.copy()) == 0.0
    assert metrics.sam(clean, est) == pytest.approx(np.pi / 4)


_DEVICES = ["cpu"] + (["cuda"] if __import__("torch").cuda.is_available() else [])


@pytest.mark.parametrize("device", _DEVICES)
@pytest.mark.parametrize("name", ["psnr", "ssim", "sam"])
def test_torch_path_agrees_with_numpy(name, device):
    import torch

    pairs = [_pair((30, 26, 7), noise=0.05, seed=s) for s in range(2)]
    fn = getattr(metrics, f"torch_{name}")
    batch = [torch.from_numpy(np.stack([p[i].transpose(2, 0, 1) for p in pairs])).to(device) for i in (0, 1)]
    got = fn(*batch).cpu().numpy()
    want = [metrics.spec(name).fn(*p) for p in pairs]
    assert got.shape == (2,)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    single = fn(batch[0][0], batch[1][0])
    assert single.ndim == 0 and float(single) == pytest.approx(want[0], abs=1e-4)


def test_torch_path_rejects_bad_tensors():
    import torch

    x = torch.rand(3, 16, 16)
    with pytest.raises(DataError):
        metrics.torch_psnr(x, torch.rand(3, 16, 15))
    with pytest.raises(DataError):
        metrics.torch_ssim(x, torch.full_like(x, float("nan")))
    with pytest.raises(DataError):
        metrics.torch_sam(x[0], x[0])


def test_torch_ssim_and_psnr_are_differentiable():
    import torch

    clean = torch.rand(2, 3, 16, 16, dtype=torch.float64)
    est = (clean + 0.1 * torch.randn_like(clean)).requires_grad_(True)
    (metrics.torch_ssim(clean, est).sum() + metrics.torch_psnr(clean, est).sum()).backward()
    assert est.grad is not None and torch.isfinite(est.grad).all() and est.grad.abs().sum() > 0
