"""Dataset and image types shared by every loader."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np


@dataclass
class HSImage:
    """One hyperspectral image: ``clean`` (H x W x B in [0, 1]) or, for real-noise data, only ``noisy``."""

    id: str
    clean: np.ndarray | None
    noisy: np.ndarray | None = None
    wavelengths: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def cube(self) -> np.ndarray:
        """The cube the benchmark feeds in: the clean one, or the real noisy one when there is no truth."""
        return self.clean if self.clean is not None else self.noisy  # type: ignore[return-value]


class Dataset(Sequence[HSImage]):
    """A named, lazily loaded sequence of images; ``loader(id)`` reads one image on demand."""

    def __init__(self, name: str, ids: Sequence[str], loader: Callable[[str], HSImage], *,
                 has_ground_truth: bool = True, rgb_bands: tuple[int, int, int] = (30, 16, 1),
                 wavelengths: np.ndarray | None = None, meta: dict[str, Any] | None = None) -> None:
        self.name = name
        self.ids = list(ids)
        self._loader = loader
        self.has_ground_truth = has_ground_truth
        self.rgb_bands = rgb_bands
        self.wavelengths = wavelengths
        self.meta = dict(meta or {})

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, index: int) -> HSImage:  # type: ignore[override]
        return self._loader(self.ids[index])

    def __iter__(self) -> Iterator[HSImage]:
        for i in self.ids:
            yield self._loader(i)

    def get(self, image_id: str) -> HSImage:
        return self._loader(image_id)

    @property
    def brings_inputs(self) -> bool:
        """True for sets that hold their own noisy inputs: real noise, frozen or other toolboxes' test sets."""
        return not self.has_ground_truth or bool(self.meta.get("noise"))

    def crop_for(self, explicit: int | None, profile: int | None) -> int | None:
        """The centre crop a run applies: ``explicit`` (``--crop``) when given, else the profile's, except that
        sets bringing their own inputs run at their stored size, so they stay the very same cubes."""
        if explicit is not None:
            return explicit
        return None if self.brings_inputs else profile


def data_root(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where external datasets live: ``--data-root``, else ``$HSIBENCH_DATA``, else ``./data``."""
    return Path(explicit or os.environ.get("HSIBENCH_DATA") or "data")


def cache_dir() -> Path:
    """Where generated embedded datasets are cached: ``$HSIBENCH_CACHE`` or ``runs/cache``."""
    return Path(os.environ.get("HSIBENCH_CACHE") or Path("runs") / "cache")
