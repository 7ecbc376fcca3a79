"""Atomic file writes: a result file is either complete or absent, never half-written."""

from __future__ import annotations

import errno
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from bench.errors import BenchError, UsageError

_REFUSED = (errno.EACCES, errno.EPERM, errno.EROFS, errno.EISDIR, errno.ENOTDIR)


def writable_folder(folder: str | os.PathLike[str], what: str = "folder") -> Path:
    """Create ``folder`` if needed; a one-line `UsageError` naming ``what`` when it cannot be created or written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {what} {folder}: {exc.strerror or exc}") from None
    if not os.access(folder, os.W_OK):
        raise UsageError(f"cannot write to {what} {folder}: permission denied")
    return folder


def write_failure(path: str | os.PathLike[str], exc: OSError) -> BenchError:
    """A one-line error for a failed write: a path that refuses writing is a usage error, anything else
    (a full disk, an I/O error) a failure."""
    kind = UsageError if exc.errno in _REFUSED else BenchError
    return kind(f"cannot write {path}: {exc.strerror or exc}")


@contextmanager
def atomic_target(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest``, on error it is removed."""
    dest = Path(dest)
    if dest.is_dir():
        raise UsageError(f"cannot write {dest}: it is a directory; give a file name")
    writable_folder(dest.parent)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text_atomic(dest: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``dest`` through `atomic_target`, flushed to disk before the rename."""
    try:
        with atomic_target(dest) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        raise UsageError(f"cannot write {dest}: {exc.strerror or exc}") from None
