"""``frozen:DIR``: a fixed test set written by ``bench data freeze`` (see `bench.datasets.commands.freeze`).

The folder holds one MATLAB v5 ``.mat`` per image with ``gt`` and ``input`` (H x W x B float32, the
layout QRNN3D/HSIR test sets use) and ``sigma`` (the per-band noise standard deviation, 0-1 scale, B
values; QRNN3D stores one scalar), plus ``manifest.json`` recording the source dataset, noise spec, seed,
crop and the sha256 of every file. Loading verifies each file against the manifest.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from bench.arrays import check_cube
from bench.datasets import register
from bench.datasets._cache import sha256_file
from bench.datasets._readers import read_mat, require
from bench.datasets.base import Dataset, HSImage
from bench.errors import DataError, UsageError

MANIFEST = "manifest.json"
FORMAT = "hsi-bench-frozen"


def read_manifest(folder: Path) -> dict[str, Any]:
    """The parsed manifest of a frozen folder, with its required fields checked."""
    require(folder, "frozen", folder=True)
    path = folder / MANIFEST
    if not path.is_file():
        raise UsageError(f"frozen: {folder} has no {MANIFEST} (not written by `bench data freeze`; for another "
                         f"toolbox's folder of .mat files use matdir:{folder})")
    try:
        manifest = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"frozen: {path} is not valid JSON ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(
            manifest.get("images"), list):
        raise DataError(f"frozen: {path} is not a {FORMAT} manifest")
    for entry in manifest["images"]:
        if not isinstance(entry, dict) or not {"id", "file", "sha256"} <= set(entry):
            raise DataError(f"frozen: {path} has an image entry without id/file/sha256: {entry!r}")
    return manifest


def verify_file(folder: Path, entry: dict[str, Any]) -> Path:
    """The image file of ``entry`` after checking it exists and matches its recorded sha256."""
    path = folder / entry["file"]
    if not path.is_file():
        raise DataError(f"frozen: {path} listed in {MANIFEST} is missing")
    actual = sha256_file(path)
    if actual != entry["sha256"]:
        raise DataError(f"frozen: {path} fails its checksum (manifest {entry['sha256'][:12]}..., "
                        f"file {actual[:12]}...)")
    return path


def read_frozen_image(folder: Path, entry: dict[str, Any], manifest: dict[str, Any]) -> HSImage:
    path = verify_file(folder, entry)
    gt = check_cube(np.asarray(read_mat(path, "gt", what="frozen")), f"frozen: {path} gt")
    noisy = check_cube(np.asarray(read_mat(path, "input", what="frozen")), f"frozen: {path} input")
    sigma = np.asarray(read_mat(path, "sigma", what="frozen"), dtype=np.float64).ravel()
    if gt.shape != noisy.shape:
        raise DataError(f"frozen: {path} gt {gt.shape} and input {noisy.shape} differ in shape")
    if sigma.size not in (1, gt.shape[2]):
        raise DataError(f"frozen: {path} sigma has {sigma.size} values for {gt.shape[2]} bands")
    meta = {"frozen_sigma": sigma, "noise": manifest.get("noise"), "seed": manifest.get("seed"),
            "source_dataset": manifest.get("dataset"), "path": str(path),
            "input_record": {"file": str(path), "sha256": entry["sha256"]}}
    wl = manifest.get("wavelengths")
    return HSImage(entry["id"], gt, noisy=noisy, wavelengths=None if wl is None else np.asarray(wl), meta=meta)


@register("frozen", groups=("files",), kind="files", description="a folder written by `bench data freeze`: frozen:DIR")
def frozen(*, split: str = "test", data_root: str | None = None, path: str | None = None) -> Dataset:
    """Stored clean/noisy pairs; the runner feeds the stored ``input`` instead of drawing noise."""
    if not path:
        raise UsageError("frozen: give the folder, e.g. frozen:runs/frozen/scenes31-noniid95")
    if split != "test":
        raise UsageError(f"frozen: unknown split {split!r}; only test")
    folder = Path(path)
    manifest = read_manifest(folder)
    entries = {e["id"]: e for e in manifest["images"]}
    rgb = tuple(manifest.get("rgb_bands") or (30, 16, 1))
    wl = manifest.get("wavelengths")
    return Dataset("frozen", list(entries), lambda i: read_frozen_image(folder, entries[i], manifest),
                   rgb_bands=rgb, wavelengths=None if wl is None else np.asarray(wl),  # type: ignore[arg-type]
                   meta={k: manifest.get(k) for k in ("dataset", "noise", "seed", "crop")})
