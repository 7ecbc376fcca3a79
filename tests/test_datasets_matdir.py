"""``matdir:DIR``: other toolboxes' test sets as they are, in both MAT formats and both axis layouts."""

from __future__ import annotations

import hashlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io

import bench.datasets as datasets
from bench.errors import DataError, UsageError

H, W, B = 12, 14, 6


def _pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clean and noisy H x W x B cubes whose values tell every axis apart."""
    rng = np.random.default_rng(seed)
    gt = (np.arange(H)[:, None, None] / H * 0.5 + np.arange(W)[None, :, None] / W * 0.3
          + np.arange(B)[None, None, :] / B * 0.2).astype(np.float32)
    return gt, (gt + 0.05 * rng.standard_normal(gt.shape)).astype(np.float32)


def _write(path: Path, fmt: str, layout: str, **arrays: np.ndarray) -> None:
    """Write MATLAB-ordered arrays as v5 (scipy) or v7.3 (HDF5 with every axis order reversed, as MATLAB does)."""
    stored = {k: (np.moveaxis(v, -1, 0) if layout == "bhw" and v.ndim == 3 else v) for k, v in arrays.items()}
    if fmt == "v5":
        scipy.io.savemat(path, stored)
        return
    with h5py.File(path, "w") as fh:
        for key, arr in stored.items():
            fh.create_dataset(key, data=np.ascontiguousarray(np.asarray(arr).T))


@pytest.mark.parametrize("layout", ["hwb", "bhw"])
@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_both_formats_and_layouts_load_as_stored(fmt: str, layout: str, tmp_path: Path) -> None:
    folder = tmp_path / "icvl_512_30"
    folder.mkdir()
    pairs = {name: _pair(i) for i, name in enumerate(["a", "b"])}
    _write(folder / "a.mat", fmt, layout, gt=pairs["a"][0], input=pairs["a"][1], sigma=np.array([[30.0]]))
    _write(folder / "b.mat", fmt, layout, gt=pairs["b"][0], input=pairs["b"][1],
           sigma=np.linspace(0.01, 0.1, B).reshape(-1, 1))
    ds = datasets.load(f"matdir:{folder},layout={layout}")
    assert ds.ids == ["a", "b"] and ds.meta["noise"] == "icvl_512_30" and ds.brings_inputs
    for image in ds:
        np.testing.assert_array_equal(image.clean, pairs[image.id][0])
        np.testing.assert_array_equal(image.noisy, pairs[image.id][1])
        digest = hashlib.sha256((folder / f"{image.id}.mat").read_bytes()).hexdigest()
        assert image.meta["input_record"]["sha256"] == digest
    np.testing.assert_allclose(ds.get("a").meta["frozen_sigma"], np.full(B, 30 / 255))
    np.testing.assert_allclose(ds.get("b").meta["frozen_sigma"], np.linspace(0.01, 0.1, B))
    assert ds.get("a").meta["input_record"]["sigma_scale"] == "0-255"


@pytest.mark.parametrize("fmt", ["v5", "v7.3"])
def test_missing_keys_name_the_keys_present(fmt: str, tmp_path: Path) -> None:
    gt, noisy = _pair(0)
    _write(tmp_path / "x.mat", fmt, "hwb", clean=gt, noisy=noisy)
    with pytest.raises(DataError, match=r"x\.mat has no key 'gt' \(keys: clean, noisy\)"):
        datasets.load(f"matdir:{tmp_path}")
    ds = datasets.load(f"matdir:{tmp_path},gt=clean,input=noisy")
    assert ds[0].meta["frozen_sigma"] is None  # no sigma stored: methods estimate it
    np.testing.assert_array_equal(ds[0].noisy, noisy)


def test_bad_folders_and_options(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="matdir: folder not found"):
        datasets.load(f"matdir:{tmp_path / 'absent'}")
    with pytest.raises(UsageError, match=r"matdir: no \.mat files"):
        datasets.load(f"matdir:{tmp_path}")
    gt, noisy = _pair(0)
    _write(tmp_path / "x.mat", "v5", "hwb", gt=gt, input=noisy)
    with pytest.raises(UsageError, match="unknown layout 'whb'; choose hwb or bhw"):
        datasets.load(f"matdir:{tmp_path},layout=whb")
    with pytest.raises(DataError, match=r"'gt' \(12, 14, 6\) and 'input' \(6, 12, 14\) differ"):
        _write(tmp_path / "x.mat", "v5", "hwb", gt=gt, input=np.moveaxis(noisy, -1, 0))
        datasets.load(f"matdir:{tmp_path}")
    with pytest.raises(UsageError, match="values span \\[0, 2\\d\\d.*scale them to \\[0, 1\\]"):
        _write(tmp_path / "x.mat", "v5", "hwb", gt=gt * 255, input=noisy * 255)
        datasets.load(f"matdir:{tmp_path}")
    with pytest.raises(UsageError, match=f"use matdir:{tmp_path}"):
        datasets.load(f"frozen:{tmp_path}")


def test_run_scores_the_stored_inputs_and_records_their_sha256(tmp_path: Path) -> None:
    from bench import metrics, profiles, runner, store
    from reports import build_html

    folder = tmp_path / "set"
    folder.mkdir()
    gt, noisy = _pair(3)
    _write(folder / "s.mat", "v7.3", "bhw", gt=gt, input=noisy, sigma=np.array([[12.75]]))
    cfg = runner.RunConfig(methods=["noisy"], noises=["corr", "noniid-95"], datasets=[f"matdir:{folder},layout=bhw"],
                           profile=profiles.get("smoke"), out=tmp_path / "out")
    assert runner.run(cfg).done == 1, "the noise selection does not multiply a set with its own inputs"
    row = store.load(tmp_path / "out").iloc[0]
    assert row["noise"] == "set" and (row["height"], row["width"], row["bands"]) == (H, W, B)
    assert row["status"] == "ok", row["error"]
    assert row["psnr"] == pytest.approx(metrics.psnr(gt, noisy), abs=1e-9)
    digest = hashlib.sha256((folder / "s.mat").read_bytes()).hexdigest()
    assert row["info"]["noise"]["input"]["sha256"] == digest
    assert digest in build_html(tmp_path / "out").read_text(encoding="utf-8"), "the report names what was scored"
    np.testing.assert_allclose(row["sigma"], np.full(B, 0.05))
