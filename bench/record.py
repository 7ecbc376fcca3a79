"""Record: the only writer of a results store. A result's artifacts are written, then its row, atomically."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from bench.execute import CellResult
from bench.store import HOST, Store, read_runs


def record(store: Store, result: CellResult, *, run_id: str, source: str | os.PathLike[str] | None = None) -> None:
    """Write ``result`` into ``store``: its estimate artifact (replacing), its inputs (when absent), its row.

    ``source`` is a store whose artifact files the result's row points at (a shard); they are copied.
    """
    row = dict(result.row)
    row["run_id"] = row.get("run_id") or run_id
    estimate = row.get("artifact")
    for rel, arrays in result.artifacts.items():
        if f"artifacts/{rel}.npz" == estimate or not store.has_artifact(rel):
            store.save_artifact(rel, **arrays)
    if source is not None:
        if estimate:
            store.copy_artifacts(source, str(estimate))
        store.put_runs(read_runs(source, row["run_id"]))
    store.put(row, replace=True)


class Heartbeat:
    """Renews the leases of this process's claims every ``lease / 4`` seconds from a background thread."""

    def __init__(self, path: str | os.PathLike[str], lease_s: float) -> None:
        self._path = Path(path)
        self._interval = max(0.05, lease_s / 4)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="claim-heartbeat", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def _loop(self) -> None:
        import time

        conn = sqlite3.connect(self._path, timeout=30, isolation_level=None)
        try:
            while not self._stop.wait(self._interval):
                try:
                    conn.execute("UPDATE claims SET claimed_at=? WHERE pid=? AND host=?",
                                 (time.time(), os.getpid(), HOST))
                except sqlite3.Error:
                    continue
        finally:
            conn.close()

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
