"""A synthetic results store with the runner's schema, for the report's tests and its timing benchmark.

Nothing here runs a denoiser: each "method" returns the clean cube plus a method-specific fraction of the
noise, and the scores are computed from those arrays, so tables, ranks and figures are consistent with
the artifacts. The layout (rows, artifact paths and keys) follows `bench.store` and the runner.
"""

from __future__ import annotations

import importlib.metadata
import platform
import re
from pathlib import Path

import numpy as np

from bench.seeding import stable_hash
from bench.store import Store

# name, family, version, fraction of the noise left in the estimate
DEFAULT_METHODS: tuple[tuple[str, str, str, float], ...] = (
    ("noisy", "reference", "1", 1.0),
    ("bm4d", "model-driven", "1", 0.30),
    ("lrmr", "model-driven", "1", 0.45),
    ("e3dtv", "model-driven", "1", 0.24),
    ("t3sc", "hybrid", "1", 0.16),
    ("decsc", "hybrid", "2", 0.10),
    ("decsc.noswin", "hybrid", "1", 0.13),
)
PAPER_NOISES = ("noniid-15", "noniid-55", "noniid-95", "mixture", "corr")


def write_synthetic_store(root: str | Path, *, dataset: str = "scenes31", images: int = 3, size: int = 64,
                          bands: int = 31, noises: tuple[str, ...] = PAPER_NOISES,
                          methods: tuple[tuple[str, str, str, float], ...] = DEFAULT_METHODS, seed: int = 0,
                          real_dataset: str | None = None, failed_cell: bool = False,
                          old_version_of: str | None = None, max_voxels: int = 4_200_000) -> Path:
    """Fill ``root`` with a store of ``images`` x ``noises`` x ``methods`` cells (plus optional extras).

    ``real_dataset`` adds a no-ground-truth dataset (rows with NULL scores); ``failed_cell`` adds one failed
    cell; ``old_version_of`` adds a stale version-"0" row for that method; cubes larger than ``max_voxels``
    are left out of the artifacts as the runner does for large images.
    """
    rng = np.random.default_rng(seed)
    root = Path(root)
    run_id = f"synthetic-{seed}"
    with Store(root) as st:
        st.start_run(run_id, command="synthetic store", profile="standard", seed=seed, device="cpu", clip=0,
                     env_json=_env())
        for i in range(images):
            image = f"scene{i:02d}"
            clean = _scene(rng, size, bands)
            cube_ok = clean.size <= max_voxels
            st.save_artifact(f"{dataset}/{image}/clean", **_arrays(clean, cube_ok))
            for noise in noises:
                sigma = _sigma(noise, bands, rng)
                noise_arr = rng.standard_normal(clean.shape).astype(np.float32) * sigma
                if noise == "mixture":
                    noise_arr[:, rng.choice(size, size // 10, replace=False), : bands // 3] -= 0.2
                noisy = clean + noise_arr
                folder = f"{dataset}/{image}/{_slug(noise)}"
                st.save_artifact(f"{folder}/noisy", **_arrays(noisy, cube_ok), sigma=sigma)
                for name, family, version, keep in methods:
                    est = clean + keep * noise_arr
                    st.put(_row(st, run_id, dataset, image, noise, name, family, version, keep, clean, est,
                                sigma, folder, seed, cube_ok))
            if failed_cell:
                st.put({**_ident(run_id, dataset, image, noises[0], "lrmr", "model-driven", "1", seed + 1, clean.shape),
                        "status": "failed", "error": "RuntimeError: GoDec did not converge in 100 iterations"})
            if old_version_of:
                name, family, _, keep = next(m for m in methods if m[0] == old_version_of)
                stale = clean + 0.9 * (noisy - clean)
                st.put(_row(st, run_id, dataset, image, noises[-1], name, family, "0", keep, clean, stale,
                            _sigma(noises[-1], bands, rng), f"{dataset}/{image}/{_slug(noises[-1])}", seed, cube_ok))
        if real_dataset:
            _real(st, run_id, real_dataset, rng, size, bands, methods, seed)
        st.finish_run(run_id)
    return root


def _row(st: Store, run_id: str, dataset: str, image: str, noise: str, name: str, family: str, version: str,
         keep: float, clean: np.ndarray, est: np.ndarray, sigma: np.ndarray, folder: str, seed: int,
         cube_ok: bool) -> dict:
    ident = _ident(run_id, dataset, image, noise, name, family, version, seed, clean.shape)
    psnr_band = _psnr_band(clean, est)
    art = st.save_artifact(f"{folder}/{name}-{ident['params_hash']}", **_arrays(est, cube_ok), psnr_band=psnr_band)
    info: dict = {}
    if name.startswith("decsc"):
        iters = 12
        res = np.geomspace(0.5, 8e-4, iters)
        psnr_final = float(psnr_band.mean())
        info = {"iterations": iters, "relative_residual": float(res[-1]), "residual_trace": res.tolist(),
                "psnr_trace": (psnr_final - 6.0 * np.exp(-np.arange(iters) / 2.5)).tolist(), "converged": True,
                "params_count": 4_290_000, "flops": 2.1e11}
    elif name.startswith("t3sc"):
        info = {"params_count": 832_256}
    ssim = _ssim(clean, est)
    return {**ident, "status": "ok", "psnr": float(psnr_band.mean()), "ssim": ssim, "sam": _sam(clean, est),
            "ergas": _ergas(clean, est), "metrics_json": {"psnr": float(psnr_band.mean()), "ssim": ssim},
            "clip": 0, "time_s": 0.05 + 2.0 * keep * (1 + len(name) / 10), "peak_mem_bytes": 2**20 * (50 + len(name)),
            "mem_kind": "rss", "device": "cpu", "sigma_json": sigma.tolist(), "info_json": info, "artifact": art}


def _ident(run_id: str, dataset: str, image: str, noise: str, name: str, family: str, version: str, seed: int,
           shape: tuple[int, ...]) -> dict:
    params = {"strength": name, "variant": version}
    phash = stable_hash(params, 8)
    key = stable_hash([name, version, phash, noise, dataset, image, seed, "standard"])
    h, w, b = shape
    return {"key": key, "run_id": run_id, "method": name, "method_version": version, "family": family,
            "params_json": params, "params_hash": phash, "noise": noise, "noise_params_json": {}, "dataset": dataset,
            "image": image, "seed": seed, "profile": "standard", "height": h, "width": w, "bands": b,
            "finished_at": "2026-01-01T00:00:00Z", "host": "node-b" if dataset != "scenes31" else "node-a"}


def _real(st: Store, run_id: str, dataset: str, rng: np.random.Generator, size: int, bands: int,
          methods: tuple[tuple[str, str, str, float], ...], seed: int) -> None:
    clean = _scene(rng, size, bands)
    noisy = clean + rng.standard_normal(clean.shape).astype(np.float32) * 0.08
    folder = f"{dataset}/urban/real"
    st.save_artifact(f"{folder}/noisy", **_arrays(noisy, True), sigma=np.zeros(bands, np.float32))
    for name, family, version, keep in methods:
        ident = _ident(run_id, dataset, "urban", "real", name, family, version, seed, clean.shape)
        est = clean + keep * (noisy - clean)
        art = st.save_artifact(f"{folder}/{name}-{ident['params_hash']}", **_arrays(est, True))
        st.put({**ident, "status": "ok", "clip": 0, "time_s": 0.1, "device": "cpu", "mem_kind": "rss",
                "peak_mem_bytes": 2**26, "info_json": {}, "artifact": art})


def _scene(rng: np.random.Generator, size: int, bands: int) -> np.ndarray:
    """Piecewise-smooth materials with smooth spectra, like a small natural scene."""
    yy, xx = np.mgrid[0:size, 0:size] / size
    n_mat = 5
    centres = rng.uniform(0, 1, (n_mat, 2))
    dist = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2
    labels = dist.argmin(-1)
    wl = np.linspace(0, 1, bands)
    level = rng.uniform(0.2, 0.8, (n_mat, 1))
    freq, phase = rng.uniform(0.3, 1.2, (n_mat, 1)), rng.uniform(0, 1, (n_mat, 1))
    spectra = 0.2 + 0.6 * np.clip(level + 0.4 * np.sin(2 * np.pi * (wl * freq + phase)), 0, 1)
    shade = 0.75 + 0.25 * np.sin(6 * xx + 3 * yy)[..., None]
    return (spectra[labels] * shade).astype(np.float32)


def _sigma(noise: str, bands: int, rng: np.random.Generator) -> np.ndarray:
    match = re.fullmatch(r"noniid-(\d+)", noise)
    if match:
        return (rng.uniform(0, int(match.group(1)), bands) / 255).astype(np.float32)
    if noise == "corr":
        i = np.arange(bands)
        return (23.08 * np.exp(-((i / bands - 0.5) ** 2) / (4 * 0.157**2)) / 255).astype(np.float32)
    return (rng.uniform(0, 95, bands) / 255).astype(np.float32)


def _arrays(cube: np.ndarray, with_cube: bool) -> dict[str, np.ndarray]:
    out = {"rowmean": cube.mean(axis=1).astype(np.float32), "colmean": cube.mean(axis=0).astype(np.float32),
           "rgb_bands": np.asarray([min(b, cube.shape[2] - 1) for b in (30, 16, 1)], np.int16)}
    if with_cube:
        out["cube"] = cube.astype(np.float16)
    return out


def _psnr_band(clean: np.ndarray, est: np.ndarray) -> np.ndarray:
    mse = ((clean - est) ** 2).mean(axis=(0, 1))
    return (10 * np.log10(1.0 / np.maximum(mse, 1e-12))).astype(np.float32)


def _ssim(clean: np.ndarray, est: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    return float(structural_similarity(clean, est, channel_axis=2, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, data_range=1.0))


def _sam(clean: np.ndarray, est: np.ndarray) -> float:
    dot = (clean * est).sum(-1)
    norm = np.linalg.norm(clean, axis=-1) * np.linalg.norm(est, axis=-1)
    return float(np.arccos(np.clip(dot / np.maximum(norm, 1e-12), -1, 1)).mean())


def _ergas(clean: np.ndarray, est: np.ndarray) -> float:
    mse = ((clean - est) ** 2).mean(axis=(0, 1))
    mu = clean.mean(axis=(0, 1))
    return float(100 * np.sqrt(np.mean(mse / np.maximum(mu, 1e-12) ** 2)))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def _env() -> dict[str, object]:
    def ver(pkg: str) -> str:
        try:
            return importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            return "absent"

    return {"commit": "synthetic", "host": "driver-host", "cpu_count": 2, "cuda": None, "platform": platform.platform(), "torch_threads": 1,
            "versions": {"python": platform.python_version(), "numpy": ver("numpy"), "torch": ver("torch")}}
