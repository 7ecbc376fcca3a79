"""Loaders for real hyperspectral data sets kept under the data root (`bench.datasets.base.data_root`).

Expected locations (``<root>`` = ``--data-root`` / ``$HSIBENCH_DATA`` / ``./data``) are listed in
`LOCATIONS`; ``bench data list`` shows which are present. No file is downloaded.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Callable

import numpy as np

from bench.arrays import center_crop, check_cube
from bench.datasets import register
from bench.datasets._readers import (CUBE_SUFFIXES, band_png_files, mat_scalars, minmax, read_any,
                                     read_band_pngs, read_mat, require, require_unit_scale)
from bench.datasets._spectra import VISIBLE
from bench.datasets.base import Dataset, HSImage, data_root as _root
from bench.errors import DataError, MissingDataError, UsageError


@dataclass(frozen=True)
class Location:
    """Where a real data set is expected under the data root, and what it is."""

    folder: str
    patterns: tuple[str, ...]
    description: str


LOCATIONS: dict[str, Location] = {
    "icvl": Location("icvl", ("*.mat",), "ICVL MATLAB v7.3 files (key 'rad'); test list: QRNN3D ICVL_test_gauss"),
    "cave": Location("cave", ("*/*.png", "*/*/*.png"), "CAVE: one folder per scene of 31 band PNGs (*_01.png ...)"),
    "houston2018": Location("houston2018", ("*.tif", "*.tiff", "*.hdr", "*.mat"),
                            "Houston 2018 HSI (GeoTIFF/ENVI/.mat, 48 bands; last 46 used)"),
    "indian_pines": Location("indian_pines", ("*ndian_pines_corrected*.mat",),
                             "Indian Pines corrected, MATLAB v5 (key 'indian_pines_corrected')"),
    "pavia": Location("pavia", ("PaviaU*.mat", "paviaU*.mat"), "Pavia University PaviaU.mat (key 'paviaU')"),
    "urban": Location("urban", ("Urban_F210*.mat", "urban_f210*.mat"),
                      "HYDICE Urban_F210.mat (key 'Y', 210 bands x 307*307 pixels); real noise"),
    "eo1": Location("eo1", tuple(f"*{s}" for s in CUBE_SUFFIXES), "EO-1 Hyperion sub-image(s); real noise"),
    "gf5": Location("gf5", tuple(f"*{s}" for s in CUBE_SUFFIXES), "GF-5 sub-image(s); real noise"),
}

Reader = Callable[[Path], np.ndarray]


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise UsageError(f"expected true or false, got {value!r}")
        return value.lower() in ("true", "1", "yes")
    return bool(value)


def found_files(root: Path, name: str) -> list[Path]:
    """Files matching the expected patterns of data set ``name`` under ``root`` (sorted, unique)."""
    loc = LOCATIONS[name]
    folder = root / loc.folder
    hits = {p for pat in loc.patterns for p in folder.glob(pat) if p.is_file()}
    return sorted(hits)


def _folder(name: str, data_root: str | None) -> Path:
    folder = _root(data_root) / LOCATIONS[name].folder
    if not folder.is_dir():
        raise MissingDataError(f"{name}: data folder not found: {folder} (expected {LOCATIONS[name].description}; "
                               f"set --data-root or HSIBENCH_DATA)")
    return folder


def _files(name: str, data_root: str | None) -> list[Path]:
    files = found_files(_root(data_root), name)
    if not files:
        folder = _folder(name, data_root)
        raise MissingDataError(f"{name}: no files matching {', '.join(LOCATIONS[name].patterns)} in {folder}")
    return files


def _rgb(bands: int) -> tuple[int, int, int]:
    """False-colour bands: the ICVL convention for 31 bands, else fixed fractions of the band range."""
    if bands == 31:
        return (30, 16, 1)
    return (int(0.6 * (bands - 1)), int(0.35 * (bands - 1)), int(0.1 * (bands - 1)))


def file_dataset(name: str, files: list[Path], read: Reader, *, truth: bool = True,
                 bands: int | None = None, rgb: tuple[int, int, int] | None = None,
                 wavelengths: np.ndarray | None = None, meta: dict[str, object] | None = None) -> Dataset:
    """A dataset with one image per file; ``read`` returns the final H x W x B cube in [0, 1].

    Without ``bands`` the first image is read once to learn the band count; ``rgb`` (the usual false
    colour of the sensor) is used when the data has enough bands for it.
    """
    stems = [f.stem for f in files]
    ids = stems if len(set(stems)) == len(stems) else [f.name for f in files]
    by_id = dict(zip(ids, files))

    def load_one(image_id: str) -> HSImage:
        path = by_id[image_id]
        cube = check_cube(read(path), f"{name}: {path}")
        info = {"path": str(path)}
        if truth:
            return HSImage(image_id, cube, wavelengths=wavelengths, meta=info)
        return HSImage(image_id, None, noisy=cube, wavelengths=wavelengths, meta={**info, "real_noise": True})

    if bands is None:
        bands = load_one(ids[0]).cube.shape[2] if ids else 31
    if rgb is None or max(rgb) >= bands:
        rgb = _rgb(bands)
    return Dataset(name, ids, load_one, has_ground_truth=truth, rgb_bands=rgb,
                   wavelengths=wavelengths, meta=dict(meta or {}))


def _package_list(filename: str) -> list[str]:
    text = resources.files("bench.datasets").joinpath(filename).read_text()
    return [line.strip() for line in text.splitlines() if line.strip()]


_ICVL_LISTS = {"gauss": "icvl_test_gauss.txt", "complex": "icvl_test_complex.txt", "train": "icvl_train.txt"}


def _icvl_files(folder: Path, split: str, which: str) -> tuple[list[Path], str]:
    every = sorted(folder.glob("*.mat"))
    if which == "all":
        return every, "every .mat in the folder"
    if split == "train":
        listed = _package_list(_ICVL_LISTS["train"])
        present = [folder / n for n in listed if (folder / n).is_file()]
        if present:
            return present, "QRNN3D ICVL_train.txt"
        tests = set(_package_list(_ICVL_LISTS["gauss"])) | set(_package_list(_ICVL_LISTS["complex"]))
        return [p for p in every if p.name not in tests], "every .mat not in a QRNN3D test list"
    listed = _package_list(_ICVL_LISTS[which])
    present = [folder / n for n in listed if (folder / n).is_file()]
    if present:
        return present, f"QRNN3D {_ICVL_LISTS[which]} ({len(present)} of {len(listed)} present)"
    return every, f"every .mat in the folder (none of QRNN3D {_ICVL_LISTS[which]} present)"


@register("icvl", groups=("real",), bands=31, kind="real", description="ICVL natural scenes, <root>/icvl/*.mat",
          reference="Arad & Ben-Shahar, ECCV 2016, doi:10.1007/978-3-319-46478-7_2")
def icvl(*, split: str = "test", data_root: str | None = None, protocol: str = "qrnn3d",
         subset: str | None = None) -> Dataset:
    """ICVL radiance cubes (key ``rad``) prepared by a named protocol.

    ``qrnn3d`` (default; QRNN3D/SST/SERT/DECSC): rotate 90 degrees counter-clockwise in the image plane,
    centre crop 512 x 512, one global min-max. ``t3sc``: full resolution, ``(x - min) / (max - min + 0.001)``.
    ``subset``: ``gauss`` (the 50-image QRNN3D test list, default for ``test``), ``complex`` or ``all``.
    """
    if protocol not in ("qrnn3d", "t3sc"):
        raise UsageError(f"icvl: unknown protocol {protocol!r}; choose qrnn3d or t3sc")
    if split not in ("test", "train"):
        raise UsageError(f"icvl: unknown split {split!r}; choose test or train")
    which = subset or ("gauss" if split == "test" else "train")
    if which not in ("gauss", "complex", "all", "train"):
        raise UsageError(f"icvl: unknown subset {which!r}; choose gauss, complex or all")
    files, source = _icvl_files(_folder("icvl", data_root), split, which)
    if not files:
        raise UsageError(f"icvl: no .mat files in {_folder('icvl', data_root)}")

    def read(path: Path) -> np.ndarray:
        raw = read_mat(path, "rad", what="icvl")
        if raw.ndim != 3:
            raise DataError(f"icvl: {path} key 'rad' has shape {raw.shape}, expected H x W x B")
        if protocol == "t3sc":
            return minmax(raw, what=f"icvl: {path}", eps=0.001)
        return minmax(center_crop(np.rot90(raw, k=1, axes=(0, 1)), 512), what=f"icvl: {path}")

    return file_dataset("icvl", files, read, bands=31, wavelengths=VISIBLE.copy(),
                        meta={"protocol": protocol, "list": source, "split": split})


@register("cave", groups=("real",), bands=31, kind="real",
          description="CAVE multispectral scenes, <root>/cave/<scene>/*_NN.png",
          reference="Yasuma et al., IEEE TIP 2010, doi:10.1109/TIP.2010.2046811")
def cave(*, split: str = "test", data_root: str | None = None) -> Dataset:
    """CAVE scenes, 31 band PNGs 400-700 nm at 512 x 512, one global min-max per scene (all images: test)."""
    if split != "test":
        raise UsageError(f"cave: unknown split {split!r}; only test")
    folder = _folder("cave", data_root)
    scenes = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir()):
        inner = [sub] + sorted(p for p in sub.iterdir() if p.is_dir())
        hit = next((d for d in inner if band_png_files(d)), None)
        if hit is not None:
            scenes.append(hit)
    if not scenes:
        raise UsageError(f"cave: no scene folders with per-band PNGs (*_NN.png) in {folder}")
    return file_dataset("cave", scenes, lambda d: minmax(read_band_pngs(d, what="cave"), what=f"cave: {d}"),
                        bands=31, wavelengths=VISIBLE.copy())


@register("houston2018", groups=("real",), bands=46,
          kind="real",
          description="Houston 2018, <root>/houston2018/*.tif|*.hdr|*.mat, last 46 bands",
          reference="2018 IEEE GRSS Data Fusion Contest, doi:10.1109/JSTARS.2019.2911113")
def houston2018(*, split: str = "test", data_root: str | None = None, crop: int | str = 512) -> Dataset:
    """Last 46 bands; ``test``: the centre ``crop`` square; ``train``: the columns left and right of it."""
    if split not in ("test", "train"):
        raise UsageError(f"houston2018: unknown split {split!r}; choose test or train")
    size = int(crop)
    path = _files("houston2018", data_root)[0]

    def part(which: str) -> np.ndarray:
        cube = read_any(path, what="houston2018")
        if cube.shape[2] < 46:
            raise DataError(f"houston2018: {path} has {cube.shape[2]} bands, expected 48")
        cube = cube[..., -46:]
        h, w = cube.shape[:2]
        left = (w - min(size, w)) // 2
        if which == "test":
            region = center_crop(cube, size)
        else:
            region = cube[:, :left] if which == "left" else cube[:, left + min(size, w):]
            if region.shape[1] == 0:
                raise DataError(f"houston2018: {path} is too narrow ({w} px) for a training region")
        return minmax(region, what=f"houston2018: {path}")

    ids = ["houston2018"] if split == "test" else ["houston2018-left", "houston2018-right"]

    def load_one(image_id: str) -> HSImage:
        which = "test" if image_id == "houston2018" else image_id.rsplit("-", 1)[1]
        return HSImage(image_id, check_cube(part(which), f"houston2018: {path}"), meta={"path": str(path)})

    return Dataset("houston2018", ids, load_one, rgb_bands=(17, 10, 3), meta={"split": split, "crop": size})


def _single_mat(name: str, key: str, rgb: tuple[int, int, int]) -> Callable[..., Dataset]:
    def factory(*, split: str = "test", data_root: str | None = None) -> Dataset:
        if split != "test":
            raise UsageError(f"{name}: unknown split {split!r}; only test")
        files = _files(name, data_root)[:1]
        return file_dataset(name, files, lambda p: minmax(read_mat(p, key, what=name), what=f"{name}: {p}"),
                            rgb=rgb)

    factory.__doc__ = f"{LOCATIONS[name].description}; one global min-max."
    return factory


register("indian_pines", groups=("real",), bands=200, kind="real", description="Indian Pines corrected (AVIRIS), "
         "<root>/indian_pines/Indian_pines_corrected.mat", reference="Purdue University Research Repository, "
         "doi:10.4231/R7RX991C")(
    _single_mat("indian_pines", "indian_pines_corrected", (50, 27, 17)))
register("pavia", groups=("real",), bands=103, kind="real",
         description="Pavia University (ROSIS), <root>/pavia/PaviaU.mat", reference="ROSIS, University of Pavia")(
    _single_mat("pavia", "paviaU", (55, 41, 12)))


def _urban_cube(path: Path) -> np.ndarray:
    raw = read_mat(path, "Y", what="urban")
    if raw.ndim == 3:
        return raw
    if raw.ndim != 2:
        raise DataError(f"urban: {path} key 'Y' has shape {raw.shape}, expected bands x pixels")
    bands, pixels = (raw.shape if raw.shape[0] < raw.shape[1] else raw.shape[::-1])
    mat = raw if raw.shape[0] == bands else raw.T
    dims = mat_scalars(path, ("nRow", "nCol"))
    rows, cols = dims.get("nRow"), dims.get("nCol")
    if rows is None or cols is None:
        side = int(round(np.sqrt(pixels)))
        rows = cols = side
    if rows * cols != pixels:
        raise DataError(f"urban: {path} has {pixels} pixels per band, not {rows} x {cols}")
    return mat.T.reshape(rows, cols, bands, order="F")


@register("urban", groups=("real", "real-noise"), bands=210,
          kind="real-noise",
          description="HYDICE Urban, <root>/urban/Urban_F210.mat; real noise, no ground truth",
          reference="HYDICE airborne sensor, Urban scene (210 bands)")
def urban(*, split: str = "test", data_root: str | None = None) -> Dataset:
    """HYDICE Urban (210 bands, 307 x 307), stored bands x pixels in column-major pixel order."""
    if split != "test":
        raise UsageError(f"urban: unknown split {split!r}; only test")
    files = _files("urban", data_root)[:1]
    return file_dataset("urban", files, lambda p: minmax(_urban_cube(p), what=f"urban: {p}"), truth=False,
                        rgb=(57, 27, 17))


def _real_noise(name: str) -> Callable[..., Dataset]:
    def factory(*, split: str = "test", data_root: str | None = None, key: str | None = None,
                layout: str = "auto") -> Dataset:
        if split != "test":
            raise UsageError(f"{name}: unknown split {split!r}; only test")
        files = _files(name, data_root)
        return file_dataset(name, files, lambda p: minmax(read_any(p, what=name, key=key, layout=layout),
                                                          what=f"{name}: {p}"), truth=False)

    factory.__doc__ = f"{LOCATIONS[name].description}: each file one image, noisy only, global min-max."
    return factory


register("eo1", groups=("real", "real-noise"), kind="real-noise", reference="EO-1 Hyperion (USGS)",
         description="EO-1 Hyperion sub-image(s), <root>/eo1/*; real noise")(
    _real_noise("eo1"))
register("gf5", groups=("real", "real-noise"), kind="real-noise", reference="GaoFen-5 AHSI",
         description="GF-5 sub-image(s), <root>/gf5/*; real noise")(
    _real_noise("gf5"))


def _path_set(name: str, suffixes: tuple[str, ...]) -> Callable[..., Dataset]:
    def factory(*, split: str = "test", data_root: str | None = None, path: str | None = None,
                key: str | None = None, layout: str = "auto", truth: object = True,
                normalize: object = True) -> Dataset:
        if not path:
            raise UsageError(f"{name}: give a path, e.g. {name}:/data/cube{suffixes[0]}")
        target = Path(path)
        if target.is_dir():
            files = sorted(p for p in target.iterdir() if p.suffix.lower() in suffixes)
            if not files:
                raise UsageError(f"{name}: no {'/'.join(suffixes)} files in {target}")
        else:
            files = [require(target, name)]
        scale = _truthy(normalize)

        def read(p: Path) -> np.ndarray:
            cube = read_any(p, what=name, key=key, layout=layout)
            if scale:
                return minmax(cube, what=f"{name}: {p}")
            return require_unit_scale(cube.astype(np.float32), what=f"{name}: {p} (normalize=false)",
                                      fix="use normalize=true to min-max it to [0, 1]")

        return file_dataset(name, files, read, truth=_truthy(truth), meta={"path": str(target)})

    factory.__doc__ = (f"Any {'/'.join(suffixes)} cube(s) at ``path`` (file or folder); ``truth=false`` marks "
                       "them as real noisy data; ``normalize=false`` keeps values as stored.")
    return factory


register("envi", groups=("files",), kind="files", description="ENVI cube(s): envi:PATH (.hdr file or folder)")(
    _path_set("envi", (".hdr",)))
register("tiff", groups=("files",), kind="files", description="TIFF cube(s): tiff:PATH (file or folder)")(
    _path_set("tiff", (".tif", ".tiff")))
register("npy", groups=("files",), kind="files", description="NumPy cube(s): npy:PATH (.npy/.npz file or folder)")(
    _path_set("npy", (".npy", ".npz")))
