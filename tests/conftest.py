"""Shared fixtures."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PLUGINS = ROOT / "tests" / "plugins"


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Small tensors run faster on one torch thread than on a pool oversubscribed by a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def cubes(tmp_path_factory) -> Path:
    """Three small 24 x 24 x 8 cubes as ``.npy`` files: a dataset (``npy:DIR``) that loads in no time."""
    folder = tmp_path_factory.mktemp("cubes")
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:24, 0:24] / 24.0
    for i in range(3):
        spectrum = np.linspace(0.2, 0.8, 8) ** (1 + i)
        cube = (0.5 + 0.4 * np.sin(3 * xx + i)[..., None] * np.cos(2 * yy)[..., None]) * spectrum
        np.save(folder / f"img{i}.npy", (cube + 0.01 * rng.random(cube.shape)).astype(np.float32))
    return folder


@pytest.fixture
def test_methods(monkeypatch) -> None:
    """Register the runner-test methods here and in every process this test starts (spawned workers too)."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    monkeypatch.setenv("HSIBENCH_PLUGINS", "bench_test_methods")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(PLUGINS), os.environ.get("PYTHONPATH", "")]))
    if "bench_test_methods" not in sys.modules:
        importlib.import_module("bench_test_methods")
