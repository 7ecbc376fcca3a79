"""hyres, hyminor and fasthyde against the HyDe toolbox (PyPI ``hyde-images``) on the same noisy cubes.

HyDe is not a dependency: install it apart, e.g. ``pip install --no-deps --target DIR hyde-images kornia
kornia_rs pytorch_wavelets "setuptools<80"``, and pass ``--hyde-path DIR`` (or set ``HSIBENCH_HYDE``); without
it the script says so and does nothing, so ``./run_all.sh bench`` still runs the other benchmarks. The cubes are the committed
reference cubes of `tests/test_baselines.reference_cube` (one per seed). Besides PSNR and process-CPU
seconds it prints the PSNR of a plain rank-k projection of the whitened cube at HyDe's HyRes rank, which
shows what HyDe's HyRes computes. Writes JSON under ``runs/benchmarks/``.

    .venv/bin/python benchmarks/bench_hyde.py --hyde-path /path/to/hyde [--seeds 7,8,9]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

import methods
from bench.runner import environment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_baselines import _psnr, reference_cube  # noqa: E402


def _cpu(fn: Callable[[], Any]) -> tuple[Any, float]:
    t = time.process_time()
    out = fn()
    return out, time.process_time() - t


def _projection_psnr(clean: np.ndarray, noisy: np.ndarray, sigma: list[float], rank: int) -> float:
    flat = torch.from_numpy(noisy.reshape(-1, noisy.shape[2]).astype(np.float64))
    sig = torch.tensor(sigma, dtype=torch.float64)
    u, s, vh = torch.linalg.svd(flat / sig, full_matrices=False)
    est = ((u[:, :rank] * s[:rank]) @ vh[:rank]) * sig
    return _psnr(clean, est.reshape(noisy.shape).numpy())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hyde-path", default=os.environ.get("HSIBENCH_HYDE"), help="folder holding the hyde package")
    ap.add_argument("--seeds", default="7,8,9")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="runs/benchmarks/bench_hyde.json")
    args = ap.parse_args(argv)
    if not args.hyde_path:
        print("bench_hyde: no HyDe toolbox given (--hyde-path or HSIBENCH_HYDE); nothing compared", file=sys.stderr)
        return 0
    sys.path.insert(0, args.hyde_path)
    import hyde

    torch.set_num_threads(args.threads)
    pairs: list[tuple[str, dict[str, Any], Callable[[torch.Tensor], torch.Tensor]]] = [
        ("hyres", {}, lambda x: hyde.HyRes()(x)),
        ("hyminor", {}, lambda x: hyde.HyMiNoR()(x)),
        ("fasthyde", {"iid": True}, lambda x: hyde.FastHyDe()(x, noise_type="additive", iid=True, k_subspace=10,
                                                              normalize=False)),
        ("fasthyde", {}, lambda x: hyde.FastHyDe()(x, noise_type="additive", iid=False, k_subspace=10,
                                                   normalize=False)),
    ]
    rows = []
    print(f"{'cube':>4} {'method':<16} {'noisy':>6} {'ours':>7} {'HyDe':>7} {'diff':>6} {'ours s':>7} {'HyDe s':>7}")
    for seed in (int(s) for s in args.seeds.split(",")):
        clean, noisy = reference_cube(seed=seed)
        for name, params, theirs in pairs:
            meth = methods.create(name, **params)
            ours, t_ours = _cpu(lambda: meth.denoise(noisy))
            ref, t_ref = _cpu(lambda: theirs(torch.from_numpy(noisy.astype(np.float64))))
            label = name + "".join(f" {k}={v}" for k, v in params.items())
            rec = {"cube_seed": seed, "method": name, "params": params, "psnr_noisy": _psnr(clean, noisy),
                   "psnr_ours": _psnr(clean, ours), "psnr_hyde": _psnr(clean, ref.double().numpy()),
                   "cpu_s_ours": t_ours, "cpu_s_hyde": t_ref, "info": meth.last_info}
            rows.append(rec)
            print(f"{seed:>4} {label:<16} {rec['psnr_noisy']:6.2f} {rec['psnr_ours']:7.3f} {rec['psnr_hyde']:7.3f} "
                  f"{rec['psnr_ours'] - rec['psnr_hyde']:+6.2f} {t_ours:7.2f} {t_ref:7.2f}", flush=True)
        sig = rows[-4]["info"]["sigma_per_band"]
        for rank in range(1, 9):
            proj = _projection_psnr(clean, noisy, sig, rank)
            if abs(proj - rows[-4]["psnr_hyde"]) < 1e-3:
                print(f"     HyDe's HyRes equals the rank-{rank} projection of the whitened cube ({proj:.3f} dB)")
                rows[-4]["hyde_equals_projection_rank"] = rank
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows, "environment": environment()}, indent=2,
                              default=str))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
