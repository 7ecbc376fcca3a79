"""Where each method's error lies in spatial frequency, read from a results store (no method is rerun).

Per noise row and method, the mean squared error of the stored cubes is split into radial frequency bands
(`bench.metrics.spectrum.error_by_frequency`): the share g of the clean content each band keeps, the bias
(detail smoothed away) and the rest (noise left in). Two methods with the same PSNR can lose it in different
places; this says where, e.g. whether a learned model's gap is lost fine detail or leftover noise.

Run: ``python benchmarks/bench_error_spectrum.py [--store runs/standard] [--methods decsc.small,t3sc.small]
[--noise noniid-55,corr]``. It needs a store whose cells kept their cubes (``./run_all.sh`` writes one);
without one at the default path it says so and skips. Prints a table per noise row and writes
``runs/benchmarks/bench_error_spectrum.json`` with the environment.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_STORE = ROOT / "runs" / "standard"


def spectra(store: Path, *, methods: list[str] | None, noises: list[str] | None) -> list[dict[str, Any]]:
    """Per (dataset, noise, method): the frequency bands averaged over the images that kept their cubes."""
    from bench.errors import UsageError
    from bench.metrics.spectrum import error_by_frequency
    from reports.data import cell_artifacts, load_results, npz_cube, pick

    res = load_results(store)
    ok = res.ok
    columns = res.columns(ok)
    chosen = [pick(m, columns, "method") for m in methods] if methods else columns
    rows = [pick(n, sorted(set(ok["noise"])), "noise") for n in noises] if noises else list(dict.fromkeys(ok["noise"]))
    out = []
    for (dataset, noise, column), sub in ok.groupby(["dataset", "noise", "column"], sort=False):
        if column not in chosen or noise not in rows:
            continue
        per_image = []
        for artifact in sub["artifact"]:
            arrays = cell_artifacts(res.root, artifact)
            est, clean = npz_cube(arrays.estimate), npz_cube(arrays.clean)
            if est is not None and clean is not None:
                per_image.append(error_by_frequency(clean, est))
        if not per_image:
            continue
        bands = [{k: float(np.mean([img[i][k] for img in per_image])) for k in per_image[0][i]}
                 for i in range(len(per_image[0]))]
        mse = sum(b["bias"] + b["rest"] for b in bands)
        out.append({"dataset": dataset, "noise": noise, "method": column, "images": len(per_image),
                    "mse": mse, "bands": bands})
    if not out:
        raise UsageError(f"{store}: no cell of the chosen methods and noise rows kept its cube and clean cube")
    order = {c: i for i, c in enumerate(columns)}
    return sorted(out, key=lambda r: (r["dataset"], rows.index(r["noise"]), order[r["method"]]))


def _print(results: list[dict[str, Any]]) -> None:
    key = None
    for r in results:
        if (r["dataset"], r["noise"]) != key:
            key = (r["dataset"], r["noise"])
            heads = [f"{b['low']:g}-{min(b['high'], 1.42):.3g}" for b in r["bands"]]
            print(f"\n{r['dataset']} / {r['noise']}: per band (x Nyquist) kept share g, bias and rest of the "
                  "MSE (x 1e-4); mean over images")
            print(f"{'method':<16}" + "".join(f"{h:>24}" for h in heads) + f"{'MSE x 1e-4':>12}")
        cells = "".join(f"{b['gain']:>8.3f}{b['bias'] * 1e4:>8.3f}{b['rest'] * 1e4:>8.3f}" for b in r["bands"])
        print(f"{r['method']:<16}{cells}{r['mse'] * 1e4:>12.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--store", help=f"results store (default: {DEFAULT_STORE.relative_to(ROOT)})")
    ap.add_argument("--methods", help="comma list of method columns (default: all)")
    ap.add_argument("--noise", help="comma list of noise rows (default: all)")
    ap.add_argument("--out", default=str(ROOT / "runs" / "benchmarks" / "bench_error_spectrum.json"))
    args = ap.parse_args(argv)
    from bench import store as _store
    from bench.errors import BenchError, UsageError
    from bench.runner import environment

    store = Path(args.store) if args.store else DEFAULT_STORE
    if args.store is None and not (store / _store.DB_NAME).is_file():
        print(f"bench_error_spectrum: no results store at {store} (./run_all.sh writes one); skipped")
        return 0
    try:
        results = spectra(store, methods=args.methods.split(",") if args.methods else None,
                          noises=args.noise.split(",") if args.noise else None)
    except UsageError as exc:
        print(f"bench_error_spectrum: {exc}", file=sys.stderr)
        return 2
    except BenchError as exc:
        print(f"bench_error_spectrum: {exc}", file=sys.stderr)
        return 1
    _print(results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": environment(), "store": str(store), "results": results}, indent=2)
                   + "\n")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
