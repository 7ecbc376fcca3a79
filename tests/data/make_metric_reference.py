"""Regenerate ``metric_reference.csv``: reference metric values computed without the suite's metric code.

Values come from scikit-image (per-band PSNR/SSIM loops in float64), from closed forms (constant
offset, orthogonal spectra, known scaling, identical cubes) and from direct per-pixel/per-band formulas.
The cubes are rebuilt from fixed seeds by `build_case`, which the tests import too.

    .venv/bin/python tests/data/make_metric_reference.py
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from skimage.restoration import estimate_sigma

OUT = Path(__file__).with_name("metric_reference.csv")
CASES = ("smooth-noisy", "smooth-light", "offset", "orthogonal", "scaled", "identical", "alternating-stripes")


def _smooth(shape: tuple[int, int, int], seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    cube = ndimage.gaussian_filter(rng.random(shape), (2.0, 2.0, 1.0))
    return ((cube - cube.min()) / (cube.max() - cube.min())).astype(np.float32)


def build_case(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The (clean, estimate) float32 pair of a calibration case."""
    if name == "smooth-noisy":
        clean = _smooth((32, 28, 8), 11)
        est = clean + 0.04 * np.random.default_rng(111).standard_normal(clean.shape)
    elif name == "smooth-light":
        clean = _smooth((24, 24, 5), 12)
        est = clean + 0.005 * np.random.default_rng(112).standard_normal(clean.shape)
    elif name == "offset":
        clean = np.random.default_rng(13).uniform(0.2, 0.7, (16, 16, 6))
        est = clean + 0.1
    elif name == "orthogonal":
        spectra = np.random.default_rng(14).uniform(0.1, 1.0, (16, 16, 6))
        clean, est = spectra.copy(), spectra.copy()
        clean[..., 1::2] = 0.0
        est[..., 0::2] = 0.0
    elif name == "scaled":
        clean = np.broadcast_to(np.linspace(0.2, 0.8, 7), (16, 16, 7)).copy()
        est = 1.1 * clean
    elif name == "identical":
        clean = _smooth((20, 20, 4), 15)
        est = clean.copy()
    elif name == "alternating-stripes":
        clean = np.full((12, 40, 3), 0.5)
        est = clean + 0.05 * (-1.0) ** np.arange(40)[None, :, None]
    else:
        raise KeyError(name)
    return np.asarray(clean, np.float32), np.asarray(est, np.float32)


def _per_band(fn, clean: np.ndarray, est: np.ndarray, **kw) -> float:
    c, e = clean.astype(np.float64), est.astype(np.float64)
    return float(np.mean([fn(c[..., b], e[..., b], **kw) for b in range(c.shape[2])]))


def _direct_sam(clean: np.ndarray, est: np.ndarray) -> float:
    angles = []
    for x, y in zip(clean.reshape(-1, clean.shape[2]).astype(np.float64),
                    est.reshape(-1, est.shape[2]).astype(np.float64)):
        angles.append(math.acos(max(-1.0, min(1.0, float(x @ y) / (np.linalg.norm(x) * np.linalg.norm(y))))))
    return float(np.mean(angles))


def _direct_ergas(clean: np.ndarray, est: np.ndarray, power: int) -> float:
    terms = []
    for b in range(clean.shape[2]):
        x, y = clean[..., b].astype(np.float64), est[..., b].astype(np.float64)
        terms.append(np.mean((x - y) ** 2) / np.mean(x) ** power)
    return 100.0 * math.sqrt(float(np.mean(terms)))


def _global_ssim(clean: np.ndarray, est: np.ndarray) -> float:
    vals = []
    for b in range(clean.shape[2]):
        x, y = clean[..., b].astype(np.float64).ravel(), est[..., b].astype(np.float64).ravel()
        cov = np.cov(x, y, bias=True)
        mx, my = x.mean(), y.mean()
        vals.append((2 * mx * my + 1e-4) * (2 * cov[0, 1] + 9e-4)
                    / ((mx ** 2 + my ** 2 + 1e-4) * (cov[0, 0] + cov[1, 1] + 9e-4)))
    return float(np.mean(vals))


def _direct_stripe(est: np.ndarray) -> float:
    vals = []
    for b in range(est.shape[2]):
        cols = [float(np.mean(est[:, j, b].astype(np.float64))) for j in range(est.shape[1])]
        vals.append(math.sqrt(sum((q - p) ** 2 for p, q in zip(cols, cols[1:])) / (len(cols) - 1) / 2))
    return float(np.mean(vals))


def reference_rows() -> list[tuple[str, str, float, float, str]]:
    """(case, metric, value, tolerance, source) rows."""
    rows: list[tuple[str, str, float, float, str]] = []
    for case in ("smooth-noisy", "smooth-light"):
        clean, est = build_case(case)
        rows += [
            (case, "psnr", _per_band(peak_signal_noise_ratio, clean, est, data_range=1), 1e-6, "skimage"),
            (case, "psnr@sert", _per_band(peak_signal_noise_ratio, clean, est, data_range=1), 1e-6, "skimage"),
            (case, "ssim", _per_band(structural_similarity, clean, est, gaussian_weights=True, sigma=1.5,
                                     use_sample_covariance=False, data_range=1), 1e-6, "skimage"),
            (case, "ssim@qrnn3d", _per_band(structural_similarity, clean, est, data_range=2), 1e-6, "skimage"),
            (case, "ssim@sert", _global_ssim(clean, est), 1e-9, "direct"),
            (case, "sam", _direct_sam(clean, est), 1e-9, "direct"),
            (case, "sam@deg", math.degrees(_direct_sam(clean, est)), 1e-7, "direct"),
            (case, "ergas", _direct_ergas(clean, est, 2), 1e-7, "direct"),
            (case, "ergas@t3sc", _direct_ergas(clean, est, 1), 1e-7, "direct"),
            (case, "nr_sigma", float(np.mean(estimate_sigma(est.astype(np.float64), channel_axis=-1))), 2e-6,
             "skimage"),
            (case, "nr_stripe", _direct_stripe(est), 1e-9, "direct"),
        ]
    mean_c = float(np.mean(np.linspace(0.2, 0.8, 7)))
    rows += [
        ("offset", "psnr", 20.0, 1e-4, "closed form: 10 log10(1 / 0.1^2)"),
        ("offset", "psnr@sert", 20.0, 1e-4, "closed form: 10 log10(1 / 0.1^2)"),
        ("orthogonal", "sam", math.pi / 2, 1e-12, "closed form: orthogonal spectra"),
        ("orthogonal", "sam@deg", 90.0, 1e-10, "closed form: orthogonal spectra"),
        ("scaled", "ergas", 10.0, 1e-4, "closed form: 100 * 0.1 for est = 1.1 clean, constant bands"),
        ("scaled", "ergas@t3sc", 10.0 * math.sqrt(mean_c), 1e-4, "closed form: 100 sqrt(0.01 mean(c_b))"),
        ("scaled", "sam", 0.0, 1e-6, "closed form: parallel spectra"),
        ("identical", "ssim", 1.0, 1e-6, "closed form: identical cubes"),
        ("identical", "ssim@qrnn3d", 1.0, 1e-6, "closed form: identical cubes"),
        ("identical", "ssim@sert", 1.0, 1e-9, "closed form: identical cubes"),
        ("identical", "ssim@matlab3d", 1.0, 1e-9, "closed form: identical cubes"),
        ("identical", "sam", 0.0, 1e-6, "closed form: identical cubes"),
        ("identical", "ergas", 0.0, 1e-12, "closed form: identical cubes"),
        ("alternating-stripes", "nr_stripe", 0.05 * math.sqrt(2), 1e-7,
         "closed form: column steps of 0.1 give sqrt(0.1^2 / 2)"),
        ("alternating-stripes", "nr_sigma", 0.0, 1e-9, "closed form: column offsets have no diagonal detail"),
    ]
    return rows


def main() -> None:
    with OUT.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["case", "metric", "value", "tolerance", "source"])
        for case, metric, value, tol, source in reference_rows():
            writer.writerow([case, metric, repr(float(value)), tol, source])
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
