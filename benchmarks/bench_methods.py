"""Seconds per image and per megavoxel, and peak memory, of every method on the ``standard`` profile.

Runs (or resumes) the standard grid into ``runs/benchmarks/methods-store`` and summarises its rows, so every
method is measured in the same process on the same noisy cubes. Prints a table and writes JSON with the
environment under ``runs/benchmarks/``.

    .venv/bin/python benchmarks/bench_methods.py [--profile standard] [--device auto]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import methods
import noise
from bench import profiles, runner, store
from bench.listing import format_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="standard")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", type=Path, default=Path("runs/benchmarks"))
    args = ap.parse_args()
    prof = profiles.get(args.profile)
    folder = args.out / f"methods-store-{prof.name}"
    cfg = runner.RunConfig(methods=methods.registry.select(prof.methods), noises=noise.registry.select("all"),
                           datasets=[prof.datasets], profile=prof, out=folder, device=args.device,
                           command="benchmarks/bench_methods.py")
    runner.run(cfg)
    df = store.load(folder)
    df = df[df.status == "ok"].copy()
    df["mvox"] = df.height * df.width * df.bands / 1e6
    rows = []
    for name, g in df.groupby("method", sort=False):
        rows.append({"method": name, "cells": len(g), "s_per_image": float(g.time_s.mean()),
                     "s_per_megavoxel": float((g.time_s / g.mvox).mean()),
                     "peak_mem_mib": float(g.peak_mem_bytes.max() / 2**20), "mem_kind": g.mem_kind.iloc[0],
                     "device": g.device.iloc[0], "mean_psnr": float(g.psnr.mean())})
    print(format_table(["method", "cells", "s/image", "s/Mvoxel", "peak MiB", "memory", "device", "PSNR"],
                       [[r["method"], r["cells"], f"{r['s_per_image']:.2f}", f"{r['s_per_megavoxel']:.2f}",
                         f"{r['peak_mem_mib']:.0f}", r["mem_kind"], r["device"], f"{r['mean_psnr']:.2f}"]
                        for r in rows]))
    dest = args.out / f"bench_methods_{prof.name}.json"
    dest.write_text(json.dumps({"profile": prof.name, "environment": runner.environment(), "rows": rows}, indent=1))
    print(f"wrote {dest}")


if __name__ == "__main__":
    main()
