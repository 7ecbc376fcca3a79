"""``bench data freeze`` / ``frozen:DIR`` round trips, and the ``list`` / ``check`` data commands."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

import bench.datasets as datasets
import noise
from bench.arrays import center_crop
from bench.cells import noisy_input
from bench.datasets.base import HSImage
from bench.datasets.commands import check, freeze, list_present
from bench.errors import DataError, UsageError


@pytest.fixture(autouse=True)
def _cache_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HSIBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "frozen-cache"))


@pytest.mark.parametrize("spec", noise.registry.names())
def test_freeze_stores_exactly_the_runner_input(spec: str, tmp_path: Path) -> None:
    out = freeze("scenes-rs", spec, tmp_path / "set", seed=4, images=1, crop=12)
    frozen = datasets.load(f"frozen:{out}")
    image = frozen[0]
    source = datasets.load("scenes-rs")[0]
    clean = center_crop(source.clean, 12)
    expected = noisy_input("scenes-rs", HSImage(source.id, clean), noise.parse(spec), 4)
    np.testing.assert_array_equal(image.clean, clean)
    np.testing.assert_array_equal(image.noisy, expected.noisy)
    np.testing.assert_allclose(image.meta["frozen_sigma"], expected.sigma)
    assert image.meta["frozen_sigma"].shape == (clean.shape[2],)
    raw = scipy.io.loadmat(out / f"{source.id}.mat")
    assert raw["gt"].shape == raw["input"].shape == clean.shape and raw["sigma"].shape == (clean.shape[2], 1)


def test_freeze_manifest_and_byte_reproducibility(tmp_path: Path) -> None:
    a = freeze("scenes-rs", "noniid-55", tmp_path / "a", seed=1, images=["coffee", "astronaut"], crop=8)
    b = freeze("scenes-rs", "noniid-55", tmp_path / "b", seed=1, images=["coffee", "astronaut"], crop=8)
    manifest = json.loads((a / "manifest.json").read_text())
    assert manifest["dataset"] == "scenes-rs" and manifest["noise"] == "noniid-55" and manifest["seed"] == 1
    assert [e["id"] for e in manifest["images"]] == ["coffee", "astronaut"]
    for entry in manifest["images"]:
        data = (a / entry["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert data == (b / entry["file"]).read_bytes()
    assert datasets.load(f"frozen:{a}").rgb_bands == datasets.load("scenes-rs").rgb_bands
    assert not [p for p in a.iterdir() if p.name.endswith(".tmp")]


def test_freeze_rejects_bad_requests(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="unknown image id"):
        freeze("scenes-rs", "noniid-15", tmp_path, images=["nope"])
    with pytest.raises(UsageError, match="unknown noise"):
        freeze("scenes-rs", "nois", tmp_path)
    np.save(tmp_path / "real.npy", np.random.default_rng(0).random((4, 4, 3)))
    with pytest.raises(UsageError, match="no ground truth"):
        freeze(f"npy:{tmp_path / 'real.npy'},truth=false", "noniid-15", tmp_path / "out")


def test_frozen_detects_tampering_and_missing_manifest(tmp_path: Path) -> None:
    out = freeze("scenes-rs", "corr", tmp_path / "set", images=1, crop=8)
    path = next(out.glob("*.mat"))
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"frozen: .*\.mat fails its checksum"):
        datasets.load(f"frozen:{out}")[0]
    path.unlink()
    with pytest.raises(DataError, match="missing"):
        datasets.load(f"frozen:{out}")[0]
    (out / "manifest.json").unlink()
    with pytest.raises(UsageError, match="no manifest.json"):
        datasets.load(f"frozen:{out}")
    with pytest.raises(UsageError, match="folder not found"):
        datasets.load(f"frozen:{tmp_path / 'absent'}")


def test_list_and_check_report_present_data(tmp_path: Path) -> None:
    cube = np.random.default_rng(1).random((5, 6, 7))
    (tmp_path / "pavia").mkdir()
    scipy.io.savemat(tmp_path / "pavia" / "PaviaU.mat", {"paviaU": cube})
    good = hashlib.sha256((tmp_path / "pavia" / "PaviaU.mat").read_bytes()).hexdigest()
    (tmp_path / "pavia" / "SHA256SUMS").write_text(f"{good}  PaviaU.mat\n{'0' * 64}  other.mat\n")
    (tmp_path / "indian_pines").mkdir()
    (tmp_path / "indian_pines" / "Indian_pines_corrected.mat").write_bytes(b"not a mat file" * 20)
    freeze("scenes-rs", "noniid-15", tmp_path / "frozen" / "rs15", images=1, crop=8)

    rows = {r["name"]: r for r in list_present(str(tmp_path))}
    assert rows["pavia"]["present"] and rows["pavia"]["files"] == ["PaviaU.mat"]
    assert not rows["icvl"]["present"] and rows["icvl"]["expected"].endswith("icvl/*.mat")
    assert rows["scenes31"]["present"]
    assert any(name.startswith("frozen:") for name in rows)

    results = check(str(tmp_path))
    by = [(r["dataset"], r["ok"], r["detail"]) for r in results]
    assert ("pavia", True, "sha256 ok") in by
    assert any(d == "pavia" and not ok and "missing" in detail for d, ok, detail in by)
    assert any(d == "pavia" and ok and detail.startswith("readable, 5 x 6 x 7") for d, ok, detail in by)
    assert any(d == "indian_pines" and not ok and "cannot read" in detail for d, ok, detail in by)
    assert any(d.startswith("frozen:") and ok and "checksum ok" in detail for d, ok, detail in by)


def test_data_cli_list_check_freeze(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    out = tmp_path / "frozen" / "rs"
    assert main(["data", "freeze", "scenes-rs", "noniid-95", str(out), "--images", "coffee", "--crop", "8"]) == 0
    assert json.loads((out / "manifest.json").read_text())["images"][0]["id"] == "coffee"
    capsys.readouterr()
    assert main(["data", "list", "--data-root", str(tmp_path), "--json"]) == 0
    listed = {r["name"]: r["present"] for r in json.loads(capsys.readouterr().out)}
    assert listed["scenes31"] and not listed["pavia"] and f"frozen:{out}" in listed
    assert main(["data", "check", "--data-root", str(tmp_path)]) == 0
    (tmp_path / "pavia").mkdir()
    (tmp_path / "pavia" / "PaviaU.mat").write_bytes(b"broken")
    assert main(["data", "check", "--data-root", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


@pytest.mark.parametrize("crop, size", [(None, 40), (16, 16)])
def test_sets_with_their_own_inputs_run_at_their_stored_size(crop: int | None, size: int, tmp_path: Path) -> None:
    from bench import profiles, runner, store

    folder = freeze("scenes-rs", "corr", tmp_path / "set", images=1, crop=40)
    np.save(tmp_path / "real.npy", np.random.default_rng(0).random((40, 40, 6)).astype(np.float32))
    cfg = runner.RunConfig(methods=["noisy"], noises=["corr"], profile=profiles.get("smoke"), out=tmp_path / "out",
                           datasets=[f"frozen:{folder}", f"npy:{tmp_path / 'real.npy'},truth=false"], crop=crop)
    assert runner.run(cfg).done == 2
    rows = store.load(tmp_path / "out")
    assert sorted(rows["height"]) == sorted(rows["width"]) == [size, size], "the profile's crop is 32"
