"""Store integrity and early usage errors: artifact paths, claim leases, full disks, failed cells, validation."""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bench import cli, profiles, store
from bench.errors import DataError
from bench.store import Store

HOST = socket.gethostname()


def _run(cubes: Path, out: Path, *extra: str, methods: str = "noisy", noise: str = "noniid-55,corr") -> list[str]:
    return ["run", "--methods", methods, "--noise", noise, "--datasets", f"npy:{cubes}", "--profile", "smoke",
            "--crop", "24", "--images", "3", "--out", str(out), *extra]


def _with(args: list[str], flag: str, value: str) -> list[str]:
    args = list(args)
    args[args.index(flag) + 1] = value
    return args


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# -- artifacts ------------------------------------------------------------------------------------------

def test_rows_with_different_crops_or_clip_never_share_an_artifact(cubes: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    base = _run(cubes, out, noise="corr")
    for args in (base, _with(base, "--crop", "16"), [*base, "--clip"], [*base, "--sigma", "estimate"]):
        assert cli.main(args) == 0
    df = store.load(out)
    assert len(df) == 12 and df.artifact.is_unique
    for row in df.itertuples():
        est = out / row.artifact
        data = store.load_artifact(out, row.artifact)
        assert abs(float(data["psnr_band"].astype(np.float64).mean()) - row.psnr) < 1e-4, row.artifact
        for path in (est.parent / "noisy.npz", est.parent.parent / "clean.npz"):
            assert store.load_artifact(out, path.relative_to(out))["rowmean"].shape == (row.height, row.bands)


def test_schema0_store_keeps_fitting_artifacts_and_drops_overwritten_ones(tmp_path: Path) -> None:
    with Store(tmp_path) as st:
        rel = st.save_artifact("d/i/corr/m-h", rowmean=np.zeros((4, 3), np.float32),
                               colmean=np.zeros((4, 3), np.float32), psnr_band=np.full(3, 31.0, np.float32))
        for key, psnr in (("a", 30.0), ("b", 31.0)):
            st.put({"key": key, "method": "m", "method_version": "1", "params_json": {}, "params_hash": "h",
                    "noise": "corr", "noise_params_json": {}, "dataset": "d", "image": "i", "seed": 0,
                    "profile": "smoke", "status": "ok", "psnr": psnr, "height": 4, "width": 4, "bands": 3,
                    "artifact": rel})
    with sqlite3.connect(tmp_path / "results.sqlite") as c:  # what a schema-0 store looked like
        for table, col in (("results", "host"), ("results", "threads"), ("claims", "lease_s")):
            c.execute(f"ALTER TABLE {table} DROP COLUMN {col}")
        c.execute("PRAGMA user_version=0")
    with Store(tmp_path) as st:
        assert st.migration == {"kept": 1, "dropped": 1}
    df = store.load(tmp_path).set_index("key")
    assert df.loc["b", "artifact"] == rel and pd.isna(df.loc["a", "artifact"])
    assert len(df) == 2, "rows are never lost, only figure data that no longer fits them"
    with sqlite3.connect(tmp_path / "results.sqlite") as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == store.SCHEMA_VERSION


# -- claims ---------------------------------------------------------------------------------------------

def test_stale_or_foreign_claims_expire_with_their_lease(tmp_path: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with Store(tmp_path) as st:
            old = time.time() - 3600
            for key, pid, host, at in (("stale-live-pid", live.pid, HOST, old), ("fresh-live-pid", live.pid, HOST,
                                        time.time()), ("hung-elsewhere", 1, "elsewhere", old),
                                       ("fresh-elsewhere", 1, "elsewhere", time.time())):
                st._conn.execute("INSERT INTO claims VALUES (?,?,?,?,?)", (key, pid, host, at, 60.0))
            assert st.claim("stale-live-pid"), "a reused pid or a hung process does not hold a cell forever"
            assert st.claim("hung-elsewhere")
            assert not st.claim("fresh-live-pid") and not st.claim("fresh-elsewhere")
            assert st.holder("fresh-elsewhere") == "elsewhere:1"
    finally:
        live.kill()
        live.wait()


def test_heartbeat_renews_this_process_claims(tmp_path: Path) -> None:
    from bench.record import Heartbeat

    with Store(tmp_path, lease_s=0.4) as st:
        assert st.claim("k")
        first = st._conn.execute("SELECT claimed_at FROM claims").fetchone()[0]
        with Heartbeat(st.path, 0.4):
            time.sleep(0.6)
        assert st._conn.execute("SELECT claimed_at FROM claims").fetchone()[0] > first


def test_summary_counts_rows_not_claims(cubes: Path, tmp_path: Path, capsys) -> None:
    from bench import runner

    cfg = runner.RunConfig(methods=["noisy"], noises=["noniid-55", "corr"], datasets=[f"npy:{cubes}"],
                           profile=profiles.get("smoke"), out=tmp_path / "r", crop=24, images=3)
    key = runner.make_plan(cfg)[0].key
    with Store(cfg.out) as st:
        st._conn.execute("INSERT INTO claims VALUES (?,?,?,?,?)", (key, 1, "elsewhere", time.time(), 300.0))
    summary = runner.run(cfg)
    assert summary.done == 5 and summary.skipped == 0 and len(summary.busy) == 1
    assert len(store.load(cfg.out)) == 5


# -- full disk and temporary files ----------------------------------------------------------------------

def _full_disk(monkeypatch) -> None:
    def savez(fh, **arrays):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.np, "savez_compressed", savez)


def test_full_disk_names_enospc_and_leaves_no_temporary_file(tmp_path: Path, monkeypatch) -> None:
    _full_disk(monkeypatch)
    with Store(tmp_path) as st, pytest.raises(DataError, match=r"disk full \(ENOSPC\) while writing .*x\.npz"):
        st.save_artifact("d/i/x", a=np.ones(3))
    assert not list(tmp_path.rglob("*.tmp"))


def test_full_database_disk_is_reported_as_enospc(tmp_path: Path) -> None:
    class _Full:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self._conn = conn

        def execute(self, sql: str, *args: object):
            if sql.startswith("INSERT"):
                raise sqlite3.OperationalError("database or disk is full")
            return self._conn.execute(sql, *args)

        def __getattr__(self, name: str):
            return getattr(self._conn, name)

    with Store(tmp_path) as st:
        st._conn = _Full(st._conn)  # type: ignore[assignment]
        with pytest.raises(DataError, match=r"ENOSPC.*results\.sqlite"):
            st.put({"key": "k", "method": "m", "status": "ok"})


def test_full_disk_while_opening_or_migrating_the_store_is_reported_as_enospc(tmp_path: Path, monkeypatch) -> None:
    import bench.store as store_mod

    real = sqlite3.connect

    class _Full:
        def __init__(self, conn: sqlite3.Connection) -> None:
            self._conn = conn

        def execute(self, sql: str, *args: object):
            if sql.lstrip().startswith("CREATE"):
                raise sqlite3.OperationalError("database or disk is full")
            return self._conn.execute(sql, *args)

        def __getattr__(self, name: str):
            return getattr(self._conn, name)

    monkeypatch.setattr(store_mod.sqlite3, "connect", lambda *a, **k: _Full(real(*a, **k)))
    with pytest.raises(DataError, match=r"^disk full \(ENOSPC\) while writing .*results\.sqlite"):
        Store(tmp_path)


def test_run_on_a_full_disk_exits_1_naming_enospc(cubes: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    _full_disk(monkeypatch)
    out = tmp_path / "r"
    assert cli.main(_run(cubes, out)) == 1
    err = capsys.readouterr().err
    assert err.startswith("bench: error: disk full (ENOSPC) while writing") and "Traceback" not in err
    assert not list(out.rglob("*.tmp"))
    with sqlite3.connect(out / "results.sqlite") as c:
        assert c.execute("SELECT count(*) FROM claims").fetchone()[0] == 0


def test_orphaned_temporary_files_are_swept_at_start(tmp_path: Path) -> None:
    folder = tmp_path / "artifacts" / "d"
    folder.mkdir(parents=True)
    dead = _dead_pid()
    orphans = [folder / f".x.npz.{HOST}.{dead}.tmp", folder / f".y.npz.{dead}.tmp"]
    alive = [folder / f".z.npz.{HOST}.{os.getpid()}.tmp", folder / f".w.npz.elsewhere.{dead}.tmp"]
    for p in orphans + alive:
        p.write_bytes(b"x")
    Store(tmp_path).close()
    assert [p.exists() for p in orphans] == [False, False]
    assert [p.exists() for p in alive] == [True, True], "a live writer's or another host's file is left alone"


# -- failed cells -----------------------------------------------------------------------------------------

def test_failed_cells_are_retried_on_rerun_unless_keep_failed(cubes: Path, tmp_path: Path, test_methods,
                                                              monkeypatch, capsys) -> None:
    out = tmp_path / "r"
    args = _run(cubes, out, methods="test.broken")
    assert cli.main(args) == 1
    capsys.readouterr()
    assert cli.main([*args, "--keep-failed"]) == 1, "kept failed rows still count as failed"
    err = capsys.readouterr().err
    assert "0 cell(s) run, 0 already in" in err and "6 failed" in err
    monkeypatch.setenv("HSIBENCH_TEST_FIXED", "1")
    assert cli.main(args) == 0, "a rerun retries failed cells by default"
    assert "6 cell(s) run, 0 already in" in capsys.readouterr().err
    assert set(store.load(out).status) == {"ok"}


# -- usage errors before the first cell -----------------------------------------------------------------

@pytest.mark.parametrize("flag,value", [
    ("--noise", "noniid-15,stripe:bands=1000"), ("--crop", "0"), ("--crop", "-3"), ("--images", "0"),
    ("--images", "-2"), ("--seed", "-1"), ("--device", "meta"), ("--device", "tpu"),
])
def test_bad_options_are_usage_errors_before_anything_is_written(cubes: Path, tmp_path: Path, capsys,
                                                                 flag: str, value: str) -> None:
    out = tmp_path / "r"
    args = _run(cubes, out)
    args = _with(args, flag, value) if flag in args else [*args, flag, value]
    assert cli.main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and value.split(",")[-1].split(":")[0] in err
    assert value != "tpu" or len(err) < 100, "one short line, not torch's list of device types"
    assert not (out / "results.sqlite").exists(), "no store, no runs row"


def test_runs_row_is_written_when_the_first_cell_starts(cubes: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert cli.main(_run(cubes, out)) == 0
    assert cli.main(_run(cubes, out)) == 0, "nothing left to do"
    assert len(store.load(out, table="runs")) == 1


# -- progress and the next step -------------------------------------------------------------------------

def test_progress_lines_without_a_terminal_and_the_next_command(cubes: Path, tmp_path: Path, monkeypatch,
                                                                capsys) -> None:
    monkeypatch.setattr("bench.progress.EVERY", 2)
    out = tmp_path / "r"
    assert cli.main(_run(cubes, out)) == 0
    err = capsys.readouterr().err
    assert "progress: 2/6 cells, 0 failed, 0 retried, ETA" in err and "progress: 4/6 cells" in err
    assert err.strip().splitlines()[-1] == f"next: bench report --out {out} --html"
