"""Image-quality metrics as pure functions plus a spec (direction, unit, convention).

Defaults follow SPEC section 3; other published conventions are registered as ``metric@convention``.

Usage::

    from bench import metrics
    metrics.evaluate(clean, est)                         # {"psnr": ..., "ssim": ..., "sam": ...}
    metrics.evaluate(clean, est, "default,ssim@qrnn3d", clip=True)
    metrics.spec("sam").unit                             # "rad"

The torch versions (``torch_psnr``, ``torch_ssim``, ``torch_sam``) live in `bench.metrics.tensor` and are
imported on first use, so importing this package does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from bench.arrays import check_pair
from bench.metrics import conventions as _conv
from bench.metrics import core as _core
from bench.metrics.conventions import ergas_t3sc, psnr_sert, sam_deg, ssim_matlab3d, ssim_qrnn3d, ssim_sert
from bench.metrics.core import ergas, psnr, psnr_per_band, sam, ssim
from bench.metrics.noref import NO_REFERENCE, no_reference, nr_sigma, nr_stripe
from bench.registry import Registry

MetricFn = Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class MetricSpec:
    """What a metric computes and how to read it: direction, unit and the convention it follows."""

    name: str
    fn: MetricFn
    higher_is_better: bool
    unit: str
    convention: str
    description: str
    reference: str


registry: Registry[MetricSpec] = Registry("metric")
_RAW: dict[str, MetricFn] = {}
DEFAULT_NAMES = ("psnr", "ssim", "sam")


def register(spec: MetricSpec, *, groups: Iterable[str] = (), raw: MetricFn | None = None) -> MetricSpec:
    """Add ``spec`` to the registry; ``raw`` is an unvalidated kernel `evaluate` may call on checked arrays."""
    registry.add(spec.name, spec, groups=groups, higher_is_better=spec.higher_is_better, unit=spec.unit,
                 convention=spec.convention, description=spec.description, reference=spec.reference)
    _RAW[spec.name] = raw or spec.fn
    return spec


def evaluate(clean: np.ndarray, est: np.ndarray, names: str | Iterable[str] = DEFAULT_NAMES, *,
             clip: bool = False) -> dict[str, float]:
    """Score ``est`` against ``clean`` with each named metric (a selection: names, groups, ``all``).

    The pair is validated once. ``clip=True`` clips the estimate to [0, 1] first (T3SC's convention);
    the runner records which choice it made.
    """
    selected = registry.select(names)
    clean, est = check_pair(clean, est)
    if clip:
        est = np.clip(est, 0.0, 1.0)
    return {name: float(_RAW[name](clean, est)) for name in selected}


def spec(name: str) -> MetricSpec:
    """The `MetricSpec` registered as ``name`` (`UsageError` with a hint if unknown)."""
    return registry.get(name).obj


_DOI_SSIM = "doi:10.1109/TIP.2003.819861"
_QRNN3D = "doi:10.1109/TNNLS.2020.2978756"
_SERT = "Li et al., Spectral enhanced rectangle transformer for HSI denoising, CVPR 2023"
_T3SC = "Bodrito et al., A trainable spectral-spatial sparse coding model for HSI restoration, NeurIPS 2021"

for _spec, _raw, _groups in (
    (MetricSpec("psnr", psnr, True, "dB", "suite",
                "per-band 10 log10(1 / MSE_b), peak 1, mean over bands", "-"), _core._psnr, ("default",)),
    (MetricSpec("ssim", ssim, True, "", "suite",
                "per-band SSIM, 11 x 11 Gaussian window sigma 1.5, data range 1, population statistics, "
                "5-pixel border dropped, mean over bands (skimage gaussian_weights=True)", _DOI_SSIM),
     _core._ssim, ("default",)),
    (MetricSpec("sam", sam, False, "rad", "suite",
                "mean over pixels of the spectral angle arccos(<x, y> / (|x| |y|)), radians", "-"),
     _core._sam, ("default",)),
    (MetricSpec("ergas", ergas, False, "", "suite",
                "100 sqrt(mean_b(MSE_b / mu_b^2)), mu_b the clean band mean", "-"), _core._ergas, ("default",)),
    (MetricSpec("psnr@sert", psnr_sert, True, "dB", "sert",
                "10 log10(H W / SSE_b) per band, mean over bands (same value as psnr)", _SERT),
     _conv._psnr_sert, ("conventions",)),
    (MetricSpec("ssim@qrnn3d", ssim_qrnn3d, True, "", "qrnn3d",
                "skimage defaults per band: 7 x 7 uniform window, sample covariance, data range 2", _QRNN3D),
     _conv._ssim_qrnn3d, ("conventions",)),
    (MetricSpec("ssim@sert", ssim_sert, True, "", "sert",
                "one global (non-windowed) SSIM per band, data range 1, mean over bands", _SERT),
     _conv._ssim_sert, ("conventions",)),
    (MetricSpec("ssim@matlab3d", ssim_matlab3d, True, "", "matlab",
                "MATLAB ssim on the whole cube as one 3-D volume (Gaussian radius 1.5, replicate padding)",
                _DOI_SSIM), _conv._ssim_matlab3d, ("conventions",)),
    (MetricSpec("sam@deg", sam_deg, False, "deg", "sert", "SAM in degrees", _SERT),
     _conv._sam_deg, ("conventions",)),
    (MetricSpec("ergas@t3sc", ergas_t3sc, False, "", "t3sc",
                "100 sqrt(mean_b(MSE_b / mu_b)): the band mean is not squared", _T3SC),
     _conv._ergas_t3sc, ("conventions",)),
):
    register(_spec, groups=_groups, raw=_raw)

for _spec in (
    MetricSpec("nr_sigma", lambda clean, est: nr_sigma(check_pair(clean, est)[1]), False, "0-1", "no-reference",
               "NO-REFERENCE: wavelet-MAD noise sigma of the estimate per band (median |HH1| / 0.6745, db2), "
               "mean over bands; the clean cube is not used", "doi:10.1093/biomet/81.3.425"),
    MetricSpec("nr_stripe", lambda clean, est: nr_stripe(check_pair(clean, est)[1]), False, "0-1", "no-reference",
               "NO-REFERENCE: stripe index, sqrt(mean_j (c_j+1 - c_j)^2 / 2) of each band's column-mean "
               "profile c, mean over bands; the clean cube is not used", "-"),
):
    register(_spec, groups=("no-reference",), raw=lambda clean, est, _f=_spec.name: no_reference(est)[_f])

_TORCH = ("torch_psnr", "torch_ssim", "torch_sam")


def __getattr__(name: str) -> Any:
    if name in _TORCH:
        from bench.metrics import tensor

        return getattr(tensor, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEFAULT_NAMES", "MetricSpec", "NO_REFERENCE", "ergas", "ergas_t3sc", "evaluate", "no_reference", "nr_sigma", "nr_stripe", "psnr", "psnr_per_band", "psnr_sert",
           "register", "registry", "sam", "sam_deg", "spec", "ssim", "ssim_matlab3d", "ssim_qrnn3d", "ssim_sert",
           *_TORCH]
