"""The grid runner: methods x noise x datasets x images, one committed store row per cell.

The loop loads each image once, draws each noisy input once (from the cell key, see `bench.cells`), and
hands it to every method; cells already in the store are skipped, so a killed run resumes where it stopped.
"""

from __future__ import annotations

import os
import platform
import re
import signal
import subprocess
import sys
import time
import traceback
import uuid
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

import methods as method_registry
import noise as noise_registry
from bench import datasets as dataset_registry
from bench import metrics
from bench.arrays import center_crop, check_cube
from bench.cells import noisy_input
from bench.datasets.base import HSImage
from bench.memory import PeakMemory
from bench.profiles import Profile
from bench.seeding import stable_hash
from bench.store import Store
from methods.base import Method, resolve_device
from noise.base import NoiseModel

SCORED = ("psnr", "ssim", "sam", "ergas")


@dataclass
class RunConfig:
    methods: list[str]
    noises: list[str]
    datasets: list[str]
    profile: Profile
    out: Path
    seed: int = 0
    device: str = "auto"
    rerun: bool = False
    clip: bool = False
    sigma: str = "oracle"
    images: int | None = None
    crop: int | None = None
    data_root: str | None = None
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    command: str = ""


@dataclass
class RunSummary:
    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    missing: list[str] = field(default_factory=list)


class _Interrupt:
    """Ctrl-C sets a flag; the runner stops after the cell in flight (a second Ctrl-C aborts)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: Any = None

    def __enter__(self) -> "_Interrupt":
        self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupt: stopping after the current cell (Ctrl-C again to abort)", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        signal.signal(signal.SIGINT, self._old)


def build_methods(cfg: RunConfig) -> dict[str, Method]:
    """Instantiate every selected method with the profile's presets and the user's overrides."""
    out = {}
    for name in cfg.methods:
        params = {**cfg.profile.params_for(name), **cfg.method_params.get(name, {})}
        out[name] = method_registry.create(name, **params)
    return out


def run(cfg: RunConfig, *, verbose: bool = False) -> RunSummary:
    """Run the grid described by ``cfg`` into ``cfg.out``; returns what happened."""
    with _Interrupt() as stop:
        noises = [noise_registry.parse(n) for n in cfg.noises]
        meths = build_methods(cfg)
        device = resolve_device(cfg.device)
        dsets, missing = dataset_registry.load_available(cfg.datasets, split="test", data_root=cfg.data_root,
                                                         skip_missing=cfg.profile.skip_missing)
        for text in missing:
            print(f"skipping dataset: {text}", file=sys.stderr)
        count = cfg.images if cfg.images is not None else cfg.profile.images
        env = environment()
        grid = _Grid(cfg, Store(cfg.out), device, stop, verbose)
        grid.summary.missing = missing
        grid.store.start_run(grid.run_id, command=cfg.command, profile=cfg.profile.name, seed=cfg.seed,
                             device=str(device), clip=cfg.clip, env_json=env)
        plan = [(dname, ds, i) for dname, ds in dsets for i in range(len(ds) if count is None else min(count, len(ds)))]
        grid.summary.total = sum(len(meths) * len(_noises_for(ds, noises)) for _, ds, _ in plan)
        grid.bar = _progress_bar(grid.summary.total)
        try:
            for dname, ds, idx in plan:
                keep = cfg.profile.cube_images is None or idx < cfg.profile.cube_images
                if grid.image(dname, ds, ds.ids[idx], _noises_for(ds, noises), meths, keep):
                    grid.summary.interrupted = True
                    break
        finally:
            grid.bar.close()
            grid.store.finish_run(grid.run_id)
            grid.store.close()
    return grid.summary


def _noises_for(ds: Any, noises: list[NoiseModel]) -> list[NoiseModel | None]:
    """Synthetic noise for clean data; None (the data's own noisy input) for real-noise and frozen sets."""
    return noises if ds.has_ground_truth and not ds.meta.get("noise") else [None]


@dataclass
class _Input:
    """One noisy input of the grid and where its figures' inputs are stored."""

    dataset: str
    image: HSImage
    noisy: np.ndarray
    sigma: np.ndarray | None
    noise: str
    noise_params: dict[str, Any]
    info: dict[str, Any]
    folder: str
    rgb: tuple[int, int, int]
    keep_cube: bool


class _Grid:
    """The state of one `run`: store, device, progress and what happened."""

    def __init__(self, cfg: RunConfig, store: Store, device: Any, stop: _Interrupt, verbose: bool) -> None:
        self.cfg, self.store, self.device, self.stop, self.verbose = cfg, store, device, stop, verbose
        self.run_id = uuid.uuid4().hex[:12]
        self.summary = RunSummary()
        self.bar: Any = None
        self.crop = cfg.crop if cfg.crop is not None else cfg.profile.crop

    def image(self, dname: str, ds: Any, image_id: str, noises: list[NoiseModel | None], meths: dict[str, Method],
              keep_cube: bool) -> bool:
        """Every (noise, method) cell of one image; returns True when an interrupt asked to stop."""
        image: HSImage | None = None
        for model in noises:
            cells = []
            for meth in meths.values():
                key = cell_key(meth, model, dname, image_id, self.cfg)
                if self.store.has(key) and not self.cfg.rerun:
                    self._skip()
                else:
                    cells.append((key, meth))
            if not cells:
                continue
            if image is None:
                image = _prepare(ds.get(image_id), self.crop)
                if image.clean is not None:
                    self.store.save_artifact(f"{slug(dname)}/{slug(image.id)}/clean",
                                             **_views(image.clean, ds.rgb_bands, keep_cube))
            inp = self._input(dname, ds, image, model, keep_cube)
            for key, meth in cells:
                if self.stop.requested:
                    return True
                if not self.store.claim(key) and not self.cfg.rerun:
                    self._skip()
                    continue
                row = self._cell(meth, inp, key)
                self.store.put(row, replace=True)
                self.summary.done += 1
                if row["status"] != "ok":
                    self.summary.failed.append((f"{meth.name} x {inp.noise} x {dname}/{image_id}", row["error"]))
                if self.verbose:
                    self.bar.write(_cell_line(row), file=sys.stderr)
                self.bar.update(1)
        return self.stop.requested

    def _skip(self) -> None:
        self.summary.skipped += 1
        self.bar.update(1)

    def _input(self, dname: str, ds: Any, image: HSImage, model: NoiseModel | None, keep_cube: bool) -> _Input:
        if model is not None:
            sample = noisy_input(dname, image, model, self.cfg.seed)
            noisy, sigma, info = sample.noisy, sample.sigma, sample.info
            label, params = model.spec(), model.params
            tag = f"{model.name}-{stable_hash(model.params, 8)}-s{self.cfg.seed}"
        elif ds.meta.get("noise"):
            frozen = image.meta.get("frozen_sigma")
            noisy, sigma, info = image.noisy, None if frozen is None else np.asarray(frozen), {"frozen": ds.meta}
            label, params, tag = str(ds.meta["noise"]), {}, f"{ds.meta['noise']}-frozen"
        else:
            noisy, sigma, info, label, params, tag = image.noisy, None, {"real_noise": True}, "real", {}, "real"
        assert noisy is not None
        folder = f"{slug(dname)}/{slug(image.id)}/{slug(tag)}"
        extra = {} if sigma is None else {"sigma": np.asarray(sigma, np.float32)}
        self.store.save_artifact(f"{folder}/noisy", **_views(noisy, ds.rgb_bands, keep_cube), **extra)
        return _Input(dname, image, noisy, sigma, label, params, info, folder, ds.rgb_bands, keep_cube)

    def _cell(self, meth: Method, inp: _Input, key: str) -> dict[str, Any]:
        cfg = self.cfg
        ident = meth.describe()
        h, w, b = inp.noisy.shape
        row: dict[str, Any] = {
            "key": key, "run_id": self.run_id, "method": ident["method"], "method_version": ident["version"],
            "family": meth.family, "params_json": ident["params"], "params_hash": stable_hash(ident["params"]),
            "noise": inp.noise, "noise_params_json": inp.noise_params, "dataset": inp.dataset, "image": inp.image.id,
            "seed": cfg.seed, "profile": cfg.profile.name, "height": h, "width": w, "bands": b, "clip": cfg.clip,
            "device": str(self.device), "sigma_json": None if inp.sigma is None else [float(s) for s in inp.sigma],
        }
        clean = inp.image.clean
        meth.monitor = (lambda est: metrics.psnr(clean, np.clip(est, 0, 1) if cfg.clip else est)) \
            if clean is not None and cfg.profile.trace else None
        given = inp.sigma if cfg.sigma == "oracle" else None
        try:
            with PeakMemory(self.device) as mem:
                t0 = time.perf_counter()
                est = meth.denoise(inp.noisy, sigma=given, device=self.device)
                elapsed = time.perf_counter() - t0
            est = check_cube(est, f"{meth.name} output")
            info = {"sigma_mode": "oracle" if given is not None else "estimate", "noise": inp.info, **meth.last_info}
            row.update(status="ok", error=None, time_s=elapsed, peak_mem_bytes=mem.peak, mem_kind=mem.kind,
                       info_json=info)
            arrays = _views(est, inp.rgb, inp.keep_cube)
            scored = np.clip(est, 0, 1) if cfg.clip else est
            values = metrics.no_reference(scored)
            if clean is not None:
                values.update(metrics.evaluate(clean, scored, names=SCORED))
                row.update({k: values.get(k) for k in SCORED})
                arrays["psnr_band"] = metrics.psnr_per_band(clean, scored).astype(np.float32)
            row["metrics_json"] = values
            row["artifact"] = self.store.save_artifact(f"{inp.folder}/{slug(meth.name)}-{row['params_hash']}",
                                                       **arrays)
        except KeyboardInterrupt:
            self.store.release(key)
            raise
        except Exception as exc:  # noqa: BLE001 - one cell's failure must not stop the grid
            row.update(status="failed", error=_one_line(exc), info_json={"traceback": traceback.format_exc(limit=8)})
        finally:
            meth.monitor = None
        row["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return row


def cell_key(meth: Method, model: NoiseModel | None, dataset: str, image: str, cfg: RunConfig) -> str:
    """The unique key of a cell: method identity, noise identity, data, seed and profile."""
    ident = meth.describe()
    return stable_hash({
        "method": ident["method"], "version": ident["version"], "params": stable_hash(ident["params"]),
        "noise": None if model is None else [model.name, model.params], "dataset": dataset, "image": image,
        "seed": cfg.seed, "profile": cfg.profile.name, "crop": cfg.crop, "clip": cfg.clip, "sigma": cfg.sigma,
    }, length=32)


def _prepare(image: HSImage, crop: int | None) -> HSImage:
    clean = None if image.clean is None else check_cube(center_crop(image.clean, crop), f"{image.id} clean cube")
    noisy = None if image.noisy is None else check_cube(center_crop(image.noisy, crop), f"{image.id} noisy cube")
    return HSImage(image.id, clean, noisy, image.wavelengths, image.meta)


def _views(cube: np.ndarray, rgb: tuple[int, int, int], store_cube: bool) -> dict[str, np.ndarray]:
    out = {"rowmean": cube.mean(axis=1).astype(np.float32), "colmean": cube.mean(axis=0).astype(np.float32),
           "rgb_bands": np.asarray([min(b, cube.shape[2] - 1) for b in rgb], np.int16)}
    if store_cube:
        out["cube"] = cube.astype(np.float16)
    return out


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _cell_line(row: dict[str, Any]) -> str:
    score = f"PSNR {row['psnr']:.2f} dB" if row.get("psnr") is not None else row["status"]
    if row["status"] != "ok":
        score = f"FAILED {row['error']}"
    return f"{row['method']:<16} {row['noise']:<12} {row['dataset']}/{row['image']:<14} {score}  " \
           f"{row.get('time_s') or 0:.2f}s"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text))


def environment() -> dict[str, Any]:
    """What a result depends on besides its inputs: versions, commit, machine."""
    import torch

    versions = {"python": platform.python_version()}
    for dist in ("hsi-bench", "numpy", "torch", "scipy", "scikit-image", "timm", "bm4d"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    return {"versions": versions, "commit": _git_commit(), "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch_threads": torch.get_num_threads()}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        return (out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None


def _progress_bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="cell", dynamic_ncols=True, disable=None, file=sys.stderr)

