"""Embedded scene sets and the dataset API: splits, cube properties, cache integrity, determinism."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bench.datasets as datasets
from bench.datasets import embedded
from bench.errors import UsageError

EMBEDDED = ["scenes31", "scenes-rs"]
TABLES = {"scenes31": embedded._SCENES31, "scenes-rs": embedded._SCENES_RS}
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _cache_env(shared_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSIBENCH_CACHE", str(shared_cache))


def test_required_names_are_registered() -> None:
    expected = {"scenes31", "scenes-rs", "icvl", "cave", "houston2018", "indian_pines", "pavia", "urban", "eo1",
                "gf5", "envi", "tiff", "npy", "frozen"}
    assert expected <= set(datasets.registry.names())


@pytest.mark.parametrize("name", EMBEDDED)
def test_splits_use_distinct_source_photos(name: str) -> None:
    table = TABLES[name]
    files = {split: {s.file for s in scenes} for split, scenes in table.items()}
    assert not files["train"] & files["test"]
    assert not files["val"] & files["test"]
    minimum = 6 if name == "scenes31" else 3
    for split in ("train", "test"):
        ds = datasets.load(name, split=split)
        assert len(ds) >= minimum and len(set(ds.ids)) == len(ds.ids)
        assert all(isinstance(i, str) and i for i in ds.ids)


@pytest.mark.parametrize("name", EMBEDDED)
def test_embedded_cube_is_normalised_float32(name: str) -> None:
    ds = datasets.load(name, split="test")
    image = ds[0]
    cube = image.clean
    assert cube is not None and cube.dtype == np.float32 and cube.ndim == 3
    assert cube.min() == 0.0 and cube.max() == 1.0
    assert cube.shape[2] == len(ds.wavelengths) == len(image.wavelengths)
    assert all(0 <= b < cube.shape[2] for b in ds.rgb_bands)
    assert image.noisy is None and ds.has_ground_truth
    assert image.meta["synthetic"] is True


def test_scenes31_band_layout() -> None:
    ds = datasets.load("scenes31")
    np.testing.assert_array_equal(ds.wavelengths, np.arange(400, 701, 10))
    assert ds.rgb_bands == (30, 16, 1)
    rs = datasets.load("scenes-rs")
    assert rs.wavelengths[0] == 400 and rs.wavelengths[-1] > 2400 and len(rs.wavelengths) == 90


def test_standard_profile_centre_crops_have_structure() -> None:
    from bench.arrays import center_crop
    from bench.profiles import get

    profile = get("standard")
    ds = datasets.load(profile.datasets)
    for image in list(ds)[:profile.images]:
        crop = center_crop(image.clean, profile.crop)
        luminance = crop.mean(axis=2)
        assert crop.mean() > 0.05, f"{image.id}: centre is nearly black"
        assert luminance.std() > 0.02 * luminance.mean(), image.id
        spectra = crop.reshape(-1, crop.shape[2])
        shapes = spectra / np.maximum(spectra.mean(axis=1, keepdims=True), 1e-6)
        assert shapes.std(axis=0).mean() > 0.01, f"{image.id}: centre has a single spectral shape"


def test_cache_regenerates_corrupt_or_unrecorded_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSIBENCH_CACHE", str(tmp_path))
    first = datasets.load("scenes-rs")[0].clean
    files = list((tmp_path / "scenes-rs").glob("*.npy"))
    assert len(files) == 1
    path = files[0]
    record = path.with_name(path.name + ".sha256")
    assert record.read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()
    data = bytearray(path.read_bytes())
    data[-8:] = b"\x00\x00\x80\x7f" * 2
    path.write_bytes(bytes(data))
    np.testing.assert_array_equal(datasets.load("scenes-rs")[0].clean, first)
    assert record.read_text().strip() == hashlib.sha256(path.read_bytes()).hexdigest()
    path.write_bytes(path.read_bytes()[:200])
    np.testing.assert_array_equal(datasets.load("scenes-rs")[0].clean, first)
    record.unlink()
    np.testing.assert_array_equal(datasets.load("scenes-rs")[0].clean, first)
    assert record.is_file()
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


_HASH_SCRIPT = """
import hashlib, sys
import bench.datasets as d
for name, split in (("scenes-rs", "test"), ("scenes31", "val")):
    cube = d.load(name, split=split)[0].clean
    print(name, hashlib.sha256(cube.tobytes()).hexdigest())
"""


def test_generation_is_bit_identical_across_processes(tmp_path: Path) -> None:
    digests = []
    for run, threads in (("a", "1"), ("b", "2")):
        env = {**os.environ, "HSIBENCH_CACHE": str(tmp_path / run), "OMP_NUM_THREADS": threads,
               "OPENBLAS_NUM_THREADS": threads}
        out = subprocess.run([sys.executable, "-c", _HASH_SCRIPT], cwd=REPO, env=env, capture_output=True,
                             text=True, check=True)
        digests.append(out.stdout)
    assert digests[0] == digests[1] and digests[0].count("\n") == 2
    cached = [hashlib.sha256(p.read_bytes()).hexdigest()
              for run in "ab" for p in sorted((tmp_path / run).rglob("*.npy"))]
    assert cached[:2] == cached[2:]


@pytest.mark.parametrize("name", EMBEDDED)
def test_bad_split_and_option_are_usage_errors(name: str) -> None:
    with pytest.raises(UsageError, match="unknown split 'bogus'"):
        datasets.load(name, split="bogus")
    with pytest.raises(UsageError, match="unknown option"):
        datasets.load(f"{name}:colour=1")


def test_unknown_dataset_name_suggests() -> None:
    with pytest.raises(UsageError, match="scenes31"):
        datasets.load("scenes30")
