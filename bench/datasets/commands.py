"""The work behind ``bench data freeze | list | check``; each returns data and the CLI prints it."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

import bench.datasets.embedded  # noqa: F401  (registers the default sets before the loaders below)
from bench.arrays import center_crop
from bench.datasets import load
from bench.datasets._cache import atomic_write, sha256_bytes, sha256_file
from bench.datasets.base import Dataset, HSImage, cache_dir, data_root as _root
from bench.datasets.frozen import FORMAT, MANIFEST
from bench.datasets.real import LOCATIONS, found_files
from bench.errors import BenchError, UsageError
from bench.fileio import write_failure, writable_folder

_MAT_HEADER = b"MATLAB 5.0 MAT-file, written by hsi-bench data freeze"
_EMBEDDED = ("scenes31", "scenes-rs")
CHECKSUMS = "SHA256SUMS"
"""Optional ``<hex>  <file>`` list in a data folder; ``check`` verifies the files it names."""


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "image"


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _mat_bytes(gt: np.ndarray, noisy: np.ndarray, sigma: np.ndarray) -> bytes:
    """MATLAB v5 bytes with a fixed header text, so the same arrays always give the same file."""
    from scipy.io import savemat

    buf = io.BytesIO()
    savemat(buf, {"gt": gt, "input": noisy, "sigma": sigma.reshape(-1, 1)}, do_compression=False)
    data = bytearray(buf.getvalue())
    data[:116] = _MAT_HEADER.ljust(116, b" ")
    return bytes(data)


def _select(ds: Dataset, images: int | Sequence[str] | None) -> list[str]:
    if images is None:
        return list(ds.ids)
    if isinstance(images, int):
        if images < 1:
            raise UsageError(f"freeze: images must be a positive count, got {images}")
        return list(ds.ids[:images])
    unknown = [i for i in images if i not in ds.ids]
    if unknown:
        raise UsageError(f"freeze: unknown image id(s) {', '.join(unknown)} in {ds.name} "
                         f"(have: {', '.join(ds.ids)})")
    return list(images)


def freeze(dataset: str, noise_spec: str, out_dir: str | Path, *, seed: int = 0,
           images: int | Sequence[str] | None = None, crop: int | None = None,
           data_root: str | None = None) -> Path:
    """Write a fixed test set: per image ``<id>.mat`` (``gt``, ``input``, per-band ``sigma``) + manifest.

    The noisy input is `bench.cells.noisy_input` of the centre-cropped clean cube under the same
    dataset name, image id, noise spec and seed, i.e. exactly what ``bench run`` feeds methods.
    """
    import noise

    from bench.cells import noisy_input

    model = noise.parse(noise_spec)
    ds = load(dataset, split="test", data_root=data_root)
    if not ds.has_ground_truth:
        raise UsageError(f"freeze: {dataset} has no ground truth to add synthetic noise to")
    out = writable_folder(out_dir, "output folder")
    entries, used = [], set()
    for image_id in _select(ds, images):
        src = ds.get(image_id)
        clean = np.ascontiguousarray(center_crop(src.clean, crop), dtype=np.float32)  # type: ignore[arg-type]
        image = HSImage(src.id, clean, wavelengths=src.wavelengths, meta=src.meta)
        sample = noisy_input(dataset, image, model, seed)
        data = _mat_bytes(clean, sample.noisy, np.asarray(sample.sigma, dtype=np.float64))
        name = _safe(image_id)
        while name in used:
            name += "_"
        used.add(name)
        _write(out / f"{name}.mat", data)
        entries.append({"id": image_id, "file": f"{name}.mat", "sha256": sha256_bytes(data),
                        "shape": list(clean.shape), "noise_info": _jsonable(sample.info)})
    manifest = {
        "format": FORMAT, "version": 1, "dataset": dataset, "split": "test", "noise": model.spec(),
        "noise_name": model.name, "noise_params": _jsonable(model.params), "seed": seed, "crop": crop,
        "layout": "H x W x B float32; sigma: per-band standard deviation (0-1 scale), B x 1",
        "rgb_bands": list(ds.rgb_bands),
        "wavelengths": None if ds.wavelengths is None else _jsonable(np.asarray(ds.wavelengths)),
        "images": entries,
    }
    _write(out / MANIFEST, (json.dumps(manifest, indent=1) + "\n").encode())
    return out


def _write(path: Path, data: bytes) -> None:
    try:
        atomic_write(path, data)
    except OSError as exc:
        raise write_failure(path, exc) from None


def list_present(data_root: str | None = None) -> list[dict[str, Any]]:
    """One row per data set: name, expected location, present?, files found (embedded: cached files)."""
    root = _root(data_root)
    rows = []
    for name in _EMBEDDED:
        cached = sorted(p.name for p in (cache_dir() / name).glob("*.npy"))
        rows.append({"name": name, "expected": f"embedded; generated into {cache_dir() / name}",
                     "present": True, "files": cached})
    for name, loc in LOCATIONS.items():
        files = found_files(root, name)
        rows.append({"name": name, "expected": str(root / loc.folder / loc.patterns[0]),
                     "present": bool(files), "files": [str(f.relative_to(root / loc.folder)) for f in files]})
    for folder in _frozen_folders(root):
        rows.append({"name": f"frozen:{folder}", "expected": str(folder / MANIFEST), "present": True,
                     "files": sorted(p.name for p in folder.glob("*.mat"))})
    return rows


def _frozen_folders(root: Path) -> list[Path]:
    base = root / "frozen"
    return sorted(p.parent for p in base.glob(f"*/{MANIFEST}")) if base.is_dir() else []


def _sums(folder: Path) -> list[dict[str, Any]]:
    rows = []
    for line in (folder / CHECKSUMS).read_text().splitlines():
        parts = line.split(maxsplit=1)
        if len(parts) != 2:
            continue
        digest, fname = parts[0].lower(), parts[1].lstrip("*").strip()
        path = folder / fname
        if not path.is_file():
            rows.append({"file": str(path), "ok": False, "detail": "listed in SHA256SUMS but missing"})
            continue
        actual = sha256_file(path)
        ok = actual == digest
        rows.append({"file": str(path), "ok": ok,
                     "detail": "sha256 ok" if ok else f"sha256 mismatch ({actual[:12]}... != {digest[:12]}...)"})
    return rows


def _check_images(name: str, spec: str, data_root: str | None) -> list[dict[str, Any]]:
    rows = []
    try:
        ds = load(spec, split="test", data_root=data_root)
    except BenchError as exc:
        return [{"dataset": name, "image": None, "file": None, "ok": False, "detail": str(exc)}]
    for image_id in ds.ids:
        try:
            image = ds.get(image_id)
            shape = image.cube.shape
            detail = f"readable, {shape[0]} x {shape[1]} x {shape[2]}"
            rows.append({"dataset": name, "image": image_id, "file": image.meta.get("path"), "ok": True,
                         "detail": detail + (", checksum ok" if name.startswith("frozen:") else "")})
        except BenchError as exc:
            rows.append({"dataset": name, "image": image_id, "file": None, "ok": False, "detail": str(exc)})
    return rows


def _check_embedded(name: str) -> list[dict[str, Any]]:
    rows = []
    for path in sorted((cache_dir() / name).glob("*.npy")):
        record = path.with_name(path.name + ".sha256")
        ok = record.is_file() and sha256_file(path) == record.read_text().strip()
        rows.append({"dataset": name, "image": path.name.rsplit("-", 1)[0], "file": str(path), "ok": ok,
                     "detail": "cached, sha256 ok" if ok else "cache entry stale (regenerated on next use)"})
    return rows


def check(data_root: str | None = None) -> list[dict[str, Any]]:
    """Read every present data set's images (and SHA256SUMS / frozen manifests); one row per file or image.

    No published checksums are shipped for the external sets; put a ``SHA256SUMS`` file in a data
    folder to have it verified.
    """
    root = _root(data_root)
    rows: list[dict[str, Any]] = []
    for name in _EMBEDDED:
        rows.extend(_check_embedded(name))
    for name, loc in LOCATIONS.items():
        folder = root / loc.folder
        if (folder / CHECKSUMS).is_file():
            rows.extend({"dataset": name, "image": None, **r} for r in _sums(folder))
        if found_files(root, name):
            rows.extend(_check_images(name, name, data_root))
    for folder in _frozen_folders(root):
        rows.extend(_check_images(f"frozen:{folder}", f"frozen:{folder}", data_root))
    return rows


__all__ = ["freeze", "list_present", "check"]
