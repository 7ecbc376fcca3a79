"""Time `reports.build_html` on a synthetic store the size of the ``standard`` run.

3 images x 5 noise models x 7 methods at 64 x 64 x 31, plus one no-ground-truth dataset. The budget is
30 s on the 2-core CPU; the script exits 1 when a build takes longer.

    python -m benchmarks.bench_report [--out runs/bench-report] [--repeat 2]   (from the repository root)
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from reports import build_html
from reports.synthetic import write_synthetic_store

BUDGET_S = 30.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs") / "bench-report")
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args(argv)
    if args.out.exists():
        shutil.rmtree(args.out)
    t0 = time.perf_counter()
    write_synthetic_store(args.out, images=3, size=64, bands=31, real_dataset="realnoise", failed_cell=True)
    print(f"synthetic store written in {time.perf_counter() - t0:.1f} s: {args.out}")
    times, cpu = [], []
    for _ in range(args.repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        dest = build_html(args.out)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    size_kib = dest.stat().st_size / 1024
    print(f"build_html wall: {', '.join(f'{t:.2f}' for t in times)} s (budget {BUDGET_S:.0f} s); "
          f"CPU: {', '.join(f'{t:.2f}' for t in cpu)} s; {dest} {size_kib:.0f} KiB")
    return 0 if max(times) <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
