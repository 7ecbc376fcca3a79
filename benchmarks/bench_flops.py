"""DECSC FLOPs at the paper's image size (Table IV), counted on the meta device without running the solve.

The layer f(z, y) and the reconstruction are run once on meta tensors of the given size under
`torch.utils.flop_counter.FlopCounterMode` (shapes only: no memory, no arithmetic). The solve's total is
``f-evaluations x per-f + reconstruction``, with the configured upper bound of f-evaluations
(``max_iter`` solver steps, ``phantom_steps``, and one each for ``warm_start`` and ``post_plain``); the suite's cells record the real count. Whole-image
figures and, where the configuration tiles, the tiled total are both given. The counter takes a
multiply-add as 2 FLOPs.

    .venv/bin/python benchmarks/bench_flops.py [--methods decsc,decsc.small] [--sizes 64,512] [--bands 31]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

import methods
from bench.runner import environment


def layer_flops(name: str, size: int, bands: int) -> dict[str, Any]:
    """Per-f-evaluation and reconstruction FLOPs of ``name``'s layer on one size x size x bands input."""
    meth = methods.create(name)
    net = meth.build_network().to("meta")
    y = torch.empty(1, bands, size, size, device="meta")
    with torch.no_grad():
        z = net.layer.init_state(y)
        with FlopCounterMode(display=False) as per_f:
            z = net.layer(z, y)
        with FlopCounterMode(display=False) as rec:
            net.layer.reconstruct(z, y)
    evals = (int(meth.params["max_iter"]) + int(meth.params["phantom_steps"])
             + int(bool(meth.params.get("warm_start"))) + int(bool(meth.params.get("post_plain"))))
    out = {"method": name, "size": [size, size, bands], "per_f_eval": per_f.get_total_flops(),
           "reconstruct": rec.get_total_flops(), "f_evals_bound": evals}
    out["total_whole"] = evals * out["per_f_eval"] + out["reconstruct"]
    tile, overlap = int(meth.params["tile"]), int(meth.params["overlap"])
    if size > tile:
        per_dim = math.ceil((size - tile) / (tile - overlap)) + 1
        tiled = layer_flops(name, tile, bands)
        out["tiles"] = per_dim ** 2
        out["total_tiled"] = per_dim ** 2 * (evals * tiled["per_f_eval"] + tiled["reconstruct"])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default="decsc,decsc.small")
    ap.add_argument("--sizes", default="64,512")
    ap.add_argument("--bands", type=int, default=31)
    ap.add_argument("--out", default="runs/benchmarks/bench_flops.json")
    args = ap.parse_args(argv)
    rows = [layer_flops(n.strip(), int(s), args.bands) for n in args.methods.split(",") for s in args.sizes.split(",")]
    print(f"{'method':<12} {'size':<12} {'per f-eval':>12} {'reconstruct':>12} {'f-evals':>7} {'total':>12} "
          f"{'tiled total':>12}")
    for r in rows:
        tiled = f"{r['total_tiled'] / 1e12:10.2f} T" if "total_tiled" in r else f"{'-':>12}"
        print(f"{r['method']:<12} {'x'.join(map(str, r['size'])):<12} {r['per_f_eval'] / 1e12:10.3f} T "
              f"{r['reconstruct'] / 1e12:10.3f} T {r['f_evals_bound']:>7} {r['total_whole'] / 1e12:10.2f} T {tiled}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows, "environment": environment()}, indent=2))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
