"""Progress of a run in the driver: one tqdm bar on a terminal, a plain line every N cells or 30 s otherwise."""

from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

#: Without a terminal, a progress line every this many recorded cells (or every `INTERVAL_S` seconds).
EVERY = int(os.environ.get("HSIBENCH_PROGRESS_EVERY", "10"))
INTERVAL_S = 30.0


class Progress:
    """Cells done / failed / retried and the ETA, for every executor."""

    def __init__(self, total: int, *, already: int = 0, verbose: bool = False, stream: TextIO | None = None) -> None:
        from tqdm import tqdm

        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total, self.count, self.failed, self.retried = total, already, 0, 0
        self.verbose = verbose
        self._ran = 0
        self._t0 = self._last = time.monotonic()
        self._bar: Any = tqdm(total=total, initial=already, unit="cell", dynamic_ncols=True, disable=not self.tty,
                              file=self.stream)

    def cell(self, row: dict[str, Any]) -> None:
        self.count += 1
        self._ran += 1
        if row.get("status") != "ok":
            self.failed += 1
        if self.verbose:
            self._write(_cell_line(row))
        self._bar.update(1)
        self._bar.set_postfix(failed=self.failed, retried=self.retried, refresh=False)
        self.tick(force=self._ran % max(1, EVERY) == 0)

    def skip(self) -> None:
        self.count += 1
        self._bar.update(1)

    def retry(self, note: str) -> None:
        self.retried += 1
        self._bar.set_postfix(failed=self.failed, retried=self.retried)
        if self.verbose:
            self._write(f"retry: {note}")

    def tick(self, *, force: bool = False) -> None:
        """Print a progress line when not on a terminal, every `EVERY` cells or `INTERVAL_S` seconds."""
        now = time.monotonic()
        if self.tty or not (force or now - self._last >= INTERVAL_S):
            return
        self._last = now
        self._write(f"progress: {self.count}/{self.total} cells, {self.failed} failed, {self.retried} retried, "
                    f"ETA {self.eta()}")

    def eta(self) -> str:
        left = self.total - self.count
        if not self._ran or left <= 0:
            return "0:00:00" if left <= 0 else "unknown"
        seconds = int(left * (time.monotonic() - self._t0) / self._ran)
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"

    def _write(self, text: str) -> None:
        if self.tty:
            self._bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        self._bar.close()


def _cell_line(row: dict[str, Any]) -> str:
    score = f"PSNR {row['psnr']:.2f} dB" if row.get("psnr") is not None else row["status"]
    if row["status"] != "ok":
        score = f"FAILED {row['error']}"
    return f"{row['method']:<16} {row['noise']:<12} {row['dataset']}/{row['image']:<14} {score}  " \
           f"{row.get('time_s') or 0:.2f}s  on {row.get('host') or '?'}"
