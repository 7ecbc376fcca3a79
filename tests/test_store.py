"""The SQLite results store: rows, claims, artifacts and loading."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import numpy as np
import pytest

from bench import store as store_mod
from bench.errors import DataError, UsageError
from bench.store import Store


def _row(key: str, **kw: object) -> dict:
    base = dict(key=key, method="noisy", method_version="1", params_json={}, params_hash="h", noise="corr",
                noise_params_json={"beta": 23.08}, dataset="d", image="i", seed=0, profile="smoke", status="ok",
                psnr=30.0, info_json={"trace": [1.0, 2.0]}, finished_at="t")
    base.update(kw)
    return base


def test_put_and_load_roundtrip(tmp_path) -> None:
    with Store(tmp_path) as s:
        s.put(_row("a"))
        s.put(_row("a", psnr=99.0))  # ignored: first write wins unless replace
        s.put(_row("b", status="failed", psnr=None, error="boom"))
        assert s.done_keys() == {"a", "b"}
    df = store_mod.load(tmp_path)
    assert sorted(df.key) == ["a", "b"]
    assert float(df.set_index("key").loc["a", "psnr"]) == 30.0
    assert df.set_index("key").loc["a", "info"] == {"trace": [1.0, 2.0]}


def test_replace_overwrites(tmp_path) -> None:
    with Store(tmp_path) as s:
        s.put(_row("a"))
        s.put(_row("a", psnr=31.0), replace=True)
    assert float(store_mod.load(tmp_path).psnr.iloc[0]) == 31.0


def test_claims_block_live_processes_and_expire_with_them(tmp_path) -> None:
    with Store(tmp_path) as s:
        assert s.claim("k")
        other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
        try:
            s._conn.execute("UPDATE claims SET pid=? WHERE key='k'", (other.pid,))
            assert not s.claim("k")
        finally:
            other.kill()
            other.wait()
        assert s.claim("k")
        s.put(_row("k"))
        assert not s.claim("k")


def test_artifacts_are_atomic_npz(tmp_path) -> None:
    with Store(tmp_path) as s:
        rel = s.save_artifact("d/i/x", cube=np.ones((2, 2, 3), np.float16))
    assert rel == "artifacts/d/i/x.npz"
    assert store_mod.load_artifact(tmp_path, rel)["cube"].shape == (2, 2, 3)
    assert not [p for p in (tmp_path / "artifacts/d/i").iterdir() if p.name.endswith(".tmp")]


def test_missing_store_is_a_usage_error(tmp_path) -> None:
    with pytest.raises(UsageError, match="no results store"):
        store_mod.load(tmp_path / "nope")


def test_corrupt_store_is_a_data_error(tmp_path) -> None:
    (tmp_path / "results.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataError, match="not a usable SQLite database|cannot read"):
        Store(tmp_path)


def test_unwritable_folder_is_a_usage_error(tmp_path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(UsageError, match="cannot write to output folder"):
        Store(blocker / "sub")


def test_wal_mode(tmp_path) -> None:
    Store(tmp_path).close()
    with sqlite3.connect(tmp_path / "results.sqlite") as c:
        assert c.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
