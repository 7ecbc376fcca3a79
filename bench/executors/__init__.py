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

import importlib
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


#: The optional extra each executor imports, and how to install it.
_EXTRAS = {"ray": ("ray", '--executor ray needs Ray: pip install -e ".[ray]" (on the driver and every node of '
                          'the cluster)'),
           "slurm": ("submitit", '--executor slurm needs submitit: pip install -e ".[slurm]"')}


def check(name: str, options: ExecutorOptions) -> None:
    """Refuse, before anything is planned or written, an unknown executor, a missing extra, or an option
    that the chosen executor would silently ignore."""
    if name not in NAMES:
        raise UsageError(f"unknown executor {name!r}; choose from {', '.join(NAMES)}")
    if options.workers is not None and options.workers < 1:
        raise UsageError(f"--workers must be a positive integer, got {options.workers}")
    if name == "inline" and options.workers not in (None, 1):
        raise UsageError("--workers needs --executor local (or ray/slurm)")
    if options.devices and name != "local":
        raise UsageError("--devices needs --executor local")
    if options.address and name != "ray":
        raise UsageError("--address needs --executor ray")
    if name != "slurm" and any(v is not None for k, v in options.slurm.items() if k != "cluster"):
        raise UsageError("--slurm-* options need --executor slurm")
    if name in _EXTRAS:
        module, message = _EXTRAS[name]
        try:
            importlib.import_module(module)
        except ImportError:
            raise UsageError(message) from None
    if name == "slurm" and options.slurm.get("time_limit"):
        from bench.executors.slurm import minutes

        minutes(options.slurm["time_limit"])


def create(name: str, options: ExecutorOptions) -> Any:
    """The executor ``name`` configured by ``options`` (checked with `check`)."""
    check(name, options)
    if name == "inline":
        return InlineExecutor()
    if name == "local":
        from bench.executors.local import LocalExecutor

        return LocalExecutor(workers=options.workers, devices=options.devices)
    if name == "ray":
        from bench.executors.rayexec import RayExecutor

        return RayExecutor(address=options.address, workers=options.workers)
    from bench.executors.slurm import SlurmExecutor

    return SlurmExecutor(out=options.out, tasks=options.workers, run_id=options.run_id, **options.slurm)
