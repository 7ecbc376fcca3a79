"""What one method call costs: wall and CPU seconds, its own peak memory and, for torch methods, FLOPs.

The timed call is the method alone (CUDA synchronised before each clock read). FLOPs come from a second,
untimed call of the same method on the same input under `torch.utils.flop_counter.FlopCounterMode`,
because the counter's dispatch hook slows small-op loops by up to 2x and must not inflate the time. The
counter sees matrix products, convolutions and attention (what dominates a network); elementwise work,
FFTs and decompositions (SVD, QR, eigh) are not counted, so classical methods' figures are lower bounds.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from bench.memory import PeakMemory


@dataclass
class Cost:
    """The measured cost of one cell; ``flops`` is None when it was not counted."""

    wall_s: float = 0.0
    cpu_s: float = 0.0
    peak_bytes: int = 0
    mem_kind: str = ""
    flops: dict[str, Any] | None = field(default=None)

    def info(self) -> dict[str, Any]:
        """The entries stored with the cell's ``info``: CPU seconds and, when counted, the FLOPs."""
        out: dict[str, Any] = {"cpu_s": self.cpu_s}
        if self.flops is not None:
            out.update(self.flops)
        return out


def _sync(device: Any) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: Any) -> tuple[Any, Cost]:
    """Call ``fn()`` once; its result and its wall seconds, process-CPU seconds and peak memory."""
    with PeakMemory(device) as mem:
        _sync(device)
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        _sync(device)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return result, Cost(wall_s=wall, cpu_s=cpu, peak_bytes=mem.peak, mem_kind=mem.kind)


def count_flops(fn: Callable[[], Any], *, unit: str | None = None) -> dict[str, Any]:
    """FLOPs of ``fn()`` as counted by `FlopCounterMode`; with ``unit`` (an ``nn.Module`` class name) also
    how often modules of that class ran and the FLOPs of one such call (DECSC: one f-evaluation)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    calls: list[int] = []
    starts: list[int] = []
    counter = FlopCounterMode(display=False)

    def pre(module: torch.nn.Module, args: Any) -> None:
        if type(module).__name__ == unit:
            starts.append(counter.get_total_flops())

    def post(module: torch.nn.Module, args: Any, out: Any) -> None:
        if type(module).__name__ == unit and starts:
            calls.append(counter.get_total_flops() - starts.pop())

    hooks = []
    if unit is not None:
        hooks = [torch.nn.modules.module.register_module_forward_pre_hook(pre),
                 torch.nn.modules.module.register_module_forward_hook(post)]
    try:
        with counter:
            fn()
    finally:
        for h in hooks:
            h.remove()
    out: dict[str, Any] = {"flops": int(counter.get_total_flops()), "flops_counter": "torch FlopCounterMode"}
    if unit is not None:
        out.update(flops_unit=unit, flops_unit_calls=len(calls),
                   flops_per_unit=float(np.mean(calls)) if calls else None)
    return out


def run_method(meth: Any, noisy: np.ndarray, *, sigma: Any, device: Any, flops: bool) -> tuple[np.ndarray, Cost]:
    """The runner's hook around one `Method.denoise` call: timed, then (``flops`` and a torch method)
    counted in a second call whose output and report are discarded."""
    est, cost = timed(lambda: meth.denoise(noisy, sigma=sigma, device=device), device)
    if flops and getattr(meth, "torch_forward", False):
        info, monitor = meth.last_info, meth.monitor
        meth.monitor = None
        try:
            cost.flops = count_flops(lambda: meth.denoise(noisy, sigma=sigma, device=device),
                                     unit=getattr(meth, "flop_unit", None))
        finally:
            meth.last_info, meth.monitor = info, monitor
    return est, cost
