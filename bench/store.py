"""The results store: SQLite (WAL) with one row per finished cell, committed the moment the cell ends.

Rows are keyed by the cell identity (method, version, params hash, noise + params, dataset, image, seed,
profile, crop, clip, sigma mode); a row is written in one transaction, so a killed process loses at most the
cell in flight. Concurrent runs coordinate through a ``claims`` table: a claim names its host and pid and
holds a lease that its owner renews (`bench.record.Heartbeat`); a claim whose lease ran out, or whose process died
on this host, is taken over. Figures' inputs (estimates, row means) live next to the database as ``.npz``
files written atomically before their row is committed; their paths derive from the cell key.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import socket
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from bench.errors import DataError, UsageError

DB_NAME = "results.sqlite"
#: 1: artifact paths derive from the full cell key; rows carry host and threads; claims carry a lease.
SCHEMA_VERSION = 1
#: Seconds a claim stays valid without a heartbeat; its owner renews it every quarter of that.
DEFAULT_LEASE_S = float(os.environ.get("HSIBENCH_CLAIM_LEASE", "300"))

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
    finished_at TEXT, host TEXT, threads INTEGER
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY, started_at TEXT, finished_at TEXT, command TEXT, profile TEXT, seed INTEGER,
    device TEXT, clip INTEGER, env_json TEXT
);
CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, pid INTEGER, host TEXT, claimed_at REAL, lease_s REAL);
"""

RESULT_COLUMNS = (
    "key", "run_id", "method", "method_version", "family", "params_json", "params_hash", "noise",
    "noise_params_json", "dataset", "image", "seed", "profile", "height", "width", "bands", "status", "error",
    "psnr", "ssim", "sam", "ergas", "metrics_json", "clip", "time_s", "peak_mem_bytes", "mem_kind", "device",
    "sigma_json", "info_json", "artifact", "finished_at", "host", "threads",
)
_RUN_COLUMNS = ("run_id", "started_at", "finished_at", "command", "profile", "seed", "device", "clip", "env_json")
_ADDED = {"results": ("host TEXT", "threads INTEGER"), "claims": ("lease_s REAL",)}
HOST = socket.gethostname()
# ".<name>.npz.<host>.<pid>.tmp" (schema 0 wrote ".<name>.npz.<pid>.tmp")
_TMP_NAME = re.compile(r"^\.(?P<name>.+\.npz)\.(?:(?P<host>.+)\.)?(?P<pid>\d+)\.tmp$")


class Store:
    """A results folder: ``results.sqlite`` plus ``artifacts/``; only the driver of a run writes it."""

    def __init__(self, root: str | os.PathLike[str], *, create: bool = True, lease_s: float | None = None) -> None:
        self.root = Path(root)
        self.path = self.root / DB_NAME
        self.lease_s = DEFAULT_LEASE_S if lease_s is None else float(lease_s)
        self.migration: dict[str, int] = {}
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
        self.sweep_temporary()

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                current = conn.execute("PRAGMA user_version").fetchone()[0]
                if current > SCHEMA_VERSION:
                    raise DataError(f"results store {self.path} has schema {current}, newer than this hsi-bench "
                                    f"({SCHEMA_VERSION}); upgrade hsi-bench to write to it")
                fresh = conn.execute("SELECT 1 FROM sqlite_master WHERE name='results'").fetchone() is None
                for stmt in filter(str.strip, _SCHEMA.split(";")):
                    conn.execute(stmt)
                if current < SCHEMA_VERSION and not fresh:
                    self.migration = _migrate(conn, self.root)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except sqlite3.DatabaseError as exc:
            if _is_full(exc):
                raise _disk_full(self.path) from None
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
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            if _is_full(exc):
                raise _disk_full(self.path) from None
            raise

    # -- cells -------------------------------------------------------------------------------------------
    def done_keys(self) -> set[str]:
        return {r[0] for r in self._conn.execute("SELECT key FROM results")}

    def has(self, key: str) -> bool:
        return self._conn.execute("SELECT 1 FROM results WHERE key=?", (key,)).fetchone() is not None

    def statuses(self, keys: list[str] | None = None) -> dict[str, str]:
        """``key -> status`` of stored rows (all of them, or those among ``keys``)."""
        rows = self._conn.execute("SELECT key, status FROM results").fetchall()
        if keys is None:
            return dict(rows)
        wanted = set(keys)
        return {k: s for k, s in rows if k in wanted}

    def errors(self, keys: list[str]) -> dict[str, str]:
        """``key -> error`` of the stored rows among ``keys``."""
        wanted = set(keys)
        return {k: e or "" for k, e in self._conn.execute("SELECT key, error FROM results") if k in wanted}

    def claim(self, key: str, *, keep_failed: bool = True, rerun: bool = False) -> bool:
        """Take the cell ``key`` for this process unless it is done or another process holds a live lease.

        A stored ``ok`` row counts as done; a ``failed`` one only with ``keep_failed``; ``rerun`` ignores
        stored rows. A claim is live while its lease runs and, on this host, while its process exists.
        """
        pid, now = os.getpid(), time.time()
        with self._tx() as c:
            row = c.execute("SELECT status FROM results WHERE key=?", (key,)).fetchone()
            if row and not rerun and (row[0] == "ok" or keep_failed):
                return False
            held = c.execute("SELECT pid, host, claimed_at, lease_s FROM claims WHERE key=?", (key,)).fetchone()
            if held and (held[0], held[1]) != (pid, HOST) and _live_claim(*held, now=now):
                return False
            c.execute("INSERT OR REPLACE INTO claims VALUES (?,?,?,?,?)", (key, pid, HOST, now, self.lease_s))
        return True

    def holder(self, key: str) -> str | None:
        """``host:pid`` of a live claim on ``key`` by another process, else None."""
        held = self._conn.execute("SELECT pid, host, claimed_at, lease_s FROM claims WHERE key=?", (key,)).fetchone()
        if held and (held[0], held[1]) != (os.getpid(), HOST) and _live_claim(*held, now=time.time()):
            return f"{held[1]}:{held[0]}"
        return None

    def release(self, key: str | None = None) -> None:
        """Drop this process's claim on ``key`` (all of its claims when ``key`` is None)."""
        with self._tx() as c:
            if key is None:
                c.execute("DELETE FROM claims WHERE pid=? AND host=?", (os.getpid(), HOST))
            else:
                c.execute("DELETE FROM claims WHERE key=? AND pid=? AND host=?", (key, os.getpid(), HOST))

    def put(self, row: dict[str, Any], *, replace: bool = False) -> None:
        """Commit one finished cell (and drop its claim) in a single transaction."""
        self.put_many([row], replace=replace)

    def put_many(self, rows: list[dict[str, Any]], *, replace: bool = False) -> None:
        """Commit ``rows`` (and drop their claims) in one transaction."""
        for row in rows:
            missing = {"key", "method", "status"} - set(row)
            if missing:
                raise ValueError(f"result row lacks {sorted(missing)}")
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        sql = f"{verb} INTO results ({','.join(RESULT_COLUMNS)}) VALUES ({','.join('?' * len(RESULT_COLUMNS))})"
        with self._tx() as c:
            for row in rows:
                c.execute(sql, [_to_sql(row.get(k)) for k in RESULT_COLUMNS])
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

    def put_runs(self, rows: list[dict[str, Any]]) -> None:
        """Add or update ``runs`` rows taken from another store (a shard, a store being merged)."""
        with self._tx() as c:
            for row in rows:
                c.execute(f"INSERT OR REPLACE INTO runs ({','.join(_RUN_COLUMNS)}) VALUES "
                          f"({','.join('?' * len(_RUN_COLUMNS))})", [row.get(k) for k in _RUN_COLUMNS])

    def finish_run(self, run_id: str) -> None:
        with self._tx() as c:
            c.execute("UPDATE runs SET finished_at=? WHERE run_id=?", (_now(), run_id))

    # -- artifacts ---------------------------------------------------------------------------------------
    def save_artifact(self, relpath: str, **arrays: np.ndarray) -> str:
        """Write ``artifacts/<relpath>.npz`` atomically; returns the path relative to the store root.

        The temporary file is removed when the write fails; a full disk is reported as such, with the path.
        """
        rel = Path("artifacts") / f"{relpath}.npz"
        dest = self.root / rel
        tmp = dest.with_name(f".{dest.name}.{HOST}.{os.getpid()}.tmp")
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, **arrays)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            if _is_full(exc):
                raise _disk_full(dest) from None
            raise DataError(f"cannot write artifact {dest}: {exc.strerror or exc}") from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return rel.as_posix()

    def copy_artifacts(self, source: str | os.PathLike[str], artifact: str) -> None:
        """Copy a row's estimate ``artifact`` from the store at ``source``, with its noisy and clean inputs.

        The estimate replaces what is here (its path derives from the row's key); the inputs, shared by
        rows of the same input and identical for all of them, are copied only when absent.
        """
        src = Path(source) / artifact
        for path, always in ((src, True), (src.parent / "noisy.npz", False), (src.parent.parent / "clean.npz", False)):
            rel = path.relative_to(source)
            dest = self.root / rel
            if not path.is_file() or (dest.exists() and not always):
                continue
            tmp = dest.with_name(f".{dest.name}.{HOST}.{os.getpid()}.tmp")
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, tmp)
                os.replace(tmp, dest)
            except OSError as exc:
                tmp.unlink(missing_ok=True)
                if _is_full(exc):
                    raise _disk_full(dest) from None
                raise DataError(f"cannot copy artifact {path} to {dest}: {exc.strerror or exc}") from None

    def has_artifact(self, relpath: str) -> bool:
        return (self.root / "artifacts" / f"{relpath}.npz").is_file()

    def sweep_temporary(self) -> int:
        """Remove temporary artifact files left by dead processes of this host; returns how many."""
        removed = 0
        folder = self.root / "artifacts"
        if not folder.is_dir():
            return 0
        for path in folder.rglob(".*.tmp"):
            match = _TMP_NAME.match(path.name)
            if match and (match["host"] or HOST) == HOST and not _alive(int(match["pid"])):
                path.unlink(missing_ok=True)
                removed += 1
        return removed


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


def read_runs(root: str | os.PathLike[str], run_id: str) -> list[dict[str, Any]]:
    """The ``runs`` row of ``run_id`` in the store at ``root``, read without taking a write lock."""
    try:
        with sqlite3.connect(f"file:{Path(root) / DB_NAME}?mode=ro", uri=True, timeout=30) as conn:
            cur = conn.execute(f"SELECT {','.join(_RUN_COLUMNS)} FROM runs WHERE run_id=?", (run_id,))
            return [dict(zip(_RUN_COLUMNS, r)) for r in cur.fetchall()]
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read results store {root}: {exc}") from None


def load_artifact(store_root: str | os.PathLike[str], relpath: str) -> dict[str, np.ndarray]:
    with np.load(Path(store_root) / relpath) as data:
        return {k: data[k] for k in data.files}


def _migrate(conn: sqlite3.Connection, root: Path) -> dict[str, int]:
    """Bring a schema-0 store up to date inside the caller's transaction.

    Schema 0 derived artifact paths from method, noise, seed, dataset and image only, so rows that differ in
    crop, clip, sigma mode or profile shared one file and a later run overwrote an earlier row's figure data.
    Rows keep their files where the file still fits them (shape, and per-band PSNR against the row's PSNR,
    for the estimate, its noisy input and its clean cube); other rows lose the artifact, never the row.
    New rows get key-derived paths, which never meet schema-0 paths.
    """
    for table, cols in _ADDED.items():
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        for col in cols:
            if col.split()[0] not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {col}")
    kept = dropped = 0
    rows = conn.execute("SELECT key, artifact, height, width, bands, psnr FROM results "
                        "WHERE artifact IS NOT NULL AND artifact != ''").fetchall()
    for key, artifact, h, w, b, psnr in rows:
        if _artifact_fits(root / artifact, (h, w, b), psnr):
            kept += 1
        else:
            conn.execute("UPDATE results SET artifact=NULL WHERE key=?", (key,))
            dropped += 1
    return {"kept": kept, "dropped": dropped}


def _artifact_fits(est: Path, shape: tuple[Any, Any, Any], psnr: float | None) -> bool:
    h, w, b = shape
    for path in (est, est.parent / "noisy.npz", est.parent.parent / "clean.npz"):
        if not path.is_file():
            if path == est:
                return False
            continue
        try:
            with np.load(path) as data:
                if data["rowmean"].shape != (h, b) or data["colmean"].shape != (w, b):
                    return False
                if "cube" in data.files and data["cube"].shape != (h, w, b):
                    return False
                if path == est and psnr is not None and "psnr_band" in data.files:
                    if abs(float(np.mean(data["psnr_band"].astype(np.float64))) - float(psnr)) > 1e-3:
                        return False
        except (OSError, ValueError, KeyError):
            return False
    return True


def _live_claim(pid: int, host: str, claimed_at: float | None, lease_s: float | None, *, now: float) -> bool:
    if host == HOST and not _alive(int(pid)):
        return False
    return claimed_at is not None and now <= claimed_at + (lease_s or DEFAULT_LEASE_S)


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


def _is_full(exc: BaseException) -> bool:
    """ENOSPC as the OS reports it, or as SQLite words it ("database or disk is full")."""
    return getattr(exc, "errno", None) == errno.ENOSPC or "disk is full" in str(exc).lower()


def _disk_full(path: Path | str) -> DataError:
    return DataError(f"disk full (ENOSPC) while writing {path}; free space and rerun (finished cells are kept)")
