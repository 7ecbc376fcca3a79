"""``--executor ray``: one Ray task per cell on a Ray cluster (``pip install -e ".[ray]"``).

``--address auto`` joins the cluster this machine belongs to, ``ray://host:10001`` a remote one through Ray
Client, and no address starts a local cluster (``--workers`` CPUs). Learned methods ask for one GPU when the
cluster has GPUs, classical ones for none. A task whose worker or node dies is resubmitted once by the driver
(not by Ray's own ``max_retries``, so the retry shows in the progress line and the summary as for ``local``),
then stored as failed with the reason.
Results return to the driver, which records them, so nothing assumes a filesystem shared with the workers;
datasets are read on the workers from ``--data-root``, which must exist there.
"""

from __future__ import annotations

import os
from typing import Any

from bench.errors import UsageError
from bench.executors import Event
from bench.execute import CellResult, WorkerCache, execute, failed_result, one_line
from bench.plan import Cell

_CACHE: WorkerCache | None = None
#: Ray's errors for a task whose process or node went away (SIGKILL, OOM killer, lost node), not a cell's own.
_LOST = ("WorkerCrashedError", "NodeDiedError", "LocalRayletDiedError", "OutOfMemoryError", "ObjectLostError")


def _run_cell(cell: Cell) -> CellResult:
    """The task body: execute with this worker process's cache, so loaded methods and images are reused."""
    global _CACHE
    if _CACHE is None:
        _CACHE = WorkerCache()
    return execute(cell, _CACHE)


class RayExecutor:
    """Submits cells as Ray tasks, at most ``capacity`` at a time, and collects their results."""

    name = "ray"

    def __init__(self, *, address: str | None = None, workers: int | None = None) -> None:
        import ray

        self._ray = ray
        self._started = not ray.is_initialized()
        if self._started:
            env = {k: v for k, v in os.environ.items() if k.startswith("HSIBENCH_") or k == "PYTHONPATH"}
            try:
                ray.init(address=None if address in (None, "", "none") else address,
                         num_cpus=workers if address in (None, "", "none") else None,
                         include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": env})
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(f"cannot connect to the Ray cluster at {address}: {one_line(exc)}") from None
        resources = ray.cluster_resources()
        self._gpus = resources.get("GPU", 0) > 0
        self.capacity = max(2, 2 * int(resources.get("CPU", 1)))
        self._task = ray.remote(max_retries=0)(_run_cell)
        self._refs: dict[Any, Cell] = {}
        self._retried: set[str] = set()
        self._lost = tuple(getattr(ray.exceptions, n) for n in _LOST if hasattr(ray.exceptions, n))

    def submit(self, cell: Cell) -> None:
        gpus = 1 if cell.trainable and self._gpus else 0
        self._refs[self._task.options(num_gpus=gpus).remote(cell)] = cell

    def poll(self, timeout: float) -> list[Event]:
        if not self._refs:
            return []
        ready, rest = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        if ready and rest:
            ready += self._ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        events = []
        for ref in ready:
            cell = self._refs.pop(ref)
            try:
                result = self._ray.get(ref)
            except self._ray.exceptions.RayError as exc:
                if isinstance(exc, self._lost) and cell.key not in self._retried:
                    self._retried.add(cell.key)
                    self.submit(cell)
                    events.append(Event("retried", cell, note=f"worker lost ({type(exc).__name__}), resubmitted"))
                    continue
                result = failed_result(cell, f"RayTaskFailed: {one_line(exc)}")
            events.append(Event("done", cell, result))
        return events

    def drop(self, cell: Cell) -> None:
        """Cancel a resubmitted cell the driver no longer wants (it is stopping)."""
        for ref in [r for r, c in self._refs.items() if c is cell]:
            self._ray.cancel(ref, force=True)
            del self._refs[ref]

    def close(self, *, abort: bool = False) -> None:
        if abort:
            for ref in self._refs:
                self._ray.cancel(ref, force=True)
        self._refs.clear()
        if self._started:
            self._ray.shutdown()
