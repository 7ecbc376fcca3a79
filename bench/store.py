"""The results store: SQLite (WAL) with one row per finished cell, committed the moment the cell ends.

Rows are keyed by the cell identity (method, version, params hash, noise + params, dataset, image, seed,
profile); a row is written in one transaction, so a killed process loses at most the cell in flight.
Concurrent runs coordinate through a ``claims`` table: a cell claimed by a live process is skipped, a claim
left by a dead process is taken over. Figures' inputs (estimates, row means) live next to the database as
``.npz`` files written atomically before their row is committed.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bench.errors import DataError, UsageError

DB_NAME = "results.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY,
    run_id TEXT,
    method TEXT NOT NULL, method_version TEXT NOT NULL, family TEXT,
    params_json TEXT NOT NULL, params_hash TEXT NOT NULL,
    noise TEXT NOT NULL, noise_params_json TEXT NOT NULL,
    dataset TEXT NOT NULL, image TEXT NOT NULL, seed INTEGER NOT NULL, profile TEXT NOT NULL,
    height INTEGER, width INTEGER, bands INTEGER,
    status TEXT NOT NULL, error TEXT,
    psnr REAL, ssim REAL, sam REAL, ergas REAL, metrics_json TEXT, clip INTEGER,
    time_s REAL, peak_mem_bytes INTEGER, mem_kind TEXT, device TEXT,
    sigma_json TEXT, info_json TEXT, artifact TEXT,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT, command TEXT, profile TEXT, seed INTEGER,
    device TEXT, clip INTEGER, env_json TEXT
);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, pid INTEGER, host TEXT, claimed_at REAL);
"""

RESULT_COLUMNS = (
    "key", "run_id", "method", "method_version", "family", "params_json", "params_hash", "noise",
    "noise_params_json", "dataset", "image", "seed", "profile", "height", "width", "bands", "status", "error",
    "psnr", "ssim", "sam", "ergas", "metrics_json", "clip", "time_s", "peak_mem_bytes", "mem_kind", "device",
    "sigma_json", "info_json", "artifact", "finished_at",
)


class Store:
    """A results folder: ``results.sqlite`` plus ``artifacts/``."""

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True) -> None:
        self.root = Path(root)
        self.path = self.root / DB_NAME
        if not create and not self.path.exists():
            raise UsageError(f"no results store at {self.path} (run `bench run --out {self.root}` first)")
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                probe = self.root / f".write-probe-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise UsageError(f"cannot write to output folder {self.root}: {exc.strerror or exc}") from None
        self._conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise DataError(f"results store {self.path} is not a usable SQLite database: {exc}") from None
        return conn

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- cells -------------------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT key FROM results")}

    def has(self, key: str) -> bool:
        return self._conn.execute("SELECT 1 FROM results WHERE key=?", (key,)).fetchone() is not None

    def claim(self, key: str) -> bool:
        """Take the cell ``key`` for this process unless it is finished or a live process holds it."""
        pid, host = os.getpid(), socket.gethostname()
        with self._tx() as c:
            if c.execute("SELECT 1 FROM results WHERE key=?", (key,)).fetchone():
                return False
            row = c.execute("SELECT pid, host FROM claims WHERE key=?", (key,)).fetchone()
            if row and (row[0], row[1]) != (pid, host) and row[1] == host and _alive(row[0]):
                return False
            c.execute("INSERT OR REPLACE INTO claims VALUES (?,?,?,?)", (key, pid, host, time.time()))
        return True

    def release(self, key: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM claims WHERE key=? AND pid=?", (key, os.getpid()))

    def put(self, row: dict[str, Any], *, replace: bool = False) -> None:
        """Commit one finished cell (and drop its claim) in a single transaction."""
        missing = {"key", "method", "status"} - set(row)
        if missing:
            raise ValueError(f"result row lacks {sorted(missing)}")
        values = {c: _to_sql(row.get(c)) for c in RESULT_COLUMNS}
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self._tx() as c:
            c.execute(f"{verb} INTO results ({','.join(RESULT_COLUMNS)}) VALUES "
                      f"({','.join('?' * len(RESULT_COLUMNS))})", [values[k] for k in RESULT_COLUMNS])
            c.execute("DELETE FROM claims WHERE key=?", (row["key"],))

    def delete(self, key: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM results WHERE key=?", (key,))

    # -- runs --------------------------------------------------------------------------------------------
    def start_run(self, run_id: str, **fields: Any) -> None:
        cols = ["run_id", "started_at", *fields]
        vals = [run_id, _now(), *(_to_sql(v) for v in fields.values())]
        with self._tx() as c:
            c.execute(f"INSERT OR REPLACE INTO runs ({','.join(cols)}) VALUES ({','.join('?' * len(cols))})", vals)

    def finish_run(self, run_id: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET finished_at=? WHERE run_id=?", (_now(), run_id))

    # -- artifacts ---------------------------------------------------------------------------------------
    def save_artifact(self, relpath: str, **arrays: np.ndarray) -> str:
        """Write ``artifacts/<relpath>.npz`` atomically; returns the path relative to the store root."""
        rel = Path("artifacts") / f"{relpath}.npz"
        dest = self.root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, dest)
        return rel.as_posix()


def load(path: str | os.PathLike[str], *, table: str = "results") -> "pd.DataFrame":  # noqa: F821
    """Read a store (folder or ``results.sqlite``) into a DataFrame; JSON columns are decoded."""
    import pandas as pd

    p = Path(path)
    db = p / DB_NAME if p.is_dir() else p
    if not db.exists():
        raise UsageError(f"no results store at {db}")
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            df = pd.read_sql_query(f"SELECT * FROM {table}", conn)
    except (sqlite3.DatabaseError, pd.errors.DatabaseError) as exc:
        raise DataError(f"cannot read results store {db}: {exc}") from None
    for col in [c for c in df.columns if c.endswith("_json")]:
        df[col[:-5]] = df[col].map(lambda s: json.loads(s) if isinstance(s, str) and s else None)
    return df


def load_artifact(store_root: str | os.PathLike[str], relpath: str) -> dict[str, np.ndarray]:
    with np.load(Path(store_root) / relpath) as data:
        return {k: data[k] for k in data.files}


def _to_sql(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=_json_default, sort_keys=True)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bool):
        return int(value)
    return value


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    return str(obj)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
