"""Embedded default sets ``scenes31`` and ``scenes-rs``: synthetic-from-real cubes needing no download.

Each cube is built from a photograph shipped inside scikit-image and measured reflectance spectra from
earthlib (see `bench.datasets._synth` for the method and its limits). Cubes are generated on first use,
cached under `bench.datasets.base.cache_dir()` with a sha256 record, and are bit-for-bit reproducible.

``scenes31``: 31 bands, 400-700 nm at 10 nm (the ICVL sampling); test images are 256 x 256 crops chosen so
the centre holds detail; train images are up to 512 x 512. ``scenes-rs``: 90 bands from 400 to 2450 nm
(every second earthlib band; water-absorption bands absent) at 128 x 128, to exercise band counts that
differ from a 31-band model.
"""

from __future__ import annotations

import importlib.util
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.datasets import register
from bench.datasets._cache import cached_array
from bench.datasets._spectra import VISIBLE, earthlib_library, earthlib_wavelengths, visible_colour_samples
from bench.datasets._synth import synthesize
from bench.datasets.base import Dataset, HSImage, cache_dir
from bench.errors import DataError, UsageError
from bench.seeding import stable_hash

_RECIPE_VERSION = 2


@dataclass(frozen=True)
class _Scene:
    """A photo, the ``(top, left, height, width)`` box cut from it, an optional square output size, and
    for grey photos the earthlib level-3 classes their spectra come from (empty: all)."""

    id: str
    file: str
    box: tuple[int, int, int, int]
    size: int | None = None
    pool: tuple[str, ...] = ()


_BUILT = ("tile", "concrete_tile", "paint", "sidewalk", "comp_shingle")
_GROUND = ("soil", "sand", "dirt", "gravel")

_SCENES31: dict[str, list[_Scene]] = {
    "test": [
        _Scene("astronaut", "astronaut.png", (42, 92, 256, 256)),
        _Scene("coffee", "coffee.png", (72, 172, 256, 256)),
        _Scene("chelsea", "chelsea.png", (22, 112, 256, 256)),
        _Scene("rocket", "rocket.jpg", (150, 192, 256, 256)),
        _Scene("ihc", "ihc.png", (128, 128, 256, 256)),
        _Scene("camera", "camera.png", (22, 132, 256, 256)),
    ],
    "train": [
        _Scene("motorcycle_left", "motorcycle_left.png", (0, 114, 496, 512)),
        _Scene("retina", "retina.jpg", (200, 200, 1011, 1011), size=512),
        _Scene("hubble_deep_field", "hubble_deep_field.jpg", (180, 244, 512, 512)),
        _Scene("grass", "grass.png", (0, 0, 512, 512), pool=("canopy",)),
        _Scene("gravel", "gravel.png", (0, 0, 512, 512), pool=("gravel", "sand", "dirt")),
        _Scene("brick", "brick.png", (0, 0, 512, 512), pool=_BUILT),
        _Scene("coins", "coins.png", (0, 0, 303, 384), pool=("metal", "asphalt", "road")),
        _Scene("moon", "moon.png", (0, 0, 512, 512), pool=_GROUND),
    ],
    "val": [
        _Scene("motorcycle_right", "motorcycle_right.png", (120, 240, 256, 256)),
    ],
}

_SCENES_RS: dict[str, list[_Scene]] = {
    "test": [
        _Scene("astronaut", "astronaut.png", (0, 0, 512, 512), size=128),
        _Scene("coffee", "coffee.png", (0, 100, 400, 400), size=128),
        _Scene("chelsea", "chelsea.png", (0, 75, 300, 300), size=128),
    ],
    "train": [
        _Scene("motorcycle_left", "motorcycle_left.png", (0, 120, 500, 500), size=128),
        _Scene("retina", "retina.jpg", (200, 200, 1011, 1011), size=128),
        _Scene("grass", "grass.png", (0, 0, 512, 512), size=128, pool=("canopy",)),
    ],
    "val": [
        _Scene("gravel", "gravel.png", (0, 0, 512, 512), size=128, pool=("gravel", "sand", "dirt")),
    ],
}


def _photo_dir() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("scikit-image: package not installed; the embedded scene sets need its photos")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _photo(scene: _Scene) -> np.ndarray:
    """The scene's crop as floats in [0, 1], read from the file in the scikit-image wheel (no download)."""
    from skimage import io, transform

    path = _photo_dir() / scene.file
    if not path.is_file():
        raise DataError(f"embedded scene {scene.id}: photo {path} is missing from the scikit-image install")
    img = io.imread(path)
    top, left, h, w = scene.box
    crop = img[top:top + h, left:left + w].astype(np.float64) / 255.0
    if crop.shape[:2] != (h, w):
        raise DataError(f"embedded scene {scene.id}: {path} is {img.shape[:2]}, too small for box {scene.box}")
    if scene.size is not None:
        shape = (scene.size, scene.size) + crop.shape[2:]
        crop = transform.resize(crop, shape, order=1, anti_aliasing=True, mode="reflect")
    return np.clip(crop, 0.0, 1.0)


def _library(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(visible N x 31, full N x B, wavelengths of full, class per row)`` for one embedded set."""
    spectra, wavelengths, classes = earthlib_library()
    visible = spectra[:, :VISIBLE.size]
    if name == "scenes31":
        extra = visible_colour_samples()
        both = np.concatenate([visible, extra])
        return both, both, VISIBLE.copy(), classes + ("colour-sample",) * len(extra)
    return visible, spectra[:, ::2], wavelengths[::2], classes


def _wavelengths(name: str) -> np.ndarray:
    return VISIBLE.copy() if name == "scenes31" else earthlib_wavelengths()[::2].copy()


def _generate(name: str, scene: _Scene) -> np.ndarray:
    visible, full, _, classes = _library(name)
    pool = None
    if scene.pool:
        pool = np.array([i for i, c in enumerate(classes) if c in scene.pool])
    seed = int(stable_hash([name, scene.id], length=8), 16)
    return synthesize(_photo(scene), visible=visible, full=full, pool=pool, seed=seed)


def _cube_path(name: str, scene: _Scene) -> Path:
    key = stable_hash({"set": name, "scene": asdict(scene), "version": _RECIPE_VERSION}, length=12)
    return cache_dir() / name / f"{scene.id}-{key}.npy"


def _open(name: str, table: dict[str, list[_Scene]], split: str, rgb_bands: tuple[int, int, int],
          options: dict[str, object]) -> Dataset:
    if options:
        raise UsageError(f"dataset {name}: unknown option(s) {', '.join(sorted(options))}")
    if split not in table:
        raise UsageError(f"dataset {name}: unknown split {split!r}; choose from {', '.join(table)}")
    scenes = {s.id: s for s in table[split]}
    wavelengths = _wavelengths(name)

    def load_one(image_id: str) -> HSImage:
        scene = scenes[image_id]
        cube = cached_array(_cube_path(name, scene), lambda: _generate(name, scene))
        meta = {"source": f"skimage/data/{scene.file}", "box": list(scene.box), "synthetic": True}
        return HSImage(image_id, cube, wavelengths=wavelengths, meta=meta)

    return Dataset(name, list(scenes), load_one, rgb_bands=rgb_bands, wavelengths=wavelengths,
                   meta={"split": split, "synthetic": True})


_REFERENCE = "scikit-image sample photos; earthlib spectral library (MIT); colour-science reflectance data"


@register("scenes31", groups=("embedded",), kind="embedded", reference=_REFERENCE, bands=31,
          description="31-band 400-700 nm cubes from scikit-image photos and earthlib/ColorChecker spectra "
                      "(synthetic-from-real)")
def scenes31(*, split: str = "test", data_root: str | None = None, **options: object) -> Dataset:
    """The default embedded set (ICVL band sampling; false colour from bands 31/17/2 one-based)."""
    return _open("scenes31", _SCENES31, split, (30, 16, 1), options)


@register("scenes-rs", groups=("embedded",), kind="embedded", reference=_REFERENCE, bands=90,
          description="90-band 400-2450 nm cubes from scikit-image photos and earthlib spectra (synthetic-from-real)")
def scenes_rs(*, split: str = "test", data_root: str | None = None, **options: object) -> Dataset:
    """Wide-range embedded set (every second earthlib band) for band counts other than 31."""
    wavelengths = _wavelengths("scenes-rs")
    rgb = tuple(int(np.abs(wavelengths - nm).argmin()) for nm in (700.0, 560.0, 410.0))
    return _open("scenes-rs", _SCENES_RS, split, rgb, options)  # type: ignore[arg-type]
