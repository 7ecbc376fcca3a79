"""The identity method: the "Noisy" column of every paper table."""

from __future__ import annotations

from typing import Any

import numpy as np

from methods import register
from methods.base import Method


@register("noisy")
class Noisy(Method):
    """Returns the noisy input unchanged, so its scores are the input's."""

    family = "reference"
    description = "identity: scores of the noisy input"
    reference = "-"

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        return noisy.copy()
