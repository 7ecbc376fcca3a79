"""Real-data loaders, each fed small files written in the real format, and their error messages."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

import bench.datasets as datasets
from bench.datasets.real import LOCATIONS
from bench.errors import DataError, UsageError


def _cube(h: int, w: int, b: int, seed: int = 0) -> np.ndarray:
    """A cube whose values identify their position, so any transposition or flip shows up."""
    rng = np.random.default_rng(seed)
    return (rng.random((h, w, b)) * 100 + np.arange(h)[:, None, None] * 3).astype(np.float64)


def _minmax(x: np.ndarray, eps: float = 0.0) -> np.ndarray:
    return ((x - x.min()) / (x.max() - x.min() + eps)).astype(np.float32)


def _write_v73(path: Path, **arrays: np.ndarray) -> None:
    """MATLAB v7.3 layout: HDF5 with every array stored in reversed axis order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as fh:
        for key, arr in arrays.items():
            fh.create_dataset(key, data=np.ascontiguousarray(arr.T))


def _savemat(path: Path, **arrays: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, arrays)


@pytest.mark.parametrize("name", sorted(LOCATIONS))
def test_missing_data_folder_is_a_usage_error(name: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=f"{name}: data folder not found: .*{LOCATIONS[name].folder}"):
        datasets.load(name, data_root=str(tmp_path))


@pytest.mark.parametrize("name", sorted(LOCATIONS))
def test_empty_data_folder_is_a_usage_error(name: str, tmp_path: Path) -> None:
    (tmp_path / LOCATIONS[name].folder).mkdir()
    with pytest.raises(UsageError, match=name):
        datasets.load(name, data_root=str(tmp_path))


def test_icvl_qrnn3d_protocol_and_lists(tmp_path: Path) -> None:
    raw = _cube(20, 14, 31)
    _write_v73(tmp_path / "icvl" / "bulb_0822-0909.mat", rad=raw)
    _write_v73(tmp_path / "icvl" / "BGU_0403-1419-1.mat", rad=raw[::-1])
    _write_v73(tmp_path / "icvl" / "unlisted_0000.mat", rad=raw[:, ::-1])
    test = datasets.load("icvl", data_root=str(tmp_path))
    assert test.ids == ["bulb_0822-0909"] and "icvl_test_gauss" in test.meta["list"]
    np.testing.assert_array_equal(test[0].clean, _minmax(np.rot90(raw, k=1, axes=(0, 1))))
    assert test[0].clean.shape == (14, 20, 31)
    train = datasets.load("icvl", split="train", data_root=str(tmp_path))
    assert train.ids == ["BGU_0403-1419-1"]
    every = datasets.load("icvl:subset=all,protocol=t3sc", data_root=str(tmp_path))
    assert len(every) == 3
    np.testing.assert_allclose(every.get("bulb_0822-0909").clean, _minmax(raw, 0.001), rtol=1e-6)


def test_icvl_crops_large_cubes_to_512(tmp_path: Path) -> None:
    raw = np.zeros((520, 600, 31))
    raw[260, 300, 5] = 1.0
    _write_v73(tmp_path / "icvl" / "a.mat", rad=raw)
    cube = datasets.load("icvl", data_root=str(tmp_path))[0].clean
    assert cube.shape == (512, 512, 31) and cube.max() == 1.0


def test_icvl_missing_key_names_file_and_keys(tmp_path: Path) -> None:
    _write_v73(tmp_path / "icvl" / "a.mat", cube=_cube(4, 4, 31))
    ds = datasets.load("icvl", data_root=str(tmp_path))
    with pytest.raises(DataError, match=r"icvl: .*a\.mat has no key 'rad' \(keys: cube\)"):
        ds[0]


@pytest.mark.parametrize("name,file,key", [("indian_pines", "Indian_pines_corrected.mat", "indian_pines_corrected"),
                                           ("pavia", "PaviaU.mat", "paviaU")])
def test_v5_mat_sets(name: str, file: str, key: str, tmp_path: Path) -> None:
    raw = _cube(9, 7, 12)
    _savemat(tmp_path / LOCATIONS[name].folder / file, **{key: raw})
    ds = datasets.load(name, data_root=str(tmp_path))
    np.testing.assert_allclose(ds[0].clean, _minmax(raw), rtol=1e-6)
    assert all(0 <= b < 12 for b in ds.rgb_bands)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_mat_is_a_data_error_naming_the_file(damage: str, tmp_path: Path) -> None:
    path = tmp_path / "pavia" / "PaviaU.mat"
    _savemat(path, paviaU=_cube(30, 30, 10))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage == "truncate" else b"\x00garbage" * 64)
    with pytest.raises(DataError, match=r"pavia: cannot read .*PaviaU\.mat"):
        datasets.load("pavia", data_root=str(tmp_path))[0]


def test_truncated_hdf5_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "icvl" / "a.mat"
    _write_v73(path, rad=_cube(40, 40, 31))
    path.write_bytes(path.read_bytes()[:3000])
    with pytest.raises(DataError, match=r"icvl: .*a\.mat"):
        datasets.load("icvl", data_root=str(tmp_path))[0]


def test_urban_bands_by_pixels_column_major(tmp_path: Path) -> None:
    cube = _cube(6, 5, 8)
    y = cube.reshape(30, 8, order="F").T
    _savemat(tmp_path / "urban" / "Urban_F210.mat", Y=y, nRow=6, nCol=5)
    ds = datasets.load("urban", data_root=str(tmp_path))
    assert not ds.has_ground_truth
    image = ds[0]
    assert image.clean is None
    np.testing.assert_allclose(image.noisy, _minmax(cube), rtol=1e-6)


def test_cave_band_pngs(tmp_path: Path) -> None:
    from skimage import io

    cube = (_cube(8, 6, 31) * 20).astype(np.uint16)
    scene = tmp_path / "cave" / "balloons_ms" / "balloons_ms"
    scene.mkdir(parents=True)
    for b in range(31):
        io.imsave(scene / f"balloons_ms_{b + 1:02d}.png", cube[..., b], check_contrast=False)
    ds = datasets.load("cave", data_root=str(tmp_path))
    assert ds.ids == ["balloons_ms"]
    np.testing.assert_allclose(ds[0].clean, _minmax(cube.astype(np.float64)), rtol=1e-6)


def test_houston_last_46_bands_centre_and_remainders(tmp_path: Path) -> None:
    import tifffile

    cube = _cube(50, 60, 48)
    (tmp_path / "houston2018").mkdir()
    tifffile.imwrite(tmp_path / "houston2018" / "houston.tif", np.moveaxis(cube, -1, 0).astype(np.float32))
    test = datasets.load("houston2018:crop=8", data_root=str(tmp_path))
    np.testing.assert_allclose(test[0].clean, _minmax(cube[21:29, 26:34, 2:]), rtol=1e-5)
    train = datasets.load("houston2018:crop=8", split="train", data_root=str(tmp_path))
    assert [im.clean.shape for im in train] == [(50, 26, 46), (50, 26, 46)]


@pytest.mark.parametrize("name", ["eo1", "gf5"])
def test_real_noise_sets_have_no_ground_truth(name: str, tmp_path: Path) -> None:
    cube = _cube(7, 9, 20)
    (tmp_path / name).mkdir()
    np.save(tmp_path / name / "scene.npy", cube)
    ds = datasets.load(name, data_root=str(tmp_path))
    assert not ds.has_ground_truth and ds.ids == ["scene"]
    assert ds[0].clean is None
    np.testing.assert_allclose(ds[0].noisy, _minmax(cube), rtol=1e-6)


def test_envi_tiff_npy_paths(tmp_path: Path) -> None:
    import spectral.io.envi as envi
    import tifffile

    cube = _cube(6, 8, 5).astype(np.float32)
    envi.save_image(str(tmp_path / "c.hdr"), cube, force=True)
    tifffile.imwrite(tmp_path / "c.tif", np.moveaxis(cube, -1, 0))
    np.savez(tmp_path / "c.npz", other=np.zeros(3), data=cube)
    expected = _minmax(cube.astype(np.float64))
    for spec in (f"envi:{tmp_path / 'c.hdr'}", f"tiff:{tmp_path / 'c.tif'}", f"npy:{tmp_path / 'c.npz'}"):
        ds = datasets.load(spec)
        np.testing.assert_allclose(ds[0].clean, expected, rtol=1e-6, err_msg=spec)
    unit = tmp_path / "unit"
    unit.mkdir()
    np.save(unit / "c.npy", cube / 200)
    raw = datasets.load(f"npy:{unit},normalize=false,truth=false")
    assert raw.ids == ["c"] and not raw.has_ground_truth
    np.testing.assert_array_equal(raw[0].noisy, cube / 200)


def test_normalize_false_refuses_data_off_the_unit_scale(tmp_path: Path) -> None:
    np.save(tmp_path / "c8.npy", np.linspace(0, 255, 4 * 4 * 3).reshape(4, 4, 3))
    with pytest.raises(UsageError, match=r"c8\.npy \(normalize=false\): values span \[0, 255\], outside "
                                         r"\[-0.5, 1.5\].*use normalize=true"):
        datasets.load(f"npy:{tmp_path / 'c8.npy'},normalize=false")
    np.save(tmp_path / "noisy.npy", np.linspace(-0.4, 1.4, 4 * 4 * 3).reshape(4, 4, 3))
    assert datasets.load(f"npy:{tmp_path / 'noisy.npy'},normalize=false,truth=false")[0].noisy.min() < 0


def test_path_sets_report_missing_and_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="npy: give a path"):
        datasets.load("npy")
    with pytest.raises(UsageError, match=r"tiff: file not found: .*nope\.tif"):
        datasets.load(f"tiff:{tmp_path / 'nope.tif'}")
    np.save(tmp_path / "flat.npy", np.zeros((4, 4)))
    with pytest.raises(DataError, match=r"npy: .*flat\.npy: expected a 3-D cube"):
        datasets.load(f"npy:{tmp_path / 'flat.npy'}")
    bad = np.ones((3, 3, 2))
    bad[0, 0, 0] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(DataError, match="NaN"):
        datasets.load(f"npy:{tmp_path / 'nan.npy'}")


def test_unknown_loader_options_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="dataset icvl: does not take option"):
        datasets.load("icvl:colour=1", data_root=str(tmp_path))
    with pytest.raises(UsageError, match="dataset pavia: does not take a path"):
        datasets.load("pavia:/x/y.mat", data_root=str(tmp_path))
    with pytest.raises(UsageError, match="icvl: unknown protocol 'hsi'"):
        datasets.load("icvl:protocol=hsi", data_root=str(tmp_path))
