"""The `real` profile on small synthetic stand-ins written in the four layouts the loaders expect."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from bench import store
from bench.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

#: One learned method keeps the test short (every learned method band-splits through the same base class,
#: tests/test_band_split.py); 16 x 16 tiles, since images smaller than a tile are padded up to it.
_METHODS = "noisy,t3sc.small"
_TILES = ["--param", "t3sc.small:tile=16", "--param", "t3sc.small:overlap=4", "--param", "t3sc.small:margin=0"]


def _cube(h: int, w: int, b: int, seed: int) -> np.ndarray:
    """A smooth scene plus noise and, on every third column, a stripe (real-noise look)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    scene = (0.5 + 0.3 * np.sin(4 * xx) * np.cos(3 * yy))[..., None] * np.linspace(0.5, 1.0, b)
    scene[:, ::3] += 0.05
    return (1000 * (scene + 0.03 * rng.standard_normal((h, w, b)))).astype(np.float32)


def write_standins(root: Path, which: tuple[str, ...] = ("houston2018", "eo1", "gf5", "urban")) -> None:
    """Houston 2018 as ENVI (48 bands), EO-1 as a MATLAB v5 H x W x B cube, GF-5 as NumPy, Urban as
    ``Urban_F210.mat`` with ``Y`` = bands x pixels (column-major) and ``nRow``/``nCol``."""
    import spectral.io.envi as envi

    for name in which:
        (root / name).mkdir(parents=True)
    if "houston2018" in which:
        envi.save_image(str(root / "houston2018" / "houston.hdr"), _cube(16, 20, 48, 0), force=True)
    if "eo1" in which:
        scipy.io.savemat(root / "eo1" / "hyperion.mat", {"img": _cube(16, 20, 166, 1)})
    if "gf5" in which:
        np.save(root / "gf5" / "capital.npy", _cube(18, 16, 166, 2))
    if "urban" in which:
        cube = _cube(16, 16, 210, 3)
        y = cube.reshape(-1, 210, order="F").T
        scipy.io.savemat(root / "urban" / "Urban_F210.mat", {"Y": y, "nRow": 16, "nCol": 16})


def test_real_profile_runs_all_four_layouts_and_reports_profiles(tmp_path: Path, capsys) -> None:
    write_standins(tmp_path / "data")
    out = tmp_path / "out"
    rc = main(["run", "--profile", "real", "--data-root", str(tmp_path / "data"), "--methods", _METHODS,
               "--noise", "noniid-55", "--out", str(out), *_TILES])
    assert rc == 0, capsys.readouterr().err
    rows = store.load(out)
    assert set(rows["status"]) == {"ok"}
    assert sorted(rows["dataset"].unique()) == ["eo1", "gf5", "houston2018", "urban"]
    assert len(rows) == 4 * 2
    real = rows[rows["dataset"] != "houston2018"]
    assert set(real["noise"]) == {"real"} and real["psnr"].isna().all()
    assert all({"nr_sigma", "nr_stripe"} <= set(m) for m in real["metrics"])
    hou = rows[rows["dataset"] == "houston2018"]
    assert hou["psnr"].notna().all() and set(hou["bands"]) == {46}
    learned = rows[rows["method"] != "noisy"]
    groups = {(d, b): {i["band_groups"] for i in learned[learned["dataset"] == d]["info"]}
              for d, b in zip(learned["dataset"], learned["bands"])}
    assert groups == {("houston2018", 46): {2}, ("eo1", 166): {7}, ("gf5", 166): {7}, ("urban", 210): {9}}
    assert all(i["band_split"] for i in learned["info"])
    for artifact in real["artifact"]:
        arrays = store.load_artifact(out, artifact)
        assert {"rowmean", "colmean", "cube"} <= set(arrays)

    assert main(["report", "--out", str(out), "--html"]) == 0
    html = (out / "report" / "index.html").read_text()
    urban = html.split('id="ds-urban"')[1].split("</section>")[0]
    assert 'class="results summary"' not in urban and "Column-mean profiles" in urban
    assert "Row-mean profiles" in urban and "no-reference" in urban and "stripe index (no-ref.)" in urban
    hou_html = html.split('id="ds-houston2018"')[1].split("</section>")[0]
    assert 'class="results summary"' in hou_html and "† = band-split" in hou_html
    assert re.search(r"\d\.\d{2}†", hou_html)


def test_missing_dataset_is_named_and_skipped(tmp_path: Path, capsys) -> None:
    write_standins(tmp_path / "data", ("urban",))
    rc = main(["run", "--profile", "real", "--data-root", str(tmp_path / "data"), "--methods", "noisy",
               "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 0, err
    for name in ("houston2018", "eo1", "gf5"):
        assert f"skipping dataset: {name}: data folder not found: {tmp_path / 'data' / name}" in err
    assert list(store.load(tmp_path / "out")["dataset"]) == ["urban"]


def test_every_dataset_missing_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert main(["run", "--profile", "real", "--data-root", str(tmp_path), "--methods", "noisy",
                 "--out", str(tmp_path / "out")]) == 2
    assert "no dataset of this run is present" in capsys.readouterr().err


def test_missing_folder_still_fails_outside_the_real_profile(tmp_path: Path, capsys) -> None:
    assert main(["run", "--profile", "smoke", "--datasets", "urban", "--data-root", str(tmp_path),
                 "--methods", "noisy", "--out", str(tmp_path / "out")]) == 2
    assert f"urban: data folder not found: {tmp_path / 'urban'}" in capsys.readouterr().err
