"""Every registered method honours the contract (registry-parametrised: new methods are tested for free)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import methods
import noise
from bench.errors import DataError
from bench.seeding import cell_rng
from methods.base import FAMILIES

NAMES = methods.registry.names()


def _cube(h: int = 16, w: int = 16, b: int = 31) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    spectrum = np.linspace(0.3, 0.9, b)
    return ((0.5 + 0.3 * np.sin(5 * xx) * np.cos(3 * yy))[..., None] * spectrum).astype(np.float32)


#: Inference settings that keep networks cheap on a 16 x 16 cube (whole-cube tile, few solver steps).
_CHEAP = {"tile": 16, "overlap": 4, "max_iter": 4}


def _instance(name: str, tmp_path: Path) -> methods.Method:
    """The method as registered; an untrained network in a temporary checkpoint where none is shipped."""
    cheap = {k: v for k, v in _CHEAP.items() if k in methods.registry.get(name).obj.defaults}
    m = methods.create(name, **cheap)
    if m.trainable:
        from methods.trainable import save_checkpoint

        try:
            m.checkpoint_path()
        except Exception:  # noqa: BLE001 - no shipped checkpoint: exercise the same path with fresh weights
            ckpt = tmp_path / f"{name}.pt"
            save_checkpoint(ckpt, m.build_network().state_dict(), m.manifest_base())
            m = methods.create(name, checkpoint=str(ckpt), **cheap)
    return m


@pytest.mark.parametrize("name", NAMES)
def test_declares_its_identity(name: str) -> None:
    entry = methods.registry.get(name)
    cls = entry.obj
    assert cls.family in FAMILIES and cls.version and cls.license and cls.description
    assert cls.reference, f"{name} must cite its paper"
    assert set(entry.defaults) <= set(cls.defaults)


@pytest.mark.parametrize("name", NAMES)
def test_denoise_returns_finite_cube_of_input_shape(name: str, tmp_path: Path) -> None:
    clean = _cube()
    noisy = noise.create("noniid-55").sample(clean, cell_rng("t", name, seed=0))
    m = _instance(name, tmp_path)
    before = noisy.noisy.copy()
    out = m.denoise(noisy.noisy, sigma=noisy.sigma, device="cpu")
    assert out.shape == clean.shape and out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_array_equal(noisy.noisy, before)  # the input is never modified
    assert isinstance(m.last_info, dict)
    if m.trainable:  # the report's complexity table reads these
        assert m.last_info["params_count"] == sum(p.numel() for p in m.network("cpu").parameters())
        assert m.last_info["checkpoint"]["sha256"]


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("bad, message", [
    (np.full((8, 8, 31), np.nan, np.float32), "NaN"),
    (np.zeros((8, 31), np.float32), "dimension"),
    (np.zeros((8, 8, 31), np.uint8), "dtype"),
])
def test_rejects_bad_input(name: str, bad: np.ndarray, message: str) -> None:
    with pytest.raises(DataError, match=message):
        methods.create(name).denoise(bad)


@pytest.mark.parametrize("name", NAMES)
def test_rejects_sigma_of_wrong_length(name: str) -> None:
    with pytest.raises(DataError, match="sigma"):
        methods.create(name).denoise(_cube(8, 8, 31), sigma=np.ones(5))
