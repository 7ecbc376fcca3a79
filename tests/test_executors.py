"""Executors and `bench merge`: local workers and Slurm shards give the store an inline run gives."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bench import cli, executors, profiles, runner, store
from bench.executors.local import cores
from bench.store import Store

METRICS = ["psnr", "ssim", "sam", "ergas"]


def _cfg(cubes: Path, out: Path, methods: list[str], *, noises=("noniid-55", "corr"), images=3) -> runner.RunConfig:
    return runner.RunConfig(methods=methods, noises=list(noises), datasets=[f"npy:{cubes}"],
                            profile=profiles.get("smoke"), out=out, crop=24, images=images)


def _rows(out: Path):
    return store.load(out).sort_values("key").reset_index(drop=True)


def _same_store(a: Path, b: Path) -> None:
    """Equal keys, bit-equal metrics and equal artifact arrays."""
    ra, rb = _rows(a), _rows(b)
    assert ra.key.tolist() == rb.key.tolist()
    np.testing.assert_array_equal(ra[METRICS].to_numpy(), rb[METRICS].to_numpy())
    assert ra.artifact.tolist() == rb.artifact.tolist()
    for rel in ra.artifact:
        x, y = store.load_artifact(a, rel), store.load_artifact(b, rel)
        assert x.keys() == y.keys()
        for name in x:
            np.testing.assert_array_equal(x[name], y[name])


@pytest.fixture(scope="module")
def inline_ref(cubes: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("inline") / "r"
    summary = runner.run(_cfg(cubes, out, ["noisy", "lrmr.e3dtv"]))
    assert summary.done == 12 and not summary.failed
    return out


def test_local_two_workers_equal_inline(cubes: Path, inline_ref: Path, tmp_path: Path) -> None:
    out = tmp_path / "local"
    summary = runner.run(_cfg(cubes, out, ["noisy", "lrmr.e3dtv"]), executor="local",
                         options=executors.ExecutorOptions(workers=2))
    assert summary.done == 12 and not summary.failed
    _same_store(inline_ref, out)
    assert set(_rows(out).threads) == {max(1, cores() // 2)}, "threads per worker = cores // N, recorded"


def test_nothing_left_to_do_starts_no_worker(cubes: Path, inline_ref: Path, monkeypatch) -> None:
    """A rerun of a finished grid neither spawns local workers nor joins a cluster."""
    monkeypatch.setattr(executors, "create", lambda *a, **k: pytest.fail("an executor was started"))
    summary = runner.run(_cfg(cubes, inline_ref, ["noisy", "lrmr.e3dtv"]), executor="local",
                         options=executors.ExecutorOptions(workers=2))
    assert summary.done == 0 and summary.skipped == 12


def test_killed_worker_loses_only_its_cell(cubes: Path, tmp_path: Path, test_methods, monkeypatch) -> None:
    monkeypatch.setenv("HSIBENCH_TEST_DIE_MARKER", str(tmp_path / "died-once"))
    out = tmp_path / "r"
    summary = runner.run(_cfg(cubes, out, ["noisy", "test.die"]), executor="local",
                         options=executors.ExecutorOptions(workers=2))
    assert (tmp_path / "died-once").exists(), "one worker was SIGKILLed mid-cell"
    assert summary.retried == 1 and summary.done == 12 and not summary.failed
    df = _rows(out)
    assert len(df) == 12 and df.key.is_unique and set(df.status) == {"ok"}


def test_worker_dying_twice_stores_the_cell_as_failed(cubes: Path, tmp_path: Path, test_methods,
                                                      monkeypatch) -> None:
    monkeypatch.setenv("HSIBENCH_TEST_DIE", "always")
    out = tmp_path / "r"
    summary = runner.run(_cfg(cubes, out, ["noisy", "test.die"], noises=("corr",), images=1), executor="local",
                         options=executors.ExecutorOptions(workers=2))
    assert summary.retried == 1
    df = _rows(out).set_index("method")
    assert df.loc["noisy", "status"] == "ok"
    assert df.loc["test.die", "status"] == "failed" and "SIGKILL" in df.loc["test.die", "error"]


def test_slurm_shards_and_merge_equal_inline(cubes: Path, inline_ref: Path, tmp_path: Path) -> None:
    pytest.importorskip("submitit")
    out = tmp_path / "slurm"
    opts = executors.ExecutorOptions(workers=2, slurm={"cluster": "local", "time_limit": "10"})
    summary = runner.run(_cfg(cubes, out, ["noisy", "lrmr.e3dtv"]), executor="slurm", options=opts)
    assert summary.done == 12 and not summary.failed
    _same_store(inline_ref, out)
    shards = sorted((out / "shards").iterdir())
    assert len(shards) == 2 and all("_" in s.name for s in shards), "one shard per array task: <job>_<task>"
    assert sum(len(store.load(s)) for s in shards) == 12
    merged = tmp_path / "merged"
    assert cli.main(["merge", *map(str, shards), "--out", str(merged)]) == 0
    _same_store(inline_ref, merged)
    ran_in = set(store.load(merged).run_id)
    assert ran_in <= set(store.load(merged, table="runs").run_id), "each row's run metadata comes along"


def _fake(root: Path, psnr: float, finished: str) -> Path:
    with Store(root) as st:
        st.start_run(f"run-{root.name}", command="test", env_json={"host": root.name})
        rel = st.save_artifact("d/i/x/m-k1", psnr_band=np.full(3, psnr, np.float32))
        for key, value in (("k1", psnr), ("k2", 30.0)):
            st.put({"key": key, "run_id": f"run-{root.name}", "method": "m", "method_version": "1",
                    "params_json": {}, "params_hash": "h", "noise": "corr", "noise_params_json": {}, "dataset": "d",
                    "image": "i", "seed": 0, "profile": "smoke", "status": "ok", "psnr": value,
                    "artifact": rel if key == "k1" else None, "finished_at": finished})
    return root


def test_merge_conflicts(tmp_path: Path, capsys) -> None:
    a = _fake(tmp_path / "a", 30.0, "2026-01-01T00:00:00Z")
    b = _fake(tmp_path / "b", 31.0, "2026-01-02T00:00:00Z")
    out = tmp_path / "out"
    assert cli.main(["merge", str(a), str(b), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 key(s) differ" in err and "k1" in err and "--keep" in err
    assert not out.exists(), "a refused merge leaves the output unchanged"
    assert cli.main(["merge", str(a), str(b), "--out", str(out), "--keep", "first"]) == 0
    df = store.load(out).set_index("key")
    assert len(df) == 2 and df.loc["k1", "psnr"] == 30.0 and df.loc["k2", "psnr"] == 30.0
    assert store.load_artifact(out, df.loc["k1", "artifact"])["psnr_band"][0] == 30.0
    assert set(store.load(out, table="runs").run_id) == {"run-a", "run-b"}
    newest = tmp_path / "newest"
    assert cli.main(["merge", str(a), str(b), "--out", str(newest), "--keep", "newest"]) == 0
    df = store.load(newest).set_index("key")
    assert df.loc["k1", "psnr"] == 31.0
    assert store.load_artifact(newest, df.loc["k1", "artifact"])["psnr_band"][0] == 31.0, "artifacts follow rows"
    with sqlite3.connect(out / "results.sqlite") as c:
        before = c.execute("SELECT count(*) FROM results").fetchone()[0]
    assert cli.main(["merge", str(b), "--out", str(out)]) == 1, "an existing --out store takes part"
    with sqlite3.connect(out / "results.sqlite") as c:
        assert c.execute("SELECT count(*) FROM results").fetchone()[0] == before


@pytest.mark.parametrize(("text", "expected"), [("90", 90), ("90:30", 91), ("1:30:00", 90), ("2-12", 3600),
                                               ("2-12:30", 3630), ("2-00:00:01", 2881)])
def test_slurm_time_in_every_slurm_format(text: str, expected: int) -> None:
    from bench.executors.slurm import minutes
    assert minutes(text) == expected


@pytest.mark.parametrize("text", ["", "1h", "2-", "-3", "1:2:3:4", "a-1"])
def test_slurm_time_that_slurm_would_refuse_is_a_usage_error(text: str) -> None:
    from bench.errors import UsageError
    from bench.executors.slurm import minutes
    with pytest.raises(UsageError, match="--slurm-time must be"):
        minutes(text)
