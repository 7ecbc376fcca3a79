"""Measured reflectance spectra and their rendering to linear sRGB, for the embedded scene sets.

The spectra come from the earthlib library (Anderson, "earthlib: a global spectral library", MIT; 7,261
field/lab spectra from 400 to 2450 nm at 10 nm, water-absorption bands removed, 180 bands), plus for the
visible range the ColorChecker (BabelColor average) and CIE test-colour samples shipped by colour-science,
which add the saturated colours that land-cover spectra lack. Rendering uses the CIE 1931 2-degree
colour matching functions under illuminant D65 and the sRGB primaries (IEC 61966-2-1).
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from bench.errors import DataError

VISIBLE = np.arange(400, 701, 10, dtype=np.float64)
"""The ICVL / CAVE sampling: 31 bands, 400-700 nm at 10 nm."""

_EARTHLIB_SPECTRA = 7261
_EARTHLIB_BANDS = 180


def _earthlib_dir() -> Path:
    spec = importlib.util.find_spec("earthlib")
    if spec is None or not spec.submodule_search_locations:
        raise DataError("earthlib: package not installed; the embedded scene sets need its spectral library")
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def _header_wavelengths(hdr: Path) -> np.ndarray:
    text = hdr.read_text()
    start = text.index("wavelength = {") + len("wavelength = {")
    values = text[start:text.index("}", start)].split(",")
    return np.round(np.array([float(v) for v in values]) * 1000.0)


@functools.lru_cache(maxsize=1)
def earthlib_wavelengths() -> np.ndarray:
    """The 180 earthlib band centres in nm (400-2450, water-absorption bands absent)."""
    hdr = _earthlib_dir() / "spectra.sli.hdr"
    if not hdr.is_file():
        raise DataError(f"earthlib: missing library file {hdr}")
    return _header_wavelengths(hdr)


@functools.lru_cache(maxsize=1)
def earthlib_library() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """All earthlib spectra as ``(spectra N x 180 float64, wavelengths nm, level-3 class per spectrum)``."""
    root = _earthlib_dir()
    data_path, hdr_path, meta_path = root / "spectra.sli", root / "spectra.sli.hdr", root / "spectra.csv"
    for p in (data_path, hdr_path, meta_path):
        if not p.is_file():
            raise DataError(f"earthlib: missing library file {p}")
    raw = np.fromfile(data_path, dtype="<f4")
    if raw.size != _EARTHLIB_SPECTRA * _EARTHLIB_BANDS:
        raise DataError(f"earthlib: {data_path} holds {raw.size} values, expected "
                        f"{_EARTHLIB_SPECTRA} x {_EARTHLIB_BANDS}")
    spectra = raw.reshape(_EARTHLIB_SPECTRA, _EARTHLIB_BANDS).astype(np.float64)
    wavelengths = _header_wavelengths(hdr_path)
    lines = meta_path.read_text().splitlines()[1:]
    classes = tuple(line.split(",")[3] for line in lines)
    if len(classes) != _EARTHLIB_SPECTRA or wavelengths.size != _EARTHLIB_BANDS:
        raise DataError(f"earthlib: metadata in {root} does not match the spectra file")
    return np.clip(spectra, 0.0, None), wavelengths, classes


def _sample(sd: object, wavelengths: np.ndarray) -> np.ndarray:
    """Values of a colour-science spectral distribution at ``wavelengths`` (nm), exact grid points only."""
    grid = np.asarray(sd.wavelengths)  # type: ignore[attr-defined]
    idx = np.searchsorted(grid, wavelengths)
    if np.any(idx >= grid.size) or not np.allclose(grid[idx], wavelengths):
        raise DataError("colour-science: spectral data does not cover 400-700 nm on a 10 nm grid")
    return np.asarray(sd.values, dtype=np.float64)[idx]  # type: ignore[attr-defined]


def _colour() -> Any:
    try:
        import colour
    except ImportError:
        raise DataError("colour-science: not installed; it is needed to generate the embedded scene sets "
                        "(pip install colour-science)") from None
    return colour


@functools.lru_cache(maxsize=1)
def visible_colour_samples() -> np.ndarray:
    """ColorChecker and CIE test-colour reflectances on the 31-band visible grid (K x 31)."""
    colour = _colour()
    from colour.quality.datasets import SDS_TCS

    sds = list(colour.SDS_COLOURCHECKERS["BabelColor Average"].values()) + list(SDS_TCS["CIE 1995"].values())
    return np.stack([_sample(sd, VISIBLE) for sd in sds])


@functools.lru_cache(maxsize=1)
def render_matrix() -> np.ndarray:
    """3 x 31 matrix taking a 400-700 nm reflectance to linear sRGB under D65 (white reflector -> ~1)."""
    colour: Any = _colour()

    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    grid = np.asarray(cmfs.wavelengths)
    idx = np.searchsorted(grid, VISIBLE)
    xyz_bar = np.asarray(cmfs.values, dtype=np.float64)[idx]
    d65 = _sample(colour.SDS_ILLUMINANTS["D65"], VISIBLE)
    weights = xyz_bar * d65[:, None]
    weights /= weights[:, 1].sum()
    to_rgb = np.asarray(colour.RGB_COLOURSPACES["sRGB"].matrix_XYZ_to_RGB, dtype=np.float64)
    return to_rgb @ weights.T


def srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """Undo the sRGB transfer curve (values in [0, 1])."""
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


LUMA = np.array([0.2126, 0.7152, 0.0722])
"""Relative luminance weights of linear sRGB."""
