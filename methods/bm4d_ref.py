"""BM4D through its authors' binary package (PyPI ``bm4d``), the reference the suite's own BM4D is checked against.

The package is free for non-commercial use only, so it is an optional extra
(``pip install -e ".[reference]"``) and is imported only when the method runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.errors import BenchError, UsageError
from bench.estimate import estimate_sigma
from methods import register
from methods.base import Method

_INSTALL_HINT = ('bm4d: the authors\' package is not installed; install the optional extra with '
                 '`pip install -e ".[reference]"` (free for non-commercial use only)')


def _import_bm4d() -> Any:
    try:
        import bm4d
    except ImportError:
        raise BenchError(_INSTALL_HINT) from None
    return bm4d


@register("bm4d")
class BM4DReference(Method):
    """BM4D (Maggioni et al., IEEE TIP 22(1), 2013, doi:10.1109/TIP.2012.2210725) via ``bm4d.bm4d``.

    The package models stationary noise: its ``sigma_psd`` is a scalar or a power spectral density
    of the whole volume, which cannot express a different variance per band. Per-band sigma is
    therefore reduced to one value, the mean as in QRNN3D's comparison scripts (or the
    root-mean-square with ``sigma_reduce="rms"``); ``last_info["sigma_used"]`` records it.
    """

    family = "model-driven"
    reference = ("Maggioni et al., 'Nonlocal transform-domain filter for volumetric data denoising and "
                 "reconstruction', IEEE TIP 22(1), 2013, doi:10.1109/TIP.2012.2210725")
    license = "authors' package: free for non-commercial use only (optional extra, not vendored)"
    version = "1"
    description = "BM4D, the authors' binary package (pip extra 'reference'); one sigma for the whole cube"
    defaults = {"profile": "np", "sigma_reduce": "mean"}

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        reduce = self.params["sigma_reduce"]
        if reduce not in ("mean", "rms"):
            raise UsageError(f"{self.name}: sigma_reduce must be 'mean' or 'rms', got {reduce!r}")
        bm4d = _import_bm4d()
        estimated = sigma is None
        per_band = estimate_sigma(noisy) if estimated else sigma
        value = float(per_band.mean()) if reduce == "mean" else float(np.sqrt((per_band ** 2).mean()))
        out = np.asarray(bm4d.bm4d(noisy.astype(np.float64), max(value, 1e-6), profile=self.params["profile"]))
        self.last_info = {"sigma_used": reduce, "sigma_value": value, "sigma_estimated": estimated,
                          "package_version": _package_version()}
        if estimated:
            self.last_info["sigma_per_band"] = [float(s) for s in per_band]
        return out.astype(np.float32)


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bm4d")
    except PackageNotFoundError:
        return "unknown"
