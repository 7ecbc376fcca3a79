"""Per-cell cost: FLOPs counted by torch, each method's own peak memory, wall and CPU seconds."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

import methods
from bench.memory import PeakMemory
from bench.profiling import count_flops, run_method, timed
from methods.base import Method

pytestmark = pytest.mark.usefixtures("one_thread")


class _Unit(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(8, 8, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


def test_count_flops_of_a_matrix_product() -> None:
    a, b = torch.rand(16, 32), torch.rand(32, 4)
    assert count_flops(lambda: a @ b)["flops"] == 2 * 16 * 32 * 4


def test_count_flops_per_unit_call() -> None:
    unit, x = _Unit(), torch.rand(5, 8)

    def three() -> torch.Tensor:
        y = x
        for _ in range(3):
            y = unit(y)
        return y @ torch.rand(8, 2)

    out = count_flops(three, unit="_Unit")
    assert out["flops_unit_calls"] == 3
    assert out["flops_per_unit"] == 2 * 5 * 8 * 8
    assert out["flops"] == 3 * 2 * 5 * 8 * 8 + 2 * 5 * 8 * 2


def test_peak_memory_is_the_blocks_own_allocation() -> None:
    with PeakMemory("cpu") as mem:
        big = np.ones((64, 2**20 // 8))  # 64 MiB
        del big
    assert mem.kind == "cpu-delta"
    assert 63 * 2**20 < mem.peak < 100 * 2**20
    with PeakMemory("cpu") as idle:
        pass
    assert idle.peak < 8 * 2**20


def test_timed_reports_wall_and_cpu_seconds() -> None:
    def spin() -> int:
        return sum(i * i for i in range(200_000))

    result, cost = timed(spin, "cpu")
    assert result == spin() and cost.wall_s > 0 and cost.cpu_s > 0
    assert cost.mem_kind == "cpu-delta" and cost.flops is None


class _Counted(Method):
    torch_forward = True
    flop_unit = "_Unit"

    def _denoise(self, noisy: np.ndarray, *, sigma: Any, device: Any) -> np.ndarray:
        self.last_info = {"calls": 1}
        x = torch.from_numpy(noisy.reshape(-1, 8))
        with torch.no_grad():
            return (_Unit()(x) * 0 + x).numpy().reshape(noisy.shape)


def test_run_method_counts_in_a_second_call_and_keeps_the_first_report() -> None:
    meth = _Counted(name="counted")
    meth.monitor = lambda est: 0.0
    cube = np.random.default_rng(0).random((4, 4, 8)).astype(np.float32)
    est, cost = run_method(meth, cube, sigma=None, device="cpu", flops=True)
    np.testing.assert_array_equal(est, cube)
    assert cost.flops is not None and cost.flops["flops_unit_calls"] == 1
    assert cost.flops["flops_per_unit"] == 2 * 16 * 8 * 8
    assert meth.last_info == {"calls": 1} and meth.monitor is not None
    assert {"cpu_s", "flops", "flops_per_unit"} <= set(cost.info())


def test_numpy_method_is_not_counted_and_noisy_costs_little() -> None:
    cube = np.random.default_rng(0).random((64, 64, 31)).astype(np.float32)
    _, cost = run_method(methods.create("noisy"), cube, sigma=None, device="cpu", flops=True)
    assert cost.flops is None and cost.peak_bytes < 50 * 2**20
