"""Peak memory of one call above what the process held before it (Table IV's "peak memory" column).

On CUDA it is the caching allocator's peak minus what was allocated when the block started. On the CPU
torch keeps no allocator statistics, so it is the larger of two views: tracemalloc's peak (numpy and Python
allocations) and the sampled resident set size above the pre-call baseline (torch tensors, native code).
"""

from __future__ import annotations

import os
import threading
import tracemalloc
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

#: How each kind of figure was measured, as the report's column header names it.
KINDS = {
    "cuda-alloc": "CUDA allocator peak above the cell's start",
    "cpu-delta": "CPU: max(tracemalloc peak, sampled RSS above the pre-cell baseline)",
    "rss": "whole-process RSS (rows stored before per-method measurement)",
}


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class PeakMemory:
    """Context manager measuring the peak its block adds; ``.peak`` in bytes, ``.kind`` a key of `KINDS`."""

    def __init__(self, device: Any = None, interval: float = 0.005) -> None:
        self.kind = "cuda-alloc" if str(device).startswith("cuda") else "cpu-delta"
        self.peak = 0
        self._interval = interval
        self._base = 0
        self._rss_peak = 0
        self._trace_base = 0
        self._own_trace = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakMemory":
        if self.kind == "cuda-alloc":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            self._base = int(torch.cuda.memory_allocated())
            return self
        self._own_trace = not tracemalloc.is_tracing()
        if self._own_trace:
            tracemalloc.start()
        tracemalloc.reset_peak()
        self._trace_base = tracemalloc.get_traced_memory()[0]
        self._base = self._rss_peak = current_rss()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self._rss_peak = max(self._rss_peak, current_rss())

    def __exit__(self, *exc: object) -> None:
        if self.kind == "cuda-alloc":
            import torch

            torch.cuda.synchronize()
            self.peak = max(0, int(torch.cuda.max_memory_allocated()) - self._base)
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        traced = tracemalloc.get_traced_memory()[1] - self._trace_base
        if self._own_trace:
            tracemalloc.stop()
        rss = max(self._rss_peak, current_rss()) - self._base
        self.peak = max(0, traced, rss)
