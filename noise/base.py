"""The noise-model contract: ``model(clean, rng) -> noisy``; ``model.sample`` also says what was done."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from bench.arrays import check_cube
from bench.errors import UsageError


@dataclass
class NoiseSample:
    """A noisy cube with the per-band sigma used (0-1 scale) and what else was applied.

    ``info`` maps kinds ("stripe", "deadline", "impulse") to the bands and columns/ratios they hit.
    """

    noisy: np.ndarray
    sigma: np.ndarray
    info: dict[str, Any] = field(default_factory=dict)


class NoiseModel:
    """Base class of registered noise models. Subclasses declare `defaults` and implement `_apply`.

    The clean array is never modified and no global random state is used: all randomness comes from
    the ``rng`` argument, so the same generator state gives the same bytes in any process.
    """

    defaults: ClassVar[dict[str, Any]] = {}
    description: ClassVar[str] = ""
    reference: ClassVar[str] = ""
    family: ClassVar[str] = ""

    def __init__(self, name: str | None = None, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise UsageError(f"noise {name or type(self).__name__}: unknown parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(self.defaults)) or 'none'}")
        self.name = name or type(self).__name__.lower()
        self.params: dict[str, Any] = {**self.defaults, **params}
        self._overrides: dict[str, Any] = {}

    def sample(self, clean: np.ndarray, rng: np.random.Generator) -> NoiseSample:
        clean = check_cube(clean, "clean cube")
        out = self._apply(clean.copy(), rng)
        out.noisy = np.asarray(out.noisy, dtype=np.float32)
        out.sigma = np.asarray(out.sigma, dtype=np.float64)
        return out

    def __call__(self, clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return self.sample(clean, rng).noisy

    def _apply(self, clean: np.ndarray, rng: np.random.Generator) -> NoiseSample:
        raise NotImplementedError

    def spec(self) -> str:
        """Canonical ``name:k=v,...`` string of the parameters that differ from the registered preset."""
        return self.name if not self._overrides else \
            self.name + ":" + ",".join(f"{k}={v}" for k, v in sorted(self._overrides.items()))
