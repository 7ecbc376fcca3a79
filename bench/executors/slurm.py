"""``--executor slurm``: the plan in shards, one Slurm job array through submitit (``pip install -e ".[slurm]"``).

Each array task runs its share of the cells into its own store shard, ``<out>/shards/<job>_<task>/``, so no
SQLite file is shared over NFS. The driver waits, copies each shard's rows and artifacts into ``<out>`` as
they appear, and stores the cells of a task that died as failed; if the driver goes away, ``bench merge``
combines the shards later. ``--slurm-cluster local`` (or ``debug``) runs the same array on this machine
through submitit's local executors.
"""

from __future__ import annotations

import re
import sqlite3
import time
from pathlib import Path
from typing import Any

from bench.errors import UsageError
from bench.executors import Event
from bench.execute import CellResult, WorkerCache, execute, failed_result, one_line
from bench.plan import Cell
from bench.store import DB_NAME, RESULT_COLUMNS, Store


def run_shard(cells: list[Cell], shards: str, index: int, run_id: str) -> int:
    """An array task: run ``cells`` into the shard store of this job; returns how many it computed."""
    import submitit

    from bench.record import record
    from bench.runner import environment

    env = submitit.JobEnvironment()
    name = shard_name(str(env.job_id), index)
    shard_run = f"{run_id}-{name}"
    cache, done = WorkerCache(), 0
    with Store(Path(shards) / name) as st:
        st.start_run(shard_run, command=f"slurm array task {name}", env_json=environment())
        for cell in cells:
            if st.claim(cell.key, keep_failed=False):
                record(st, execute(cell, cache), run_id=shard_run)
                done += 1
        st.finish_run(shard_run)
    return done


def shard_name(job_id: str, index: int) -> str:
    """``<job>_<task>``: Slurm array jobs already are; other clusters' job ids get the task index."""
    return job_id if re.fullmatch(r"\d+_\d+", job_id) else f"{job_id}_{index}"


class SlurmExecutor:
    """Collects the cells the driver submits, sends them as one job array, then follows the shards."""

    name = "slurm"
    capacity = 1 << 30

    def __init__(self, *, out: Path, tasks: int | None = None, run_id: str = "run", partition: str | None = None,
                 gpus_per_task: int | None = None, time_limit: str | None = None,
                 array_parallelism: int | None = None, cluster: str = "slurm") -> None:
        import submitit

        self._submitit = submitit
        self.out = Path(out)
        self.tasks = tasks or 4
        self.run_id = run_id
        self._executor = submitit.AutoExecutor(folder=self.out / "slurm" / "%j", cluster=cluster)
        params: dict[str, Any] = {"timeout_min": minutes(time_limit) if time_limit else 60}
        if cluster == "slurm":
            params.update(slurm_partition=partition, slurm_gpus_per_task=gpus_per_task,
                          slurm_array_parallelism=array_parallelism or self.tasks)
        self._executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
        self._pending: list[Cell] = []
        self._jobs: list[tuple[Any, Path, dict[str, Cell]]] = []

    def submit(self, cell: Cell) -> None:
        self._pending.append(cell)

    def poll(self, timeout: float) -> list[Event]:
        if self._pending:
            self._launch()
        deadline = time.monotonic() + timeout
        while True:
            events = self._collect()
            if events or not self._jobs or time.monotonic() >= deadline:
                return events
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def _launch(self) -> None:
        cells, self._pending = self._pending, []
        n = min(self.tasks, len(cells))
        chunks = [cells[i * len(cells) // n:(i + 1) * len(cells) // n] for i in range(n)]
        shards = str(self.out / "shards")
        try:
            jobs = self._executor.map_array(run_shard, chunks, [shards] * n, list(range(n)), [self.run_id] * n)
        except Exception as exc:  # noqa: BLE001 - sbatch errors come in many types
            raise UsageError(f"cannot submit the Slurm job array: {one_line(exc)}") from None
        for i, (job, chunk) in enumerate(zip(jobs, chunks)):
            self._jobs.append((job, self.out / "shards" / shard_name(str(job.job_id), i),
                               {c.key: c for c in chunk}))

    def _collect(self) -> list[Event]:
        events: list[Event] = []
        for entry in list(self._jobs):
            job, folder, waiting = entry
            finished = job.done()
            for row in _shard_rows(folder, waiting):
                cell = waiting.pop(row["key"])
                events.append(Event("done", cell, CellResult(cell.key, row), note=str(folder)))
            if finished:
                if waiting:
                    why = _job_error(job)
                    for cell in waiting.values():
                        events.append(Event("done", cell, failed_result(
                            cell, f"SlurmTaskFailed: task {folder.name} ended without this cell: {why}")))
                self._jobs.remove(entry)
        return events

    def close(self, *, abort: bool = False) -> None:
        if abort:
            for job, _, _ in self._jobs:
                job.cancel(check=False)
        self._jobs.clear()


def _shard_rows(folder: Path, keys: dict[str, Cell]) -> list[dict[str, Any]]:
    db = folder / DB_NAME
    if not keys or not db.is_file():
        return []
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            rows = conn.execute(f"SELECT {','.join(RESULT_COLUMNS)} FROM results").fetchall()
    except sqlite3.Error:
        return []
    return [dict(zip(RESULT_COLUMNS, r)) for r in rows if r[0] in keys]


def _job_error(job: Any) -> str:
    try:
        exc = job.exception()
    except Exception as err:  # noqa: BLE001 - submitit raises for unreadable job outputs
        return one_line(err)
    return one_line(exc) if exc is not None else f"state {job.state}"


def minutes(text: str) -> int:
    """``--slurm-time`` as whole minutes, in Slurm's formats: ``M``, ``M:S``, ``H:M:S``, ``D-H``, ``D-H:M``,
    ``D-H:M:S`` (seconds round up)."""
    days, dash, rest = text.strip().partition("-")
    if not dash:
        days, rest = "0", days
    if not days.isdigit() or not re.fullmatch(r"\d+(:\d+){0,2}", rest):
        raise UsageError(f"--slurm-time must be M, M:S, H:M:S, D-H, D-H:M or D-H:M:S, got {text!r}")
    parts = [int(p) for p in rest.split(":")]
    if dash:
        h, m, sec = (parts + [0, 0])[:3]
    elif len(parts) == 3:
        h, m, sec = parts
    else:
        h, (m, sec) = 0, (parts + [0])[:2]
    return int(days) * 1440 + h * 60 + m + (1 if sec else 0)
