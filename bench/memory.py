"""Peak memory of one call: max allocated on CUDA, sampled process RSS on the CPU."""

from __future__ import annotations

import os
import threading
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def current_rss() -> int:
    """Resident set size of this process in bytes (Linux ``/proc``; 0 where unavailable)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


class PeakMemory:
    """Context manager measuring the peak during its block; ``.peak`` in bytes, ``.kind`` "cuda" or "rss"."""

    def __init__(self, device: Any = None, interval: float = 0.005) -> None:
        self.kind = "cuda" if str(device).startswith("cuda") else "rss"
        self.peak = 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> "PeakMemory":
        if self.kind == "cuda":
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        else:
            self.peak = current_rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, current_rss())

    def __exit__(self, *exc: object) -> None:
        if self.kind == "cuda":
            import torch

            torch.cuda.synchronize()
            self.peak = int(torch.cuda.max_memory_allocated())
        else:
            self._stop.set()
            if self._thread is not None:
                self._thread.join()
            self.peak = max(self.peak, current_rss())
