"""The Ray executor on a local two-CPU cluster: same store as inline, and a killed worker's task is retried."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from bench import profiles, runner, store

ray = pytest.importorskip("ray")
ROOT = Path(__file__).resolve().parents[1]
_ENV = ("PYTHONPATH", "HSIBENCH_PLUGINS", "OMP_NUM_THREADS", "HSIBENCH_TEST_DIE_MARKER")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Path:
    """One local cluster for the module; its workers inherit the plugin methods, one BLAS thread and the
    marker file of `test.die`, whose path this returns."""
    marker = tmp_path_factory.mktemp("ray") / "died-once"
    saved = {k: os.environ.get(k) for k in _ENV}
    os.environ.update(PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests" / "plugins"),
                                                  saved["PYTHONPATH"] or ""]),
                      HSIBENCH_PLUGINS="bench_test_methods", OMP_NUM_THREADS="1",
                      HSIBENCH_TEST_DIE_MARKER=str(marker))
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield marker
    ray.shutdown()
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def _cfg(cubes: Path, out: Path, methods: list[str]) -> runner.RunConfig:
    return runner.RunConfig(methods=methods, noises=["noniid-55", "corr"], datasets=[f"npy:{cubes}"],
                            profile=profiles.get("smoke"), out=out, crop=24, images=3)


def test_ray_runs_the_grid_like_inline(cluster, cubes: Path, tmp_path: Path) -> None:
    methods = ["noisy", "lrmr.e3dtv"]
    runner.run(_cfg(cubes, tmp_path / "inline", methods))
    summary = runner.run(_cfg(cubes, tmp_path / "ray", methods), executor="ray")
    assert summary.done == 12 and not summary.failed
    a, b = (store.load(tmp_path / n).sort_values("key").reset_index(drop=True) for n in ("inline", "ray"))
    assert a.key.tolist() == b.key.tolist()
    np.testing.assert_array_equal(a[["psnr", "ssim", "sam"]].to_numpy(), b[["psnr", "ssim", "sam"]].to_numpy())


def test_ray_retries_a_task_whose_worker_was_killed(cluster: Path, cubes: Path, tmp_path: Path,
                                                    test_methods) -> None:
    summary = runner.run(_cfg(cubes, tmp_path / "r", ["test.die"]), executor="ray")
    assert cluster.exists(), "a Ray worker was SIGKILLed mid-task"
    df = store.load(tmp_path / "r")
    assert summary.done == 6 and len(df) == 6 and set(df.status) == {"ok"} and df.key.is_unique
    assert summary.retried == 1
