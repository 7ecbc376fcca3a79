"""Readers for the file formats hyperspectral data ships in, all returning H x W x B float arrays.

Every failure becomes a one-line `UsageError` (the path is missing) or `DataError` (the file is corrupt,
truncated, lacks the key, or holds the wrong shape) naming the file.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from bench.errors import DataError, UsageError

MAT = (".mat",)
NPY = (".npy", ".npz")
TIFF = (".tif", ".tiff")
ENVI = (".hdr",)
CUBE_SUFFIXES = MAT + NPY + TIFF + ENVI


def _fail(what: str, path: Path, exc: BaseException) -> DataError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"{what}: cannot read {path} ({type(exc).__name__}: {detail})")


def require(path: Path, what: str, *, folder: bool = False) -> Path:
    """``path`` if it exists (as a folder when ``folder``), else a `UsageError` naming it."""
    ok = path.is_dir() if folder else path.is_file()
    if not ok:
        kind = "folder" if folder else "file"
        raise UsageError(f"{what}: {kind} not found: {path}")
    return path


def _pick_key(keys: Sequence[str], wanted: str | Sequence[str] | None, shapes: dict[str, tuple[int, ...]],
              what: str, path: Path) -> str:
    if wanted is None:
        cubes = [k for k in keys if len(shapes[k]) == 3] or [k for k in keys if len(shapes[k]) == 2]
        if not cubes:
            raise DataError(f"{what}: {path} holds no 2-D or 3-D array (keys: {', '.join(keys) or 'none'})")
        return max(cubes, key=lambda k: int(np.prod(shapes[k])))
    options = [wanted] if isinstance(wanted, str) else list(wanted)
    for key in options:
        if key in keys:
            return key
    lower = {k.lower(): k for k in keys}
    for key in options:
        if key.lower() in lower:
            return lower[key.lower()]
    names = " or ".join(repr(k) for k in options)
    raise DataError(f"{what}: {path} has no key {names} (keys: {', '.join(keys) or 'none'})")


def read_mat(path: Path, key: str | Sequence[str] | None = None, *, what: str) -> np.ndarray:
    """A MATLAB array: v7.3 (HDF5, axes reversed back to MATLAB order) via h5py, older versions via scipy."""
    return _read_mat(path, what, lambda names, shapes: {"x": _pick_key(names, key, shapes, what, path)})["x"]


def read_mat_keys(path: Path, keys: Sequence[str], *, optional: Sequence[str] = (), what: str
                  ) -> dict[str, np.ndarray]:
    """Several named arrays of one MATLAB file (v7.3 via h5py in MATLAB axis order, older via scipy), read in
    one opening; a missing required key is a `DataError` naming the keys present, a missing optional one is
    left out."""
    return _read_mat(path, what, lambda names, shapes: _resolve_keys(names, keys, optional, shapes, what, path))


def _read_mat(path: Path, what: str, choose: Callable[[list[str], Mapping[str, tuple[int, ...]]], dict[str, str]]
              ) -> dict[str, np.ndarray]:
    """Open a MATLAB file once and read the arrays ``choose(names, shapes)`` maps output names to."""
    import h5py

    require(path, what)
    try:
        if h5py.is_hdf5(path):
            with h5py.File(path, "r") as fh:
                shapes = {k: fh[k].shape for k in fh.keys() if isinstance(fh[k], h5py.Dataset)}
                names = choose(list(shapes), shapes)
                return {k: np.asarray(fh[n][()]).T for k, n in names.items()}
        from scipy.io import loadmat

        data = loadmat(path)
    except DataError:
        raise
    except Exception as exc:
        raise _fail(what, path, exc) from None
    arrays = {k: v for k, v in data.items() if not k.startswith("__") and isinstance(v, np.ndarray)}
    names = choose(list(arrays), {k: v.shape for k, v in arrays.items()})
    return {k: arrays[n] for k, n in names.items()}


def _resolve_keys(present: list[str], keys: Sequence[str], optional: Sequence[str],
                  shapes: dict[str, tuple[int, ...]], what: str, path: Path) -> dict[str, str]:
    names = {k: _pick_key(present, k, shapes, what, path) for k in keys}
    lower = {k.lower(): k for k in present}
    names.update({k: lower[k.lower()] for k in optional if k.lower() in lower})
    return names


def mat_scalars(path: Path, keys: Sequence[str]) -> dict[str, int]:
    """Integer scalars stored beside a cube (e.g. ``nRow``/``nCol``), where a v5 file has them."""
    from scipy.io import loadmat

    try:
        data = loadmat(path, variable_names=list(keys))
    except Exception:
        return {}
    return {k: int(np.asarray(v).ravel()[0]) for k, v in data.items() if k in keys and np.asarray(v).size == 1}


def read_npy(path: Path, key: str | None = None, *, what: str) -> np.ndarray:
    """A .npy array, or the named (else the largest 3-D) array of a .npz archive."""
    require(path, what)
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.ndarray):
            return data
        with data:
            shapes = {k: data[k].shape for k in data.files}
            return data[_pick_key(data.files, key, shapes, what, path)]
    except DataError:
        raise
    except Exception as exc:
        raise _fail(what, path, exc) from None


@contextmanager
def _captured_log(name: str) -> Iterator[list[str]]:
    """Collect what the library logger ``name`` says instead of letting it print before our own message."""
    logger = logging.getLogger(name)
    said: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: said.append(record.getMessage())  # type: ignore[method-assign]
    old = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield said
    finally:
        logger.removeHandler(handler)
        logger.propagate = old


def read_tiff(path: Path, *, what: str, layout: str = "auto") -> np.ndarray:
    """A (Geo)TIFF cube; ``layout`` ``hwb`` / ``bhw`` or ``auto`` (bands = the smallest axis).

    tifffile's warnings about a damaged file become part of our one-line error instead of preceding it.
    """
    import tifffile

    require(path, what)
    with _captured_log("tifffile") as said:
        try:
            arr = tifffile.imread(path)
        except Exception as exc:
            raise _fail(what, path, exc) from None
    if arr.size == 0 or arr.ndim < 2:
        detail = said[0].split("> ", 1)[-1].strip() if said else f"no image data, shape {arr.shape}"
        raise DataError(f"{what}: cannot read {path} (corrupt TIFF: {detail})")
    return to_hwb(arr, layout=layout, what=f"{what}: {path}")


def read_envi(path: Path, *, what: str) -> np.ndarray:
    """An ENVI image given its ``.hdr`` (or the data file next to a ``.hdr``), via `spectral`."""
    import spectral

    require(path, what)
    hdr = path if path.suffix.lower() == ".hdr" else _envi_header(path, what)
    try:
        return np.asarray(spectral.open_image(str(hdr)).load())
    except Exception as exc:
        raise _fail(what, hdr, exc) from None


def _envi_header(path: Path, what: str) -> Path:
    for cand in (path.with_suffix(".hdr"), path.with_name(path.name + ".hdr")):
        if cand.is_file():
            return cand
    raise UsageError(f"{what}: no ENVI header (.hdr) next to {path}")


def read_band_pngs(folder: Path, *, what: str) -> np.ndarray:
    """A cube stored as one PNG per band (CAVE layout, ``<name>_01.png`` ... ``<name>_31.png``)."""
    from skimage import io

    files = band_png_files(folder)
    if not files:
        raise DataError(f"{what}: no per-band PNG files (*_NN.png) in {folder}")
    bands = []
    for f in files:
        try:
            img = io.imread(f)
        except Exception as exc:
            raise _fail(what, f, exc) from None
        bands.append(img[..., 0] if img.ndim == 3 else img)
    shapes = {b.shape for b in bands}
    if len(shapes) != 1:
        raise DataError(f"{what}: band images in {folder} differ in size: {sorted(shapes)}")
    return np.stack(bands, axis=-1)


def band_png_files(folder: Path) -> list[Path]:
    numbered = []
    for f in folder.glob("*.png"):
        m = re.search(r"_(\d+)\.png$", f.name, flags=re.IGNORECASE)
        if m:
            numbered.append((int(m.group(1)), f))
    return [f for _, f in sorted(numbered)]


def read_any(path: Path, *, what: str, key: str | None = None, layout: str = "auto") -> np.ndarray:
    """Dispatch on the suffix: .mat, .npy/.npz, .tif/.tiff, .hdr (ENVI); a folder of per-band PNGs.

    ``layout="auto"`` means H x W x B except for TIFF, where a bands-first (planar) file is recognised.
    """
    suffix = path.suffix.lower()
    if path.is_dir():
        return read_band_pngs(path, what=what)
    if suffix in MAT:
        arr = read_mat(path, key, what=what)
    elif suffix in NPY:
        arr = read_npy(path, key, what=what)
    elif suffix in TIFF:
        return read_tiff(path, what=what, layout=layout)
    elif suffix in ENVI:
        arr = read_envi(path, what=what)
    else:
        require(path, what)
        raise UsageError(f"{what}: unsupported file type {suffix or '(none)'} for {path}; "
                         f"expected one of {', '.join(CUBE_SUFFIXES)}")
    return to_hwb(arr, layout="hwb" if layout == "auto" else layout, what=f"{what}: {path}")


def to_hwb(arr: np.ndarray, *, layout: str = "hwb", what: str) -> np.ndarray:
    """Reorder a 3-D array to H x W x B; ``auto`` treats a leading axis smaller than both others as bands."""
    arr = np.asarray(arr)
    if arr.ndim != 3:
        raise DataError(f"{what}: expected a 3-D cube, got shape {arr.shape}")
    if layout not in ("auto", "hwb", "bhw"):
        raise UsageError(f"{what}: unknown layout {layout!r}; choose auto, hwb or bhw")
    bands_first = layout == "bhw" or (layout == "auto" and arr.shape[0] < min(arr.shape[1:]))
    return np.moveaxis(arr, 0, -1) if bands_first else arr


def minmax(cube: np.ndarray, *, what: str, eps: float = 0.0) -> np.ndarray:
    """Global min-max to [0, 1] in float32 (one min and max for the whole cube); ``eps`` pads the range."""
    cube = np.asarray(cube, dtype=np.float64)
    if not np.isfinite(cube).all():
        bad = int((~np.isfinite(cube)).sum())
        raise DataError(f"{what}: contains {bad} NaN/Inf value(s)")
    lo, hi = float(cube.min()), float(cube.max())
    if hi - lo + eps <= 0:
        raise DataError(f"{what}: constant cube (every value is {lo})")
    return ((cube - lo) / (hi - lo + eps)).astype(np.float32)


#: Values a cube used as stored may take: [0, 1] data plus the noise a real noisy cube carries.
UNIT_RANGE = (-0.5, 1.5)


def require_unit_scale(cube: np.ndarray, *, what: str, fix: str) -> np.ndarray:
    """``cube`` if its values lie in `UNIT_RANGE`; else a `UsageError` naming the range found and ``fix``.

    Metrics use peak 1 and noise models a 0-1 sigma, so 0-255 or raw-radiance data scored as stored would
    give meaningless numbers (an SSIM of 0.99999 on 0-255 data) instead of an error.
    """
    finite = np.asarray(cube)[np.isfinite(cube)]
    if finite.size:
        lo, hi = float(finite.min()), float(finite.max())
        if lo < UNIT_RANGE[0] or hi > UNIT_RANGE[1]:
            raise UsageError(f"{what}: values span [{lo:.4g}, {hi:.4g}], outside [{UNIT_RANGE[0]}, {UNIT_RANGE[1]}] "
                             f"for data on a 0-1 scale; {fix}")
    return cube
