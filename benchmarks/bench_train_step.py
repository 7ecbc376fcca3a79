"""Where one ``bench train`` step of a DECSC configuration spends its time.

A step is: the gradient-free equilibrium solve (warm start plus Anderson to the tolerance or
``train_max_iter``), the graph part (one plain f with the Jacobian penalty's vector-Jacobian product and the
L damped phantom steps), then backward and the optimiser update. The script times each phase over a few
steps on fixed random patches (the solve's length is held fixed with ``tol=0`` so configurations compare at
equal depth) and lists the operators that cost most under ``torch.profiler``. Run it on one thread while
nothing else runs, or read the figures as relative::

    .venv/bin/python benchmarks/bench_train_step.py [--method decsc.small] [--steps 3] [--patch 32]
        [--batch 4] [--solve-iters 20] [--param shrink=0.5] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from typing import Any

import torch


def _parse(items: list[str]) -> dict[str, Any]:
    from bench.registry import parse_value

    return {k: parse_value(v) for k, v in (item.split("=", 1) for item in items)}


def _setup(method: str, params: dict[str, Any], *, batch: int, patch: int, solve_iters: int,
           seed: int) -> tuple[Any, torch.nn.Module, torch.Tensor, torch.Tensor]:
    """The method, its untrained network in training mode and one fixed (noisy, clean) batch."""
    import methods

    m = methods.create(method, train_max_iter=solve_iters, tol=0.0, fail_bound=1e9, **params)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = m.build_network()
    net.train()
    gen = torch.Generator().manual_seed(seed)
    clean = torch.rand(batch, int(m.params["bands"]), patch, patch, generator=gen)
    return m, net, clean + 0.1 * torch.randn(clean.shape, generator=gen), clean


def _phase_times(method: str, params: dict[str, Any], *, steps: int, batch: int, patch: int,
                 solve_iters: int) -> dict[str, Any]:
    import methods.decsc.deq as deq

    m, net, noisy, clean = _setup(method, params, batch=batch, patch=patch, solve_iters=solve_iters, seed=0)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    times: dict[str, list[float]] = {"solve": [], "graph": [], "backward": [], "update": [], "step": []}
    solve_time = [0.0]
    original = deq.get_solver

    def timed(name: str) -> Any:
        solve = original(name)

        def run(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            out = solve(*args, **kwargs)
            solve_time[0] += time.perf_counter() - t0
            return out
        return run

    deq.get_solver = timed
    try:
        for i in range(steps + 1):
            solve_time[0] = 0.0
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                loss = m.training_loss(net, noisy, clean)
            t1 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t2 = time.perf_counter()
            opt.step()
            m.after_step(net)
            t3 = time.perf_counter()
            if i == 0:
                continue
            times["solve"].append(solve_time[0])
            times["graph"].append(t1 - t0 - solve_time[0])
            times["backward"].append(t2 - t1)
            times["update"].append(t3 - t2)
            times["step"].append(t3 - t0)
    finally:
        deq.get_solver = original
    f_evals = int(net.last_info.get("f_evals", 0))
    return {k: statistics.median(v) for k, v in times.items()} | {"f_evals": f_evals}


def _top_ops(method: str, params: dict[str, Any], *, batch: int, patch: int, solve_iters: int,
             rows: int) -> list[dict[str, Any]]:
    from torch.profiler import ProfilerActivity, profile

    m, net, noisy, clean = _setup(method, params, batch=batch, patch=patch, solve_iters=solve_iters, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        m.training_loss(net, noisy, clean).backward()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            m.training_loss(net, noisy, clean).backward()
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events) or 1.0
    return [{"op": e.key, "calls": e.count, "self_s": e.self_cpu_time_total / 1e6,
             "share": e.self_cpu_time_total / total} for e in events[:rows]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--method", default="decsc.small")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--patch", type=int, default=32)
    ap.add_argument("--solve-iters", type=int, default=20)
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    ap.add_argument("--top", type=int, default=12, help="operators listed from the profile")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    params = _parse(args.param)
    phases = _phase_times(args.method, params, steps=args.steps, batch=args.batch, patch=args.patch,
                          solve_iters=args.solve_iters)
    ops = _top_ops(args.method, params, batch=args.batch, patch=args.patch, solve_iters=args.solve_iters,
                   rows=args.top)
    env = {"torch": torch.__version__, "threads": torch.get_num_threads(), "machine": platform.processor()
           or platform.machine(), "method": args.method, "params": params, "batch": args.batch,
           "patch": args.patch, "solve_iters": args.solve_iters}
    print(f"{args.method} {params or ''}: batch {args.batch} x {args.patch}^2, {phases['f_evals']} f-evaluations, "
          f"{env['threads']} thread(s)")
    print("phase      seconds (median of %d steps)" % args.steps)
    for k in ("solve", "graph", "backward", "update", "step"):
        print(f"{k:<10} {phases[k]:8.3f}")
    print(f"\n{'operator (one step, profiled)':<44} {'calls':>6} {'self s':>8} {'share':>6}")
    for row in ops:
        print(f"{row['op'][:44]:<44} {row['calls']:>6} {row['self_s']:8.3f} {row['share']:6.1%}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"environment": env, "phases": phases, "top_ops": ops}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
