"""Selective-scan benchmark: the chunked pure-torch scan against the step-by-step recurrence in decsc.mamba.

Times one layer pass f(z, y) of the paper-size ``decsc.mamba`` (random weights) on a 64 x 64 x 31 cube with
each scan backend (same weights, same state), checks that both give the same f to 1e-5 (relative), and
times full forwards (warm start, 20 Anderson f-evaluations, one plain and five damped steps: 27 layer
passes) with the chunked scan and, with ``--full-naive``, with the recurrence too. Each timing also sums the
wall time of the selective-scan calls inside it (four per pass, one per VMamba stage), so the table shows
the scan's own ratio next to the whole pass's or forward's, where the dictionaries' and Net2's
convolutions, which do not depend on the scan, dilute it.

Run: ``python benchmarks/bench_scan.py [--size 64] [--threads 1] [--full-naive]``. Prints a table and writes
``runs/benchmarks/bench_scan.json`` with the environment.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _timed(fn):
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


class _ScanClock:
    """Wall time and call count of the selective-scan calls the VMamba prox makes (the rest is the network)."""

    def __init__(self, vmamba) -> None:
        self.seconds, self.calls = 0.0, 0
        self._module, self._scan = vmamba, vmamba.selective_scan

    def __enter__(self) -> "_ScanClock":
        def timed(*args, **kwargs):
            t0 = time.perf_counter()
            out = self._scan(*args, **kwargs)
            self.seconds += time.perf_counter() - t0
            self.calls += 1
            return out

        self._module.selective_scan = timed
        return self

    def __exit__(self, *exc) -> None:
        self._module.selective_scan = self._scan


def main() -> None:
    import methods
    from methods.decsc import vmamba

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--full-naive", action="store_true", help="also time a whole forward with the recurrence")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    m = methods.create("decsc.mamba", fail_bound=1e9)
    net = m.build_network().eval()
    y = 0.5 + 0.1 * torch.randn(1, 31, args.size, args.size, generator=torch.Generator().manual_seed(1))
    prox = net.layer.prox_s
    results: dict[str, dict[str, float]] = {}
    with torch.no_grad():
        z = net.layer.init_state(y)
        outs = {}
        for backend in ("chunked", "naive"):
            prox.set_scan(backend)
            with _ScanClock(vmamba) as clock:
                outs[backend], wall, cpu = _timed(lambda: net.layer(z, y))
            results[f"pass/{backend}"] = {"wall_s": wall, "cpu_s": cpu, "scan_s": clock.seconds,
                                          "scan_calls": clock.calls}
        diff = float((outs["chunked"] - outs["naive"]).norm() / outs["naive"].norm())
        for backend in ("chunked", "naive") if args.full_naive else ("chunked",):
            prox.set_scan(backend)
            with warnings.catch_warnings(), _ScanClock(vmamba) as clock:
                warnings.simplefilter("ignore", RuntimeWarning)
                _, wall, cpu = _timed(lambda: net(y))
            results[f"forward/{backend}"] = {"wall_s": wall, "cpu_s": cpu, "scan_s": clock.seconds,
                                             "scan_calls": clock.calls,
                                             "f_evals": 7 + net.last_info["iterations"]}
    ratios = {f"{what}/{key}": results[f"{what}/naive"][key] / results[f"{what}/chunked"][key]
              for what in ("pass", "forward") if f"{what}/naive" in results for key in ("scan_s", "wall_s")}
    print(f"decsc.mamba, {args.size} x {args.size} x 31, {args.threads} thread(s); f(chunked) vs f(naive): "
          f"relative difference {diff:.2e}")
    for key, r in results.items():
        print(f"  {key:18s} wall {r['wall_s']:8.2f} s   cpu {r['cpu_s']:8.2f} s   "
              f"in {r['scan_calls']} scan calls {r['scan_s']:8.2f} s")
    for key, ratio in ratios.items():
        what, part = key.split("/")
        label = "the scan calls" if part == "scan_s" else "everything"
        print(f"  time ratio naive / chunked, one {'layer pass' if what == 'pass' else 'whole forward'}, "
              f"{label}: {ratio:.1f}x")
    out = ROOT / "runs" / "benchmarks" / "bench_scan.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    env = {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
           "cpus": os.cpu_count(), "load": os.getloadavg()[0], "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    out.write_text(json.dumps({"results": results, "relative_difference": diff, "ratios": ratios,
                               "size": args.size, "threads": args.threads, "env": env}, indent=2) + "\n")


if __name__ == "__main__":
    main()
