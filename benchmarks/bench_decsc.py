"""DECSC solver and memory benchmark.

(a) f-evaluations to reach the relative tolerance ||f(z) - z|| / ||f(z)||, Anderson acceleration vs plain
    fixed-point iteration, on the trained ``decsc.small`` over the scenes31 test images (standard profile
    crops) under the paper's noise rows;
(b) peak memory of one training step: phantom gradient after 10 vs 40 forward solver iterations, against
    backpropagating through the unrolled forward iterations. On CUDA ``torch.cuda.max_memory_allocated``;
    on CPU the peak RSS of a fresh subprocess per configuration.

Run: ``python benchmarks/bench_decsc.py [--checkpoint PATH] [--images 3] [--crop 64]``. Prints tables and
writes ``runs/benchmarks/bench_decsc.json`` with the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

ROWS = ("noniid-15", "noniid-55", "noniid-95", "mixture", "corr")


def _first_below(trace: list[float], tol: float) -> int | None:
    """Number of f-evaluations after which the residual first is <= tol (None: never)."""
    for i, r in enumerate(trace, start=1):
        if r <= tol:
            return i
    return None


def solver_counts(*, checkpoint: str | None, images: int, crop: int, rows: tuple[str, ...], max_iter: int,
                  tols: tuple[float, ...], device: torch.device) -> list[dict[str, Any]]:
    """Residual traces of both solvers per (image, noise row); f-evaluations to each tolerance."""
    import methods
    import noise
    from bench import datasets
    from bench.arrays import center_crop
    from bench.cells import noisy_input

    ds = datasets.load("scenes31", split="test")
    out = []
    for solver in ("anderson", "fixed-point"):
        m = methods.create("decsc.small", checkpoint=checkpoint, solver=solver, max_iter=max_iter,
                           tol=min(tols), fail_bound=1e9)
        net = m.network(device)
        for image in list(ds)[:images]:
            clean = center_crop(image.clean, crop)
            for row in rows:
                from bench.datasets.base import HSImage

                sample = noisy_input("scenes31", HSImage(image.id, clean), noise.create(row), seed=0)
                x = torch.from_numpy(sample.noisy.transpose(2, 0, 1)[None].copy()).to(device)
                t0 = time.perf_counter()
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    net(x)
                trace = list(net.last_info["residual_trace"])
                seconds = time.perf_counter() - t0
                evals = len(trace) + int(m.params["phantom_steps"])
                out.append({"solver": solver, "image": image.id, "noise": row, "trace": trace,
                            "seconds": seconds, "seconds_per_f_eval": seconds / evals,
                            **{f"evals@{t:g}": _first_below(trace, t) for t in tols}})
    return out


def contractive_counts(*, tol: float = 1e-3, max_iter: int = 200, seeds: int = 5) -> list[dict[str, Any]]:
    """f-evaluations to ``tol`` on a small DECSC layer made contractive by construction.

    Near-identity dictionaries of gain 0.7 turn the GIC update into a damped ISTA step and a high LSU
    threshold keeps the 3-D codes at zero, so the layer has a unique, attracting equilibrium; this shows the
    solvers' behaviour where the fixed point exists (the short-trained checkpoint does not reach one).
    """
    from methods.decsc.network import DECSCLayer
    from methods.decsc.solvers import anderson, fixed_point

    rows = []
    for seed in range(seeds):
        torch.manual_seed(seed)
        layer = DECSCLayer(bands=8, gic_atoms=8, gic_kernel=3, lsu_atoms=1, lsu_kernel=(3, 3), swin_blocks=2,
                           swin_heads=2)
        with torch.no_grad():
            k = 0.02 * torch.randn(8, 8, 3, 3)
            k[range(8), range(8), 1, 1] += 0.7
            layer.K.weight = k
            layer.W_K.weight = k.clone()
            layer.soft2.theta.fill_(2.0)
            y = torch.rand(1, 8, 16, 16)
            row = {"seed": seed}
            for name, solve in (("anderson", anderson), ("fixed-point", fixed_point)):
                _, info = solve(lambda z: layer(z, y), layer.init_state(y), max_iter=max_iter, tol=tol)
                row[name] = info["iterations"] if info["converged"] else None
        rows.append(row)
    return rows


def _memory_child(config: dict[str, Any]) -> dict[str, Any]:
    """One training step in this (fresh) process; returns peak memory figures."""
    import methods

    torch.set_num_threads(1)
    device = torch.device(config["device"])
    m = methods.create("decsc.small", gradient=config["gradient"], train_max_iter=config["iters"], tol=0.0,
                       fail_bound=1e9)
    torch.manual_seed(0)
    net = m.build_network().to(device).train()
    gen = torch.Generator().manual_seed(0)
    shape = (config["batch"], int(m.params["bands"]), config["patch"], config["patch"])
    clean = torch.rand(shape, generator=gen).to(device)
    noisy = clean + 0.1 * torch.randn(shape, generator=gen).to(device)
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    else:
        base = _rss_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        loss = m.training_loss(net, noisy, clean)
    loss.backward()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated(device)
        kind = "cuda max_memory_allocated"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        kind = "process peak RSS"
    return {**config, "peak_bytes": int(peak), "before_step_bytes": int(base), "step_bytes": int(peak - base),
            "measure": kind, "iterations": net.last_info["iterations"]}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_table(*, device: torch.device, batch: int, patch: int) -> list[dict[str, Any]]:
    """Peak memory of one training step per (gradient, forward iterations), each in a fresh process."""
    rows = []
    for gradient, iters in (("phantom", 10), ("phantom", 40), ("unroll", 10), ("unroll", 40)):
        cfg = {"gradient": gradient, "iters": iters, "device": str(device), "batch": batch, "patch": patch}
        proc = subprocess.run([sys.executable, __file__, "--memory-child", json.dumps(cfg)], capture_output=True,
                              text=True, cwd=ROOT, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"memory child {cfg} failed: {proc.stderr.strip().splitlines()[-1:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def _environment(device: torch.device) -> dict[str, Any]:
    return {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": str(device),
            "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def _print_solvers(rows: list[dict[str, Any]], tols: tuple[float, ...], max_iter: int) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    print(f"\n(a) f-evaluations to the relative tolerance (max {max_iter}; '>' = not reached)")
    print(f"{'image':<22}{'noise':<11}" + "".join(f"{s + '@' + format(t, 'g'):>22}" for t in tols
                                                  for s in ("anderson", "fixed-point")))
    keyed = {(r["image"], r["noise"], r["solver"]): r for r in rows}
    for image, row in dict.fromkeys((r["image"], r["noise"]) for r in rows):
        cells = []
        for t in tols:
            for s in ("anderson", "fixed-point"):
                v = keyed[(image, row, s)][f"evals@{t:g}"]
                cells.append(f"{v if v is not None else '>' + str(max_iter):>22}")
        print(f"{image:<22}{row:<11}" + "".join(cells))
    for t in tols:
        per = {s: [r[f"evals@{t:g}"] if r[f"evals@{t:g}"] is not None else max_iter + 1
                   for r in rows if r["solver"] == s] for s in ("anderson", "fixed-point")}
        reached = {s: sum(r[f"evals@{t:g}"] is not None for r in rows if r["solver"] == s) for s in per}
        mean = {s: float(np.mean(v)) for s, v in per.items()}
        ratio = mean["anderson"] / mean["fixed-point"]
        summary[f"{t:g}"] = {"mean_evals": mean, "reached": reached, "cases": len(per["anderson"]),
                             "ratio_anderson_to_fixed_point": ratio}
        print(f"tol {t:g}: mean f-evals anderson {mean['anderson']:.1f} vs fixed-point {mean['fixed-point']:.1f} "
              f"(ratio {ratio:.2f}; reached {reached['anderson']}/{len(per['anderson'])} vs "
              f"{reached['fixed-point']}/{len(per['fixed-point'])}; unreached counted as {max_iter + 1})")
    per_eval = float(np.median([r["seconds_per_f_eval"] for r in rows]))
    summary["median_seconds_per_f_eval"] = per_eval
    print(f"median seconds per f-evaluation (incl. solver overhead): {per_eval:.3f}")
    return summary


def _print_memory(rows: list[dict[str, Any]]) -> None:
    print(f"\n(b) one training step, peak memory ({rows[0]['measure']}); batch {rows[0]['batch']} x "
          f"{rows[0]['patch']}^2")
    print(f"{'backward':<10}{'forward iters':>14}{'peak MiB':>12}{'step MiB':>12}")
    for r in rows:
        print(f"{r['gradient']:<10}{r['iters']:>14}{r['peak_bytes'] / 2**20:>12.1f}{r['step_bytes'] / 2**20:>12.1f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", help="decsc.small checkpoint (default: the shipped one)")
    ap.add_argument("--images", type=int, default=3)
    ap.add_argument("--crop", type=int, default=64)
    ap.add_argument("--rows", default=",".join(ROWS), help="comma list of noise rows")
    ap.add_argument("--max-iter", type=int, default=40)
    ap.add_argument("--tols", default="0.3,0.2,0.1,1e-2,1e-3")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--skip", choices=("solvers", "memory"), help="leave one part out")
    ap.add_argument("--out", default=str(ROOT / "runs" / "benchmarks" / "bench_decsc.json"))
    ap.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        print(json.dumps(_memory_child(json.loads(args.memory_child))))
        return 0
    from methods.base import resolve_device

    torch.set_num_threads(1)
    device = resolve_device(args.device)
    tols = tuple(float(t) for t in args.tols.split(","))
    result: dict[str, Any] = {"environment": _environment(device), "checkpoint": args.checkpoint or "shipped"}
    if args.skip != "solvers":
        rows = solver_counts(checkpoint=args.checkpoint, images=args.images, crop=args.crop,
                             rows=tuple(args.rows.split(",")), max_iter=args.max_iter, tols=tols, device=device)
        result["solvers"] = {"max_iter": args.max_iter, "cases": rows,
                             "summary": _print_solvers(rows, tols, args.max_iter)}
    if args.skip != "solvers":
        contr = contractive_counts()
        result["contractive"] = contr
        print("\n(a') contractive DECSC layer (8 bands, 16 x 16), f-evaluations to 1e-3: "
              + ", ".join(f"anderson {r['anderson']} / fixed-point {r['fixed-point']}" for r in contr))
    if args.skip != "memory":
        mem = memory_table(device=device, batch=args.batch, patch=args.patch)
        _print_memory(mem)
        result["memory"] = mem
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
