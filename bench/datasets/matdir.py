"""``matdir:DIR``: another toolbox's test set as it is, a folder of ``.mat`` files with clean and noisy cubes.

QRNN3D, HSIR, SST and SERT ship their ICVL test sets this way: one file per image with keys ``gt`` and
``input`` (sometimes ``sigma``), MATLAB v5 or v7.3, no manifest. The stored inputs are used unchanged (no
noise is drawn, no crop unless ``--crop``), and each image records the sha256 of its file, so a report
can name exactly which bytes were scored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.arrays import check_cube
from bench.datasets import register
from bench.datasets._cache import sha256_file
from bench.datasets._readers import read_mat_keys, require, require_unit_scale, to_hwb
from bench.datasets.base import Dataset, HSImage
from bench.datasets.real import _rgb
from bench.errors import DataError, UsageError

LAYOUTS = ("hwb", "bhw")


def _sigma(raw: np.ndarray | None, bands: int, path: Path) -> tuple[np.ndarray | None, str | None]:
    """Per-band sigma on the 0-1 scale, and the scale it was stored on. Values above 1 cannot be a 0-1 noise
    level, so such a sigma is read as the 0-255 scale QRNN3D-style sets use."""
    if raw is None:
        return None, None
    sigma = np.asarray(raw, dtype=np.float64).ravel()
    if sigma.size not in (1, bands) or not np.isfinite(sigma).all() or (sigma < 0).any():
        raise DataError(f"matdir: {path} sigma holds {sigma.size} value(s) for {bands} bands "
                        "(expected 1 or one per band, finite and non-negative)")
    scale = "0-255" if sigma.max() > 1 else "0-1"
    sigma = sigma / 255.0 if scale == "0-255" else sigma
    return np.broadcast_to(sigma, (bands,)).copy(), scale


def _read(path: Path, keys: dict[str, str], layout: str) -> HSImage:
    sha = sha256_file(path)
    opt = [keys["sigma"]] if keys["sigma"] else []
    arrays = read_mat_keys(path, [keys["gt"], keys["input"]], optional=opt, what="matdir")
    cubes = {}
    for role in ("gt", "input"):
        what = f"matdir: {path} {keys[role]!r}"
        cube = check_cube(to_hwb(arrays[keys[role]], layout=layout, what=what).astype(np.float32), what)
        cubes[role] = require_unit_scale(cube, what=what, fix="the folder's cubes are used as stored, so scale "
                                                               "them to [0, 1] first")
    if cubes["gt"].shape != cubes["input"].shape:
        raise DataError(f"matdir: {path} {keys['gt']!r} {cubes['gt'].shape} and {keys['input']!r} "
                        f"{cubes['input'].shape} differ in shape (layout={layout})")
    sigma, scale = _sigma(arrays.get(keys["sigma"]) if keys["sigma"] else None, cubes["gt"].shape[2], path)
    record = {"file": str(path), "sha256": sha, "sigma_scale": scale}
    return HSImage(path.stem, cubes["gt"], noisy=cubes["input"],
                   meta={"frozen_sigma": sigma, "path": str(path), "input_record": record})


@register("matdir", groups=("files",), kind="files",
          description="another toolbox's test set as it is: matdir:DIR of .mat files with gt/input[/sigma]")
def matdir(*, split: str = "test", data_root: str | None = None, path: str | None = None, gt: str = "gt",
           input: str = "input", sigma: str | None = "sigma", layout: str = "hwb",
           noise: str | None = None) -> Dataset:
    """Every ``*.mat`` in ``path``; ``gt=``/``input=``/``sigma=`` name the keys (``sigma=none``: methods
    estimate it), ``layout`` is ``hwb`` (H x W x B as MATLAB stores it, the default) or ``bhw``;
    ``noise`` labels the noise in the results (default: the folder's name, e.g. ``icvl_512_50``)."""
    if not path:
        raise UsageError("matdir: give the folder, e.g. matdir:/data/ICVL_test_gauss/512_50")
    if split != "test":
        raise UsageError(f"matdir: unknown split {split!r}; only test")
    if layout not in LAYOUTS:
        raise UsageError(f"matdir: unknown layout {layout!r}; choose {' or '.join(LAYOUTS)}")
    folder = require(Path(path), "matdir", folder=True)
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".mat" and p.is_file())
    if not files:
        raise UsageError(f"matdir: no .mat files in {folder}")
    keys = {"gt": gt, "input": input, "sigma": None if str(sigma).lower() in ("none", "") else sigma}
    by_id = {p.stem: p for p in files}
    bands = _read(files[0], keys, layout).cube.shape[2]  # checks the keys and learns the band count up front
    meta: dict[str, Any] = {"noise": noise or folder.name, "source": str(folder), "keys": keys, "layout": layout}
    return Dataset("matdir", list(by_id), lambda i: _read(by_id[i], keys, layout), rgb_bands=_rgb(bands), meta=meta)
