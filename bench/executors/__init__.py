"""Executors: where the cells of a plan run. The driver submits cells and records what comes back.

Every executor has the same small interface: ``capacity`` (cells in flight at once), ``submit(cell)``,
``poll(timeout) -> [Event]`` and ``close(abort=False)``. Results travel back to the driver as
`bench.execute.CellResult`; no executor writes the results store.

- ``inline``: in the driver's process, one cell after another (the default).
- ``local``: ``--workers N`` spawned processes on this machine (`bench.executors.local`).
- ``ray``: one Ray task per cell on a Ray cluster (`bench.executors.rayexec`, optional extra).
- ``slurm``: shards of the plan as one Slurm job array through submitit (`bench.executors.slurm`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.execute import CellResult, WorkerCache, execute
from bench.plan import Cell

NAMES = ("inline", "local", "ray", "slurm")


@dataclass
class Event:
    """``kind`` is "done" (``result`` is set) or "retried" (the cell was resubmitted after a worker died)."""

    kind: str
    cell: Cell
    result: CellResult | None = None
    note: str = ""


@dataclass
class ExecutorOptions:
    """Command-line choices that only some executors use."""

    workers: int | None = None
    devices: list[str] = field(default_factory=list)
    address: str | None = None
    out: Path = Path("runs")
    run_id: str = "run"
    slurm: dict[str, Any] = field(default_factory=dict)


class InlineExecutor:
    """Runs each cell in the driver's process; Ctrl-C reaches the cell in flight directly."""

    name = "inline"
    capacity = 1

    def __init__(self) -> None:
        self._cache = WorkerCache()
        self._queue: list[Cell] = []

    def submit(self, cell: Cell) -> None:
        self._queue.append(cell)

    def poll(self, timeout: float) -> list[Event]:
        events = [Event("done", cell, execute(cell, self._cache)) for cell in self._queue]
        self._queue.clear()
        return events

    def close(self, *, abort: bool = False) -> None:
        self._queue.clear()


def create(name: str, options: ExecutorOptions) -> Any:
    """The executor ``name`` configured by ``options``; a `UsageError` for unknown names or missing extras."""
    if options.workers is not None and options.workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {options.workers}")
    if name == "inline":
        if options.workers not in (None, 1) or options.devices:
            raise UsageError("--workers and --devices need --executor local (or ray/slurm)")
        return InlineExecutor()
    if name == "local":
        from bench.executors.local import LocalExecutor

        return LocalExecutor(workers=options.workers, devices=options.devices)
    if name == "ray":
        from bench.executors.rayexec import RayExecutor

        return RayExecutor(address=options.address, workers=options.workers)
    if name == "slurm":
        from bench.executors.slurm import SlurmExecutor

        return SlurmExecutor(out=options.out, tasks=options.workers, run_id=options.run_id, **options.slurm)
    raise UsageError(f"unknown executor {name!r}; choose from {', '.join(NAMES)}")
