"""Band-splitting in the trainable-method base, for every registered trainable method (registry-parametrised)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import methods
from bench.errors import DataError, UsageError
from methods.trainable import TrainableMethod, save_checkpoint

TRAINABLE = [n for n in methods.registry.names() if methods.registry.get(n).obj.trainable]

#: Keeps the paper-size networks cheap: each registered architecture built for 8 bands (groups overlap by 2),
#: a 16 x 16 cube is one tile, solvers stop after 3 iterations.
_CHEAP = {"bands": 8, "band_overlap": 2, "tile": 16, "overlap": 4, "margin": 0, "max_iter": 3, "fail_bound": 1e9}

pytestmark = pytest.mark.usefixtures("one_thread")


def _fresh(name: str, tmp_path: Path, **over: object) -> TrainableMethod:
    """``name`` with its registered architecture and seeded untrained weights in a temporary checkpoint."""
    cls = methods.registry.get(name).obj
    params = {k: v for k, v in {**_CHEAP, **over}.items() if k in cls.defaults}
    m = methods.create(name, **params)
    torch.manual_seed(0)
    ckpt = tmp_path / f"{name}.pt"
    save_checkpoint(ckpt, m.build_network().state_dict(), m.manifest_base())
    return methods.create(name, checkpoint=str(ckpt), **params)


def _cube(bands: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((16, 16, bands)).astype(np.float32)


def test_every_learned_method_is_covered() -> None:
    assert {"t3sc", "t3sc.small", "decsc", "decsc.small"} <= set(TRAINABLE)
    assert all("band_overlap" in methods.registry.get(n).obj.defaults for n in TRAINABLE)


@pytest.mark.parametrize("name", TRAINABLE)
def test_more_bands_are_band_split_into_groups(name: str, tmp_path: Path) -> None:
    m = _fresh(name, tmp_path)
    bands = int(m.params["bands"])
    cube = _cube(bands + 4)
    out = m.denoise(cube, device="cpu")
    assert out.shape == cube.shape and np.isfinite(out).all()
    assert m.last_info["band_split"] is True and m.last_info["band_groups"] == 2


@pytest.mark.parametrize("name", TRAINABLE)
def test_trained_band_count_equals_whole_cube_pass(name: str, tmp_path: Path) -> None:
    m = _fresh(name, tmp_path)
    cube = _cube(int(m.params["bands"]), seed=1)
    out = m.denoise(cube, device="cpu")
    net = m.network(torch.device("cpu"))
    with torch.no_grad():
        direct = net(torch.from_numpy(cube.transpose(2, 0, 1)[None].copy()))[0].permute(1, 2, 0).numpy()
    if m.params.get("clamp"):
        direct = np.clip(direct, 0.0, 1.0)
    np.testing.assert_allclose(out, direct, atol=1e-6)
    assert m.last_info["band_split"] is False and m.last_info["band_groups"] == 1


@pytest.mark.parametrize("name", TRAINABLE)
def test_fewer_bands_are_refused(name: str, tmp_path: Path) -> None:
    m = _fresh(name, tmp_path)
    bands = int(m.params["bands"])
    with pytest.raises(DataError, match=f"input has {bands - 1} bands, fewer than the {bands}"):
        m.denoise(_cube(bands - 1), device="cpu")


def test_band_overlap_sets_the_groups(tmp_path: Path) -> None:
    """Groups of 31 over 60 bands: overlap 2 steps by 29 (2 groups), overlap 20 by 11 (starts 0, 11, 22, 29)."""
    assert len(_fresh("t3sc.small", tmp_path, bands=31, band_overlap=2).band_groups(60)) == 2
    assert len(_fresh("t3sc.small", tmp_path, bands=31, band_overlap=20).band_groups(60)) == 4


def test_split_groups_blend_to_the_group_outputs(tmp_path: Path) -> None:
    """Bands covered by one group only carry that group's output exactly."""
    m = _fresh("t3sc.small", tmp_path, bands=31, band_overlap=4, clamp=False)
    cube = _cube(40, seed=2)
    out = m.denoise(cube, device="cpu")
    net = m.network(torch.device("cpu"))
    x = torch.from_numpy(cube.transpose(2, 0, 1)[None].copy())
    with torch.no_grad():
        first = net(x[:, :31])[0].permute(1, 2, 0).numpy()
        last = net(x[:, 9:])[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out[..., :9], first[..., :9], atol=1e-5)
    np.testing.assert_allclose(out[..., 31:], last[..., 22:], atol=1e-5)


def test_decsc_groups_combine_solver_reports(tmp_path: Path) -> None:
    """DECSC's hook: f-evaluations add up over groups, the worst residual and all-converged are kept."""
    m = _fresh("decsc.small", tmp_path)
    m.denoise(_cube(12), device="cpu")
    assert m.last_info["iterations"] == 2 * _CHEAP["max_iter"]
    infos = [{"relative_residual": 0.2, "iterations": 3, "converged": True},
             {"relative_residual": 0.5, "iterations": 4, "converged": False}]
    assert m.combine_group_infos(infos) == {"relative_residual": 0.5, "iterations": 7, "converged": False}


@pytest.mark.parametrize("name", ["t3sc.small", "decsc.mamba.small"])
def test_released_evaluation_protocol(name: str, tmp_path: Path) -> None:
    """tile=16, overlap=0, band_overlap=0, edge=pad: regular non-overlapping tiles and band groups over an
    edge-padded cube; 20 x 20 x 12 at 8 bands is 2 x 2 tiles of each of 2 groups, cropped back."""
    m = _fresh(name, tmp_path, overlap=0, band_overlap=0, edge="pad")
    cube = np.random.default_rng(2).random((20, 20, 12)).astype(np.float32)
    out = m.denoise(cube, device="cpu")
    assert out.shape == cube.shape and np.isfinite(out).all()
    assert m.last_info["band_groups"] == 2 and m.last_info["tile_calls"] == 4
    with pytest.raises(UsageError, match="edge must be one of shift, pad"):
        methods.create(name, **{**m.params, "edge": "mirror"}).denoise(cube, device="cpu")
