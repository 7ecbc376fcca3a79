"""Training batches: multi-scale, flipped and rotated clean patches with noise drawn fresh per batch.

Every random choice comes from one `numpy.random.Generator` owned by the caller, so a batch sequence is
a pure function of the seed (and resumes exactly from the generator's saved state).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

import noise as noise_lib
from bench.errors import DataError, UsageError
from noise.base import NoiseModel


def parse_noise_list(spec: str) -> list[NoiseModel]:
    """A comma list of noise specs (``"noniid-95,mixture"``), or one spec with parameters (``"noniid:smax=95"``).

    A parameter item (``key=value``) stays with the spec before it, as in the registry's selection syntax.
    """
    items: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            raise UsageError(f"malformed noise list {spec!r}: empty item")
        if items and "=" in part and ":" not in part:
            items[-1] += "," + part
        else:
            items.append(part)
    return [noise_lib.parse(item) for item in items]


class PatchSampler:
    """Draws (noisy, clean) batches of ``patch`` x ``patch`` crops from a list of clean H x W x B cubes.

    A crop of side ``patch / scale`` is resized to ``patch`` (antialiased bilinear), then one of the eight
    flips/90-degree rotations is applied; each patch gets a noise model drawn uniformly from ``noises``.
    Images are picked with probability proportional to their area times their ``weights`` (default 1), so
    a small dataset mixed with a large one can still be seen as often.
    """

    def __init__(self, cubes: Sequence[np.ndarray], noises: Sequence[NoiseModel], *, patch: int,
                 scales: Sequence[float] = (1.0, 0.75, 0.5), weights: Sequence[float] | None = None) -> None:
        if not cubes:
            raise DataError("patch sampler: no training images")
        if not noises:
            raise UsageError("patch sampler: no noise model")
        bands = {c.shape[2] for c in cubes}
        if len(bands) != 1:
            raise DataError(f"patch sampler: training images have different band counts {sorted(bands)}")
        if any(not 0 < s <= 1 for s in scales):
            raise UsageError(f"patch sampler: scales must be in (0, 1], got {list(scales)}")
        self.cubes = [np.ascontiguousarray(c, dtype=np.float32) for c in cubes]
        self.noises = list(noises)
        self.patch = patch
        self.bands = bands.pop()
        self.scales = [s for s in scales if min(min(c.shape[:2]) for c in self.cubes) >= round(patch / s)] or [1.0]
        if min(min(c.shape[:2]) for c in self.cubes) < patch:
            raise DataError(f"patch sampler: an image is smaller than the {patch} px patch")
        area = np.array([c.shape[0] * c.shape[1] for c in self.cubes], dtype=np.float64)
        if weights is not None:
            if len(weights) != len(self.cubes) or any(w <= 0 for w in weights):
                raise UsageError("patch sampler: need one positive weight per image")
            area = area * np.asarray(weights, dtype=np.float64)
        self._p = area / area.sum()

    def clean_patch(self, rng: np.random.Generator) -> np.ndarray:
        """One augmented clean patch (patch x patch x B)."""
        cube = self.cubes[int(rng.choice(len(self.cubes), p=self._p))]
        scale = float(self.scales[int(rng.integers(len(self.scales)))])
        side = int(round(self.patch / scale))
        top = int(rng.integers(cube.shape[0] - side + 1))
        left = int(rng.integers(cube.shape[1] - side + 1))
        crop = cube[top:top + side, left:left + side]
        if side != self.patch:
            t = torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1)))[None]
            t = F.interpolate(t, size=(self.patch, self.patch), mode="bilinear", align_corners=False, antialias=True)
            crop = t[0].permute(1, 2, 0).numpy()
        k = int(rng.integers(4))
        crop = np.rot90(crop, k, axes=(0, 1))
        if rng.integers(2):
            crop = crop[:, ::-1]
        return np.ascontiguousarray(np.clip(crop, 0.0, 1.0), dtype=np.float32)

    def batch(self, size: int, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``size`` (noisy, clean) pairs as float32 tensors (N, B, patch, patch)."""
        noisy, clean = [], []
        for _ in range(size):
            c = self.clean_patch(rng)
            model = self.noises[int(rng.integers(len(self.noises)))]
            noisy.append(model.sample(c, rng).noisy)
            clean.append(c)
        return _to_tensor(noisy), _to_tensor(clean)


def _to_tensor(cubes: list[np.ndarray]) -> torch.Tensor:
    return torch.from_numpy(np.stack(cubes).transpose(0, 3, 1, 2).copy())
