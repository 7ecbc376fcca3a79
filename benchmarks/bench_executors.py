"""Executors: wall time of ``--executor local --workers 2`` against ``inline``, and Ray's overhead per cell.

1. The ``standard`` grid (or ``--methods``) inline and with two local workers, each into a fresh store:
   wall-time ratio (goal 0.6 or less on 2 cores) and whether keys and metrics are bit-identical.
2. The ``noisy`` method (no computation) on every test image x the paper and QRNN3D noise rows, inline and
   as Ray tasks on a local 2-CPU cluster whose workers were warmed up by a short run: cells/s of both and
   the overhead per cell (goal under 50 ms).

The load average is sampled during every timed run, since on a shared machine it decides the ratio.
Writes JSON with the environment under ``runs/benchmarks/``.

    .venv/bin/python benchmarks/bench_executors.py [--methods noisy,lrmr] [--skip-ray]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

import methods
import noise
from bench import datasets, executors, profiles, runner, store


class _Load:
    """Samples the 1-minute load average every second while a run is timed."""

    def __init__(self) -> None:
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "_Load":
        self.samples.append(os.getloadavg()[0])
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return float(np.mean(self.samples))


def _timed(cfg: runner.RunConfig, executor: str, options: executors.ExecutorOptions | None = None) -> dict:
    shutil.rmtree(cfg.out, ignore_errors=True)
    with _Load() as load:
        t0 = time.perf_counter()
        summary = runner.run(cfg, executor=executor, options=options)
        wall = time.perf_counter() - t0
    if summary.interrupted:
        raise SystemExit(128 + summary.signal)
    assert not summary.failed, summary.failed
    return {"executor": executor, "cells": summary.done, "wall_s": wall, "load_mean": load.mean,
            "load_max": max(load.samples)}


def _identical(a: Path, b: Path) -> bool:
    ra, rb = (store.load(p).sort_values("key").reset_index(drop=True) for p in (a, b))
    cols = ["psnr", "ssim", "sam", "ergas"]
    return ra.key.tolist() == rb.key.tolist() and bool(np.array_equal(ra[cols].to_numpy(), rb[cols].to_numpy(),
                                                                          equal_nan=True))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--methods", default=None, help="default: the profile's")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-ray", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    args = ap.parse_args()
    prof = profiles.get(args.profile)
    base = dict(noises=noise.registry.select("all"), datasets=[prof.datasets], profile=prof, device="cpu",
                command="benchmarks/bench_executors.py")
    names = methods.registry.select(args.methods or prof.methods)
    inline = _timed(runner.RunConfig(methods=names, out=args.out / "exec-inline", **base), "inline")
    local = _timed(runner.RunConfig(methods=names, out=args.out / "exec-local", **base), "local",
                   executors.ExecutorOptions(workers=args.workers))
    same = _identical(args.out / "exec-inline", args.out / "exec-local")
    result: dict[str, Any] = {"profile": prof.name, "methods": names, "inline": inline, "local": local,
                              "ratio": local["wall_s"] / inline["wall_s"], "identical": same}
    print(f"{prof.name}: inline {inline['wall_s']:.1f} s (load {inline['load_mean']:.1f}), local x{args.workers} "
          f"{local['wall_s']:.1f} s (load {local['load_mean']:.1f}): ratio {result['ratio']:.2f}, "
          f"identical results: {same}")
    if not args.skip_ray:
        result["ray"] = _ray_overhead(prof, args.out)
        r = result["ray"]
        print(f"ray: {r['cells']} noisy cells, inline {r['inline_cells_per_s']:.1f} cells/s, ray "
              f"{r['ray_cells_per_s']:.1f} cells/s, overhead {1000 * r['overhead_s_per_cell']:.1f} ms/cell "
              f"(cluster start {r['init_s']:.1f} s, load {r['load_mean']:.1f})")
    result["environment"] = runner.environment()
    args.out.mkdir(parents=True, exist_ok=True)
    dest = args.out / f"bench_executors_{prof.name}.json"
    dest.write_text(json.dumps(result, indent=1))
    print(f"wrote {dest}")


def _ray_overhead(prof: profiles.Profile, out: Path) -> dict[str, Any]:
    import ray

    specs = noise.registry.select("paper") + noise.registry.select("qrnn3d")
    images = len(datasets.load(prof.datasets).ids)
    cfg = dict(methods=["noisy"], noises=specs, datasets=[prof.datasets], profile=prof, device="cpu",
               images=images, command="benchmarks/bench_executors.py")
    runner.run(runner.RunConfig(out=out / "exec-warm", **cfg))  # cubes generated and cached before timing
    inline = _timed(runner.RunConfig(out=out / "exec-noisy-inline", **cfg), "inline")
    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    init = time.perf_counter() - t0
    try:
        # workers import the suite on their first task: warm both up, then time the steady state
        _timed(runner.RunConfig(out=out / "exec-ray-warm", **{**cfg, "noises": specs[:4]}), "ray")
        timed = _timed(runner.RunConfig(out=out / "exec-noisy-ray", **cfg), "ray")
    finally:
        ray.shutdown()
    n = timed["cells"]
    return {"cells": n, "init_s": init, "inline_cells_per_s": n / inline["wall_s"],
            "ray_cells_per_s": n / timed["wall_s"], "overhead_s_per_cell": (timed["wall_s"] - inline["wall_s"]) / n,
            "load_mean": timed["load_mean"], "inline": inline, "ray": timed}


if __name__ == "__main__":
    main()
