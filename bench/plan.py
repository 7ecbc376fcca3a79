"""Plan: the cells of a grid as plain, picklable data in a stable order, checked before anything runs.

A `Cell` names everything `bench.execute.execute` needs to compute its result on any host (method and
parameters, noise spec, dataset, image, seed, profile, crop, clip, sigma mode) plus the identity fields of
its row and the store paths of its artifacts, which derive from the cell key so that two keys never share a
file. Planning instantiates methods and reads the first image of each dataset to check every noise spec
against its band count; no denoiser runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import methods as method_registry
import noise as noise_registry
from bench import datasets as dataset_registry
from bench.arrays import center_crop
from bench.errors import BenchError, UsageError
from bench.profiles import Profile
from bench.seeding import stable_hash
from methods.base import Method, resolve_device
from noise.base import NoiseModel


@dataclass
class RunConfig:
    """What `bench run` was asked for; the planner turns it into cells."""

    methods: list[str]
    noises: list[str]
    datasets: list[str]
    profile: Profile
    out: Path
    seed: int = 0
    device: str = "auto"
    rerun: bool = False
    keep_failed: bool = False
    clip: bool = False
    sigma: str = "oracle"
    images: int | None = None
    crop: int | None = None
    data_root: str | None = None
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    command: str = ""


@dataclass
class Cell:
    """One cell of the grid; everything in it is plain data, so it can travel to any process or host."""

    key: str
    method: str
    params: dict[str, Any]
    noise: str | None
    dataset: str
    image: str
    seed: int
    crop: int | None
    clip: bool
    sigma: str
    trace: bool
    flops: bool
    keep_cube: bool
    device: str
    data_root: str | None
    trainable: bool
    ident: dict[str, Any]
    artifact: str
    noisy_artifact: str
    clean_artifact: str

    @property
    def label(self) -> str:
        return f"{self.method} x {self.ident['noise']} x {self.dataset}/{self.image}"


def build_methods(cfg: RunConfig) -> dict[str, Method]:
    """Instantiate every selected method with the profile's presets and the user's overrides."""
    return {name: method_registry.create(name, **method_params(cfg, name)) for name in cfg.methods}


def method_params(cfg: RunConfig, name: str) -> dict[str, Any]:
    return {**cfg.profile.params_for(name), **cfg.method_params.get(name, {})}


def check_options(cfg: RunConfig) -> None:
    """Numeric options and the device, as usage errors before anything is loaded."""
    for flag, value, low in (("--crop", cfg.crop, 1), ("--images", cfg.images, 1), ("--seed", cfg.seed, 0)):
        if value is not None and (not isinstance(value, int) or value < low):
            bound = "a positive integer" if low else "a non-negative integer"
            raise UsageError(f"{flag} must be {bound}, got {value}")
    resolve_device(cfg.device)


def make_plan(cfg: RunConfig, missing: list[str] | None = None) -> list[Cell]:
    """Every cell of the grid in a stable order (dataset, image, noise, method), validated up front.

    A dataset whose folder is missing is left out when the profile skips missing data (its message goes to
    ``missing``). Raises `UsageError` when an option is out of range, the device is not a compute device, or a noise spec
    cannot be applied to a dataset (e.g. more stripe bands than the data has), before the first cell runs.
    """
    check_options(cfg)
    noises = [(spec, noise_registry.parse(spec)) for spec in cfg.noises]
    meths = build_methods(cfg)
    count = cfg.images if cfg.images is not None else cfg.profile.images
    cells: list[Cell] = []
    dsets, skipped = dataset_registry.load_available(list(cfg.datasets), split="test", data_root=cfg.data_root,
                                                     skip_missing=cfg.profile.skip_missing)
    if missing is not None:
        missing.extend(skipped)
    for dname, ds in dsets:
        ids = ds.ids if count is None else ds.ids[:count]
        crop = ds.crop_for(cfg.crop, cfg.profile.crop)
        models = noises if ds.has_ground_truth and not ds.meta.get("noise") else [(None, None)]
        if ids and models[0][1] is not None:
            _check_noises(dname, ds.get(ids[0]).clean, crop, [m for _, m in models])
        for idx, image_id in enumerate(ids):
            keep = cfg.profile.cube_images is None or idx < cfg.profile.cube_images
            image_dir = f"{slug(dname)}/{slug(image_id)}-{stable_hash([dname, image_id, crop, cfg.profile.name], 8)}"
            for spec, model in models:
                label, nparams, folder = _noise_identity(ds, model, cfg.seed)
                input_dir = f"{image_dir}/{folder}"
                for name, meth in meths.items():
                    key = cell_key(meth, model, dname, image_id, cfg)
                    cells.append(Cell(
                        key=key, method=name, params=method_params(cfg, name), noise=spec, dataset=dname,
                        image=image_id, seed=cfg.seed, crop=crop, clip=cfg.clip, sigma=cfg.sigma,
                        trace=cfg.profile.trace, flops=cfg.profile.flops, keep_cube=keep, device=str(cfg.device), data_root=cfg.data_root,
                        trainable=bool(meth.trainable), ident=_ident(meth, label, nparams, dname, image_id, cfg),
                        artifact=f"{input_dir}/{slug(name)}-{key}", noisy_artifact=f"{input_dir}/noisy",
                        clean_artifact=f"{image_dir}/clean"))
    return cells


def cell_key(meth: Method, model: NoiseModel | None, dataset: str, image: str, cfg: RunConfig) -> str:
    """The unique key of a cell: method identity, noise identity, data, seed, profile, crop, clip, sigma."""
    ident = meth.describe()
    fields = {
        "method": ident["method"], "version": ident["version"], "params": stable_hash(ident["params"]),
        "noise": None if model is None else [model.name, model.params], "dataset": dataset, "image": image,
        "seed": cfg.seed, "profile": cfg.profile.name, "crop": cfg.crop, "clip": cfg.clip, "sigma": cfg.sigma,
    }
    if model is None and cfg.crop is None and cfg.profile.crop is not None:
        fields["size"] = "stored"  # such sets once ran at the profile's crop; those rows keep their own keys
    return stable_hash(fields, length=32)


def _check_noises(dataset: str, clean: np.ndarray | None, crop: int | None, models: list[NoiseModel]) -> None:
    """Draw every noise model once on the dataset's first (cropped) image: bad parameters fail here."""
    if clean is None:
        return
    probe = np.full(center_crop(clean, crop).shape, 0.5, np.float32)
    for model in models:
        try:
            model.sample(probe, np.random.default_rng(0))
        except (BenchError, ValueError) as exc:
            raise UsageError(f"noise {model.spec()} cannot be applied to dataset {dataset} "
                             f"({' x '.join(map(str, probe.shape))}): {exc}") from None


def _noise_identity(ds: Any, model: NoiseModel | None, seed: int) -> tuple[str, dict[str, Any], str]:
    """(row label, row params, artifact folder) of a cell's noisy input."""
    if model is not None:
        return model.spec(), model.params, slug(f"{model.name}-{stable_hash([model.name, model.params, seed], 8)}")
    if ds.meta.get("noise"):
        return str(ds.meta["noise"]), {}, slug(f"{ds.meta['noise']}-frozen")
    return "real", {}, "real"


def _ident(meth: Method, noise: str, nparams: dict[str, Any], dataset: str, image: str,
           cfg: RunConfig) -> dict[str, Any]:
    ident = meth.describe()
    return {"method": ident["method"], "method_version": ident["version"], "family": meth.family,
            "params_json": ident["params"], "params_hash": stable_hash(ident["params"]), "noise": noise,
            "noise_params_json": nparams, "dataset": dataset, "image": image, "seed": cfg.seed,
            "profile": cfg.profile.name, "clip": cfg.clip}


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text))
