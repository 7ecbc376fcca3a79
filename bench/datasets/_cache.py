"""Checksummed, atomically written .npy cache for generated cubes, and small file helpers."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def cached_array(path: Path, make: Callable[[], np.ndarray]) -> np.ndarray:
    """Load ``path`` if its bytes match the sha256 recorded beside it, else ``make()`` it and cache it.

    The checksum file (``<name>.sha256``) is written after the array, so a crash between the two
    writes, a truncated file or an edited one all lead to regeneration rather than a wrong cube.
    """
    record = path.with_name(path.name + ".sha256")
    if path.is_file() and record.is_file():
        data = path.read_bytes()
        if sha256_bytes(data) == record.read_text().strip():
            return np.load(io.BytesIO(data), allow_pickle=False)
    array = make()
    data = npy_bytes(array)
    atomic_write(path, data)
    atomic_write(record, (sha256_bytes(data) + "\n").encode())
    return array
