"""Compare the suite's own ``bm4d.torch`` with the authors' ``bm4d`` package on the same noisy cubes.

Target: on ``standard``-profile crops (64 x 64 x 31, the DECSC paper's noise rows) the mean PSNR of
``bm4d.torch`` is within 0.5 dB of ``bm4d`` (or above it). Wall and process-CPU seconds are both
reported because a shared machine inflates wall time. Prints a table and writes JSON (rows, summary,
environment) under ``runs/benchmarks/``.

    .venv/bin/python benchmarks/bench_bm4d.py [--images 3] [--crop 64] [--noise noniid-55,mixture]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch
from scipy import ndimage

import methods
import noise
from bench import metrics
from bench.arrays import center_crop
from bench.cells import noisy_input
from bench.datasets.base import HSImage
from bench.errors import BenchError
from bench.runner import environment

PAPER_ROWS = "noniid-15,noniid-55,noniid-95,mixture,corr"
TARGET_DB = 0.5


def clean_cubes(dataset: str, images: int, crop: int, bands: int = 31) -> Iterator[tuple[str, HSImage]]:
    """Centre crops of ``dataset`` images, or smooth random cubes when the dataset cannot be opened."""
    try:
        from bench.datasets import load

        ds = load(dataset)
        for image in list(ds)[:images]:
            yield dataset, HSImage(image.id, np.ascontiguousarray(center_crop(image.clean, crop)))
    except (BenchError, ImportError) as exc:
        print(f"dataset {dataset!r} unavailable ({exc}); using smooth synthetic cubes", file=sys.stderr)
        for i in range(images):
            rng = np.random.default_rng(i)
            cube = ndimage.gaussian_filter(rng.random((crop, crop, bands)), (3.0, 3.0, 2.0))
            cube = (cube - cube.min()) / (cube.max() - cube.min())
            yield "synthetic", HSImage(f"smooth{i}", cube.astype(np.float32))


def timed(name: str, noisy: np.ndarray, sigma: np.ndarray, device: str) -> tuple[np.ndarray, float, float]:
    """Denoise with method ``name``; returns (output, wall seconds, process CPU seconds)."""
    method = methods.create(name)
    wall, cpu = time.perf_counter(), time.process_time()
    out = method.denoise(noisy, sigma=sigma, device=device)
    return out, time.perf_counter() - wall, time.process_time() - cpu


def psnr(clean: np.ndarray, est: np.ndarray) -> float:
    return metrics.evaluate(clean, est, "psnr")["psnr"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="scenes31")
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--noise", default=PAPER_ROWS, help="comma list of noise models")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/benchmarks/bench_bm4d.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if importlib.util.find_spec("bm4d") is None:
        print('the bm4d package is missing: pip install -e ".[reference]"', file=sys.stderr)
        return 1
    rows: list[dict[str, Any]] = []
    print(f"{'image':<12} {'noise':<10} {'noisy':>6} {'bm4d':>6} {'torch':>6} {'diff':>6} "
          f"{'bm4d s':>7} {'torch s':>7} {'ratio':>6}")
    for dataset, image in clean_cubes(args.dataset, args.images, args.crop):
        for row in args.noise.split(","):
            sample = noisy_input(dataset, image, noise.create(row.strip()), args.seed)
            ref, ref_wall, ref_cpu = timed("bm4d", sample.noisy, sample.sigma, "cpu")
            ours, wall, cpu = timed("bm4d.torch", sample.noisy, sample.sigma, args.device)
            rec = {"dataset": dataset, "image": image.id, "noise": row, "shape": list(image.clean.shape),
                   "psnr_noisy": psnr(image.clean, sample.noisy), "psnr_bm4d": psnr(image.clean, ref),
                   "psnr_bm4d_torch": psnr(image.clean, ours), "wall_s_bm4d": ref_wall, "cpu_s_bm4d": ref_cpu,
                   "wall_s_bm4d_torch": wall, "cpu_s_bm4d_torch": cpu}
            rec["psnr_diff"] = rec["psnr_bm4d_torch"] - rec["psnr_bm4d"]
            rec["time_ratio"] = wall / ref_wall
            rows.append(rec)
            print(f"{image.id:<12} {row:<10} {rec['psnr_noisy']:6.2f} {rec['psnr_bm4d']:6.2f} "
                  f"{rec['psnr_bm4d_torch']:6.2f} {rec['psnr_diff']:+6.2f} {ref_wall:7.1f} {wall:7.1f} "
                  f"{rec['time_ratio']:6.2f}", flush=True)
    summary = {"cubes": len(rows), "mean_psnr_bm4d": float(np.mean([r["psnr_bm4d"] for r in rows])),
               "mean_psnr_bm4d_torch": float(np.mean([r["psnr_bm4d_torch"] for r in rows])),
               "mean_time_ratio": float(np.mean([r["time_ratio"] for r in rows])), "target_db": TARGET_DB}
    summary["mean_psnr_diff"] = summary["mean_psnr_bm4d_torch"] - summary["mean_psnr_bm4d"]
    summary["target_met"] = summary["mean_psnr_diff"] >= -TARGET_DB
    print(f"mean PSNR bm4d {summary['mean_psnr_bm4d']:.2f} dB, bm4d.torch {summary['mean_psnr_bm4d_torch']:.2f} dB "
          f"({summary['mean_psnr_diff']:+.2f}); mean time ratio {summary['mean_time_ratio']:.2f}; "
          f"target within {TARGET_DB} dB: {'met' if summary['target_met'] else 'NOT met'}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "summary": summary, "rows": rows, "environment": environment()},
                              indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
