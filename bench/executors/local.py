"""``--executor local``: N worker processes on this machine, started with spawn (CUDA never forks).

Each worker takes one cell at a time over a pipe, keeps its loaded method and image between cells, and runs
torch and BLAS with ``cores // N`` threads (recorded in every row); ``--devices cuda:0,cuda:1`` pins one
worker per device. A worker that dies (SIGKILL, the OOM killer) loses only its cell: the cell is retried
once on a fresh worker, then stored as failed with the reason. Workers ignore SIGINT and SIGTERM, so a
Ctrl-C or a SIGTERM to the process group lets the cells in flight finish while the driver stops.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from typing import Any, Iterator

from bench.executors import Event
from bench.execute import failed_result
from bench.plan import Cell

_THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def cores() -> int:
    """CPU cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class _Worker:
    def __init__(self, device: str | None, threads: int) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.device = device
        self.proc = ctx.Process(target=_serve, args=(child, device, threads), daemon=True)
        with _child_environment(threads):
            self.proc.start()
        child.close()
        self.cell: Cell | None = None

    def send(self, cell: Cell) -> None:
        self.cell = cell
        self.conn.send(cell)

    def stop(self, *, abort: bool) -> None:
        if not abort and self.proc.is_alive():
            try:
                self.conn.send(None)
            except OSError:
                pass
            self.proc.join(timeout=10)
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(timeout=10)
        self.conn.close()

    def death(self) -> str:
        code = self.proc.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if name == "SIGKILL" else ""
            return f"killed by {name}{hint}"
        return f"exited with status {code}"


class LocalExecutor:
    """A pool of spawned workers, each running one cell at a time."""

    name = "local"

    def __init__(self, *, workers: int | None = None, devices: list[str] | None = None) -> None:
        devices = list(devices or [])
        count = workers or len(devices) or cores()
        self.threads = max(1, cores() // count)
        self.capacity = count
        self._devices = [devices[i % len(devices)] if devices else None for i in range(count)]
        self._workers = [_Worker(d, self.threads) for d in self._devices]
        self._attempts: dict[str, int] = {}

    def submit(self, cell: Cell) -> None:
        worker = next(w for w in self._workers if w.cell is None)
        self._attempts[cell.key] = self._attempts.get(cell.key, 0) + 1
        worker.send(cell)

    def poll(self, timeout: float) -> list[Event]:
        busy = [w for w in self._workers if w.cell is not None]
        if not busy:
            return []
        ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=timeout))
        events: list[Event] = []
        for i, w in enumerate(self._workers):
            if w.cell is None or (w.conn not in ready and w.proc.sentinel not in ready):
                continue
            cell = w.cell
            try:
                result = w.conn.recv() if w.conn.poll() else None
            except (EOFError, OSError):
                result = None
            if result is not None:
                w.cell = None
                events.append(Event("done", cell, result))
                continue
            if w.proc.is_alive():
                continue
            reason = w.death()
            w.stop(abort=True)
            self._workers[i] = _Worker(self._devices[i], self.threads)
            if self._attempts[cell.key] < 2:
                self.submit(cell)
                events.append(Event("retried", cell, note=f"worker {reason}; retrying on a fresh worker"))
            else:
                events.append(Event("done", cell, failed_result(
                    cell, f"WorkerDied: the worker running this cell was {reason}, twice")))
        return events

    def drop(self, cell: Cell) -> None:
        """Forget a cell whose retry the driver does not want (it is stopping)."""
        for w in self._workers:
            if w.cell is cell:
                w.cell = None

    def close(self, *, abort: bool = False) -> None:
        for w in self._workers:
            w.stop(abort=abort or w.cell is not None)


@contextmanager
def _child_environment(threads: int) -> Iterator[None]:
    """Thread counts in the environment and SIGINT/SIGTERM ignored while a child starts (it inherits both)."""
    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    os.environ.update({k: str(threads) for k in _THREAD_VARS})
    for s in handlers:
        signal.signal(s, signal.SIG_IGN)
    try:
        yield
    finally:
        for s, h in handlers.items():
            signal.signal(s, h)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _serve(conn: Connection, device: str | None, threads: int) -> None:
    """A worker's loop: receive a cell, execute it, send the result; None or a closed pipe ends it."""
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, signal.SIG_IGN)
    import torch

    from bench.execute import WorkerCache, execute

    torch.set_num_threads(threads)
    cache = WorkerCache(device=device, threads=threads)
    while True:
        try:
            cell: Any = conn.recv()
        except (EOFError, OSError):
            return
        if cell is None:
            return
        try:
            conn.send(execute(cell, cache))
        except (BrokenPipeError, OSError):
            return
