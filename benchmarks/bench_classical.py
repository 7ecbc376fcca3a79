"""Seconds per image and PSNR of the classical baselines at two cube sizes.

The ``standard`` profile needs each method at about 10-15 s or less per 64 x 64 x 31 cube on the
project's 2-core CPU. Wall and process-CPU seconds are both reported (a shared machine inflates wall
time). Prints a table and writes JSON (rows, environment) under ``runs/benchmarks/``.

    .venv/bin/python benchmarks/bench_classical.py [--methods lrmr,e3dtv,bm4d.torch] [--sizes 64,128]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

import noise
from bench.cells import noisy_input
from bench.runner import environment

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bm4d import clean_cubes, psnr, timed  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="lrmr,lrmr.author,lrmr.e3dtv,e3dtv,bm4d.torch")
    ap.add_argument("--sizes", default="64,128", help="comma list of square crop sizes")
    ap.add_argument("--dataset", default="scenes31")
    ap.add_argument("--images", type=int, default=1)
    ap.add_argument("--noise", default="noniid-55,mixture")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/benchmarks/bench_classical.json")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    names = [n.strip() for n in args.methods.split(",")]
    rows: list[dict[str, Any]] = []
    print(f"{'method':<12} {'size':>5} {'image':<12} {'noise':<10} {'noisy':>6} {'psnr':>6} {'wall s':>7} {'cpu s':>7}")
    for size in (int(s) for s in args.sizes.split(",")):
        for dataset, image in clean_cubes(args.dataset, args.images, size):
            for row in args.noise.split(","):
                sample = noisy_input(dataset, image, noise.create(row.strip()), args.seed)
                base = psnr(image.clean, sample.noisy)
                for name in names:
                    out, wall, cpu = timed(name, sample.noisy, sample.sigma, args.device)
                    rec = {"method": name, "size": size, "shape": list(image.clean.shape), "dataset": dataset,
                           "image": image.id, "noise": row, "psnr_noisy": base, "psnr": psnr(image.clean, out),
                           "wall_s": wall, "cpu_s": cpu}
                    rows.append(rec)
                    print(f"{name:<12} {size:>5} {image.id:<12} {row:<10} {base:6.2f} {rec['psnr']:6.2f} "
                          f"{wall:7.1f} {cpu:7.1f}", flush=True)
    print("mean per method and size (PSNR dB, wall s, cpu s):")
    for name in names:
        for size in sorted({r["size"] for r in rows}):
            sel = [r for r in rows if r["method"] == name and r["size"] == size]
            print(f"  {name:<12} {size:>5}: {np.mean([r['psnr'] for r in sel]):6.2f} "
                  f"{np.mean([r['wall_s'] for r in sel]):7.1f} {np.mean([r['cpu_s'] for r in sel]):7.1f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows, "environment": environment()}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
