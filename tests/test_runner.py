"""The runner end to end: real `bench run` processes, resume after SIGKILL, concurrency, failure isolation."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import noise
from bench import store
from bench.cells import noisy_input
from bench.datasets.base import HSImage

ROOT = Path(__file__).resolve().parents[1]
METRICS = ["psnr", "ssim", "sam", "ergas"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "tests" / "plugins"), env.get("PYTHONPATH", "")])
    env["HSIBENCH_PLUGINS"] = "bench_test_methods"
    return env


def _bench(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=_env(),
                          cwd=ROOT, timeout=300, **kw)


def _grid(cubes: Path, out: Path, methods: str = "noisy,test.slow", *extra: str) -> list[str]:
    return ["run", "--methods", methods, "--noise", "noniid-55,corr", "--datasets", f"npy:{cubes}",
            "--profile", "smoke", "--crop", "24", "--images", "3", "--out", str(out), *extra]


def _count(out: Path) -> int:
    """Rows committed so far (0 while the store is still being created)."""
    try:
        with sqlite3.connect(out / "results.sqlite", timeout=30) as c:
            return c.execute("SELECT count(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _summary_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if "cell(s) run" in line)


def _rows(out: Path):
    df = store.load(out)
    return df.sort_values(["method", "noise", "image"]).reset_index(drop=True)


def test_grid_rows_and_artifacts(cubes: Path, tmp_path: Path) -> None:
    res = _bench(*_grid(cubes, tmp_path / "r"), "-v")
    assert res.returncode == 0, res.stderr
    df = _rows(tmp_path / "r")
    assert len(df) == 2 * 2 * 3 and set(df.status) == {"ok"}
    assert df[METRICS].notna().all().all()
    noisy = df[df.method == "noisy"]
    assert (noisy.psnr > 15).all() and (noisy.psnr < 45).all()
    assert set(df.mem_kind) == {"cpu-delta"} and (noisy.peak_mem_bytes < 50 * 2**20).all()
    assert all(isinstance(i["cpu_s"], float) and "flops" not in i for i in df["info"])  # neither uses torch
    for rel in df.artifact:
        data = store.load_artifact(tmp_path / "r", rel)
        assert data["cube"].shape == (24, 24, 8) and data["psnr_band"].shape == (8,)
    assert "test.slow" in res.stderr and f"on {socket.gethostname()}" in res.stderr  # -v: a line per cell, host


def test_rerun_skips_finished_cells(cubes: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    assert _bench(*_grid(cubes, out, "noisy")).returncode == 0
    before = _rows(out)
    res = _bench(*_grid(cubes, out, "noisy"))
    assert res.returncode == 0 and "0 cell(s) run, 6 already" in res.stderr
    assert _rows(out).finished_at.tolist() == before.finished_at.tolist()


def test_sigkill_then_resume_matches_uninterrupted(cubes: Path, tmp_path: Path) -> None:
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    assert _bench(*_grid(cubes, ref)).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "bench", *_grid(cubes, killed)], env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (killed / "results.sqlite").exists() and _count(killed) >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(store.load(killed))
    assert 3 <= partial < 12, "the kill should land mid-grid"
    assert _bench(*_grid(cubes, killed)).returncode == 0
    a, b = _rows(ref), _rows(killed)
    assert len(b) == 12 and b.key.is_unique
    assert a.key.tolist() == b.key.tolist()
    np.testing.assert_array_equal(a[METRICS].to_numpy(), b[METRICS].to_numpy())


def test_two_concurrent_runs_share_one_store(cubes: Path, tmp_path: Path) -> None:
    out = tmp_path / "shared"
    args = [sys.executable, "-m", "bench", *_grid(cubes, out)]
    procs = [subprocess.Popen(args, env=_env(), cwd=ROOT, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    errs = [p.communicate(timeout=300)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    df = _rows(out)
    assert len(df) == 12 and df.key.is_unique and set(df.status) == {"ok"}
    ran = sum(int(_summary_line(e).split()[0]) for e in errs)
    assert ran == 12, "each cell computed by exactly one of the two processes"


def test_failing_cell_is_isolated(cubes: Path, tmp_path: Path) -> None:
    res = _bench(*_grid(cubes, tmp_path / "r", "test.broken,noisy"))
    assert res.returncode == 1
    assert "FAILED test.broken" in res.stderr and "deliberate failure" in res.stderr
    assert "Traceback" not in res.stderr
    df = _rows(tmp_path / "r")
    assert set(df[df.method == "noisy"].status) == {"ok"}
    broken = df[df.method == "test.broken"]
    assert len(broken) == 6 and set(broken.status) == {"failed"}
    assert broken.error.str.contains("deliberate failure").all()


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_stops_after_current_cell(cubes: Path, tmp_path: Path, sig: int, code: int) -> None:
    out = tmp_path / "r"
    env = {**_env(), "HSIBENCH_TEST_SLOW": "1.5"}
    proc = subprocess.Popen([sys.executable, "-m", "bench", *_grid(cubes, out, "test.slow")], env=env, cwd=ROOT,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        if (out / "results.sqlite").exists() and _count(out) >= 1:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    df = store.load(out)
    assert len(df) == 2, "the cell in flight at the signal finishes and is kept; no further cell starts"
    assert set(df.status) == {"ok"} and "interrupted" in err
    with sqlite3.connect(out / "results.sqlite") as c:
        assert c.execute("SELECT count(*) FROM claims").fetchone()[0] == 0, "no claim is left behind"


def test_noisy_input_is_identical_across_processes() -> None:
    code = ("import hashlib, numpy as np, noise; from bench.cells import noisy_input;"
            "from bench.datasets.base import HSImage;"
            "c = np.linspace(0, 1, 16*16*8, dtype=np.float32).reshape(16, 16, 8);"
            "s = noisy_input('d', HSImage('i', c), noise.create('mixture'), 3);"
            "print(hashlib.sha256(s.noisy.tobytes()).hexdigest())")
    digests = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT,
                              check=True).stdout for _ in range(2)}
    clean = np.linspace(0, 1, 16 * 16 * 8, dtype=np.float32).reshape(16, 16, 8)
    here = noisy_input("d", HSImage("i", clean), noise.create("mixture"), 3).noisy
    import hashlib

    assert digests == {hashlib.sha256(here.tobytes()).hexdigest() + "\n"}
    other = noisy_input("d", HSImage("j", clean), noise.create("mixture"), 3).noisy
    assert not np.array_equal(here, other)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_export(cubes: Path, tmp_path: Path, fmt: str) -> None:
    import pandas as pd

    out = tmp_path / "r"
    assert _bench(*_grid(cubes, out, "noisy")).returncode == 0
    dest = tmp_path / f"results.{fmt}"
    res = _bench("export", "--out", str(out), f"--{fmt}", str(dest))
    assert res.returncode == 0, res.stderr
    df = pd.read_csv(dest) if fmt == "csv" else pd.read_parquet(dest)
    assert len(df) == 6 and {"method", "noise", "psnr", "ssim", "sam"} <= set(df.columns)
    np.testing.assert_allclose(sorted(df.psnr), sorted(store.load(out).psnr))


def test_frozen_set_runs_once_per_method_with_its_own_noise(cubes: Path, tmp_path: Path) -> None:
    from bench import profiles, runner
    from bench.datasets.commands import freeze

    folder = freeze(f"npy:{cubes}", "noniid-55", tmp_path / "frozen", seed=0, crop=24)
    gen, frz = tmp_path / "gen", tmp_path / "frz"
    smoke = profiles.get("smoke")
    runner.run(runner.RunConfig(methods=["noisy"], noises=["noniid-55"], datasets=[f"npy:{cubes}"], profile=smoke,
                                out=gen, crop=24, images=3))
    summary = runner.run(runner.RunConfig(methods=["noisy"], noises=["noniid-15", "corr"],
                                          datasets=[f"frozen:{folder}"], profile=smoke, out=frz, crop=24, images=3))
    assert summary.done == 3 and not summary.failed, "the --noise selection does not multiply a frozen set"
    a, b = _rows(gen), _rows(frz)
    assert set(b.noise) == {"noniid-55"}
    np.testing.assert_allclose(a.psnr.to_numpy(), b.psnr.to_numpy(), rtol=0, atol=1e-9)
