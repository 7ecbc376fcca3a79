"""Noise-model classes; the public modules register them under the protocols' preset names.

Sigmas and ranges are on the 0-255 scale (divided by 255 inside), ratios and column fractions on 0-1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.errors import DataError, UsageError
from noise import _ops
from noise.base import NoiseModel, NoiseSample

KINDS = ("impulse", "stripe", "deadline")


class Gaussian(NoiseModel):
    """Zero-mean Gaussian noise whose sigma is drawn per band (or once per cube) from a 0-255 range.

    Covers the non-i.i.d. rows of Wei et al., "3-D Quasi-Recurrent Neural Network for Hyperspectral
    Image Denoising", IEEE TNNLS 2021, doi:10.1109/TNNLS.2020.2978756, and the DECSC paper's
    ``noniid-s`` rows (sigma_b ~ U[0, s]).
    """

    family = "gaussian"
    description = "Gaussian noise, sigma per band drawn from [smin, smax] (0-255 scale)"
    reference = "doi:10.1109/TNNLS.2020.2978756"
    defaults: dict[str, Any] = {"smin": 0.0, "smax": 95.0, "levels": 0, "per_band": True}

    def __init__(self, name: str | None = None, **params: Any) -> None:
        super().__init__(name, **params)
        _check_range(self, "smin", "smax", upper=None)
        _check_levels(self, "levels")
        if not isinstance(self.params["per_band"], bool):
            raise UsageError(f"noise {self.name}: per_band must be true or false, got {self.params['per_band']!r}")

    def _sigma(self, bands: int, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        return _ops.draw_sigma(bands, rng, smin=float(p["smin"]), smax=float(p["smax"]), levels=int(p["levels"]),
                               per_band=p["per_band"])

    def _apply(self, clean: np.ndarray, rng: np.random.Generator) -> NoiseSample:
        sigma = self._sigma(clean.shape[2], rng)
        _ops.add_gaussian(clean, sigma, rng)
        return NoiseSample(clean, sigma, {})


class FixedGaussian(NoiseModel):
    """i.i.d. Gaussian noise with one known sigma for every band (0-255 scale)."""

    family = "gaussian"
    description = "i.i.d. Gaussian noise with a fixed sigma (0-255 scale)"
    reference = "doi:10.1109/TNNLS.2020.2978756"
    defaults: dict[str, Any] = {"sigma": 30.0}

    def __init__(self, name: str | None = None, **params: Any) -> None:
        super().__init__(name, **params)
        _check_number(self, "sigma", low=0.0)

    def _apply(self, clean: np.ndarray, rng: np.random.Generator) -> NoiseSample:
        sigma = np.full(clean.shape[2], float(self.params["sigma"]) / _ops.SIGMA_SCALE)
        _ops.add_gaussian(clean, sigma, rng)
        return NoiseSample(clean, sigma, {})


class CorrelatedGaussian(NoiseModel):
    """Gaussian noise whose sigma follows a bell curve across bands (spectrally correlated variance).

    Bodrito et al., "A Trainable Spectral-Spatial Sparse Coding Model for Hyperspectral Image
    Restoration", NeurIPS 2021, arXiv:2111.09708.
    """

    family = "gaussian"
    description = "sigma_i = beta exp(-(i/B - 1/2)^2 / (4 eta^2)) (0-255 scale)"
    reference = "arXiv:2111.09708"
    defaults: dict[str, Any] = {"beta": 23.08, "eta": 0.157}

    def __init__(self, name: str | None = None, **params: Any) -> None:
        super().__init__(name, **params)
        _check_number(self, "beta", low=0.0)
        _check_number(self, "eta", low=0.0, strict=True)

    def _apply(self, clean: np.ndarray, rng: np.random.Generator) -> NoiseSample:
        sigma = _ops.correlated_sigma(clean.shape[2], beta=float(self.params["beta"]), eta=float(self.params["eta"]))
        _ops.add_gaussian(clean, sigma, rng)
        return NoiseSample(clean, sigma, {})


class Structured(Gaussian):
    """Gaussian noise, then impulse / stripe / deadline noise on disjoint random band groups.

    ``kinds`` lists the structured corruptions joined by ``+`` in the order their groups are drawn; each
    group has ``bands`` bands (0 means floor(B / 3)). Stripe and deadline hit between ``cmin`` and ``cmax``
    of the columns; impulse ratios come from [rmin, rmax] (``rlevels`` evenly spaced values, 0 =
    continuous). With probability ``1 - p`` only the Gaussian part is applied. QRNN3D (Wei et al., IEEE
    TNNLS 2021, doi:10.1109/TNNLS.2020.2978756) defines the corruptions; the DECSC paper's ``mixture`` row
    uses them on top of ``noniid-95``.
    """

    family = "mixed"
    description = "Gaussian noise plus impulse/stripe/deadline noise on disjoint band groups"
    defaults: dict[str, Any] = {**Gaussian.defaults, "kinds": "impulse+stripe+deadline", "bands": 0,
                                "cmin": 0.05, "cmax": 0.15, "rmin": 0.1, "rmax": 0.7, "rlevels": 4, "p": 1.0}
    _column_rule = "ceil"
    _stripe_sign = -1.0

    def __init__(self, name: str | None = None, **params: Any) -> None:
        super().__init__(name, **params)
        kinds = self.kinds()
        bad = [k for k in kinds if k not in KINDS]
        if bad or not kinds or len(set(kinds)) != len(kinds):
            raise UsageError(f"noise {self.name}: kinds must be distinct items of {'+'.join(KINDS)} "
                             f"joined by '+', got {self.params['kinds']!r}")
        if isinstance(self.params["bands"], bool) or not isinstance(self.params["bands"], int) \
                or self.params["bands"] < 0:
            raise UsageError(f"noise {self.name}: bands must be a non-negative integer, got {self.params['bands']!r}")
        _check_range(self, "cmin", "cmax", upper=1.0)
        _check_range(self, "rmin", "rmax", upper=1.0)
        _check_levels(self, "rlevels")
        _check_number(self, "p", low=0.0, high=1.0)

    def kinds(self) -> list[str]:
        """The structured corruptions in group order."""
        return [k.strip() for k in str(self.params["kinds"]).split("+") if k.strip()]

    def _group_size(self, bands: int) -> int:
        return int(self.params["bands"]) or bands // 3

    def _apply(self, clean: np.ndarray, rng: np.random.Generator) -> NoiseSample:
        p = self.params
        h, w, bands = clean.shape
        sigma = self._sigma(bands, rng)
        _ops.add_gaussian(clean, sigma, rng)
        info: dict[str, Any] = {}
        if float(p["p"]) < 1.0:
            info["applied"] = bool(rng.random() < float(p["p"]))
            if not info["applied"]:
                return NoiseSample(clean, sigma, info)
        kinds = self.kinds()
        size = self._group_size(bands)
        if size * len(kinds) > bands:
            raise DataError(f"noise {self.name}: needs {len(kinds)} disjoint groups of {size} bands, "
                            f"the cube has {bands}")
        cols = {"low": float(p["cmin"]), "high": float(p["cmax"]), "rule": self._column_rule}
        for kind, group in zip(kinds, _ops.disjoint_band_groups(bands, [size] * len(kinds), rng)):
            if kind == "stripe":
                hit = _ops.stripe(clean, group, rng, sign=self._stripe_sign, **cols)
                info["stripe"] = {"bands": group, "columns": hit}
            elif kind == "deadline":
                info["deadline"] = {"bands": group, "columns": _ops.deadline(clean, group, rng, **cols)}
            else:
                ratios, flipped = _ops.impulse(clean, group, rng, rmin=float(p["rmin"]), rmax=float(p["rmax"]),
                                               levels=int(p["rlevels"]))
                info["impulse"] = {"bands": group, "ratios": ratios, "flipped": flipped}
        return NoiseSample(clean, sigma, info)


class T3SCStripes(Structured):
    """T3SC's stripe case: Gaussian sigma 25 everywhere, stripes on int(0.33 B) bands.

    Columns: n ~ randint[int(0.05 W), int(0.15 W)), offset (U - 0.5) * 0.5 added down each column
    (Bodrito et al., NeurIPS 2021, arXiv:2111.09708).
    """

    description = "T3SC stripes: Gaussian sigma 25 plus additive column stripes on 33 % of the bands"
    reference = "arXiv:2111.09708"
    _column_rule = "int"
    _stripe_sign = 1.0

    def _group_size(self, bands: int) -> int:
        return int(self.params["bands"]) or int(0.33 * bands)


def _check_number(model: NoiseModel, key: str, *, low: float | None = None, high: float | None = None,
                  strict: bool = False) -> None:
    value = model.params[key]
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if strict else value >= low
    if ok and high is not None:
        ok = value <= high
    if not ok:
        bounds = f"{'>' if strict else '>='} {low}" if low is not None else "finite"
        bounds += f" and <= {high}" if high is not None else ""
        raise UsageError(f"noise {model.name}: {key} must be a number {bounds}, got {value!r}")


def _check_range(model: NoiseModel, lo_key: str, hi_key: str, *, upper: float | None) -> None:
    _check_number(model, lo_key, low=0.0, high=upper)
    _check_number(model, hi_key, low=0.0, high=upper)
    if model.params[lo_key] > model.params[hi_key]:
        raise UsageError(f"noise {model.name}: {lo_key}={model.params[lo_key]} exceeds {hi_key}={model.params[hi_key]}")


def _check_levels(model: NoiseModel, key: str) -> None:
    value = model.params[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value == 1:
        raise UsageError(f"noise {model.name}: {key} must be 0 (continuous) or an integer >= 2, got {value!r}")
