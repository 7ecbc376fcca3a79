"""The training loop behind ``bench train``: resumable, seeded, time-budgeted, exporting shippable checkpoints.

State lives in ``out`` (default ``runs/train/<method>/``): ``state.pt`` (model, optimiser, scheduler, RNG
states, epoch, log and the best weights so far) written atomically at every epoch end, ``best.pt`` +
``best.json`` (the best-validation weights as a checkpoint), and ``log.csv``. Running the same command again
continues from ``state.pt``; on CPU with one thread the result equals an uninterrupted run's.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import os
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from tqdm import tqdm

import methods
from bench import datasets
from bench.arrays import center_crop
from bench.cells import noisy_input
from bench.datasets.base import Dataset, HSImage
from bench.errors import DataError, UsageError
from bench.training.init import load_init_weights
from bench.training.sampler import PatchSampler, parse_noise_list
from methods.base import resolve_device
from methods.trainable import (CHECKPOINT_DIR, TrainableMethod, atomic_torch_save, load_checkpoint,
                               resolve_checkpoint, save_checkpoint)

#: Defaults used where neither the caller nor the method's ``train_defaults`` says otherwise.
TRAIN_DEFAULTS: dict[str, Any] = {"epochs": 30, "batch_size": 8, "lr": 1e-4, "steps_per_epoch": 100,
                                  "milestones": (), "gamma": 0.5, "val_images": 2, "val_crop": 128, "warmup": 0}
_CONFIG_KEYS = ("method", "arch", "dataset", "noise", "seed", "batch_size", "patch", "lr", "steps_per_epoch",
                "milestones", "gamma", "val_images", "val_crop", "init", "val_noise", "loss", "warmup")
#: What the run took from its --init checkpoint when it started; a resumed run keeps these.
_INIT_RECORD = ("init_changes", "init_dropped", "init_added", "init_budget")
#: What a state file written before a key existed trained with.
_CONFIG_BEFORE = {"loss": "sse", "warmup": 0}
_LOG_FIELDS = ("epoch", "loss", "val_psnr", "lr", "seconds")
#: Which epoch's weights a run ships (``bench train --select``).
SELECT = ("best", "last")


def train(method: str, *, dataset: str | Dataset = "scenes31", noise: str = "blind-mix", epochs: int | None = None,
          max_minutes: float | None = None, init: str | None = None, out: str | os.PathLike[str] | None = None,
          seed: int = 0, device: Any = None, batch_size: int | None = None, patch: int = 64,
          lr: float | None = None, steps_per_epoch: int | None = None, val_images: int | None = None,
          val_crop: int | None = None, milestones: Sequence[int] | None = None, gamma: float | None = None,
          val_noise: str | None = None, params: dict[str, Any] | None = None, export: str | None = None,
          progress: bool = True, data_bands: int | None = None, data_root: str | None = None,
          min_converged: float | None = None, select: str = "best", warmup: int | None = None) -> Path:
    """Train the registered trainable ``method`` and return the path of its selected checkpoint (``best.pt``).

    ``dataset`` is a registered name (its ``train`` split trains, its ``val`` split validates) or a `Dataset`
    of training images (validation then uses the last one). Unset options come from the method's
    ``train_defaults``, then `TRAIN_DEFAULTS`. ``noise`` is a comma list of noise specs sampled uniformly per
    patch; validation uses ``val_noise`` (default: the same list). ``max_minutes`` stops at the first epoch
    boundary where another epoch would overrun the budget. ``export`` writes
    ``methods/checkpoints/<export>.pt`` (+ .json) and that path is returned instead. ``data_bands`` (``--bands``)
    is the band count the training data must have (e.g. Houston 2018's 46 when fine-tuning on the test domain);
    ``data_root`` is where external datasets are read from. ``min_converged`` (a DEQ's ``--min-converged``)
    keeps as best only epochs whose validation solves converged at least that often, so the shipped weights are
    an equilibrium model and not merely the sharpest unrolled one. ``select`` is ``best`` (the best-validation
    epoch) or ``last`` (the final epoch, within ``min_converged``), so that a budget-matched comparison ships
    exactly ``epochs`` x ``steps_per_epoch`` optimiser steps instead of wherever validation peaked.
    ``warmup`` is a number of optimiser steps over which the learning rate rises linearly from lr / warmup to lr:
    a fresh Adam takes steps of about lr on every parameter at first, whatever its gradient's noise, which is
    enough to knock a trained equilibrium (``--init``) out of convergence before its moments settle.
    """
    if select not in SELECT:
        raise UsageError(f"--select: unknown choice {select!r}; choose from {', '.join(SELECT)}")
    model = methods.create(method, **(params or {}))
    if not isinstance(model, TrainableMethod):
        raise UsageError(f"method {method!r} is not trainable")
    if min_converged is not None and type(model).train_stats is TrainableMethod.train_stats:
        raise UsageError(f"--min-converged: {method} has no solver that reports convergence (a DEQ such as decsc)")
    cfg = _resolve_config(model, dict(epochs=epochs, batch_size=batch_size, lr=lr, steps_per_epoch=steps_per_epoch,
                                      val_images=val_images, val_crop=val_crop, milestones=milestones, gamma=gamma,
                                      warmup=warmup))
    ds_name = dataset.name if isinstance(dataset, Dataset) else str(dataset)
    cfg.update(method=method, arch=model.arch(), dataset=ds_name, noise=noise, seed=int(seed), patch=int(patch),
               init=str(init) if init else None, val_noise=val_noise or noise, min_converged=min_converged,
               select=select, loss=model.loss_name())
    out_dir = Path(out) if out is not None else Path("runs") / "train" / method
    out_dir.mkdir(parents=True, exist_ok=True)
    dev = resolve_device(device)

    noises = parse_noise_list(noise)
    bands = int(model.params["bands"])
    if isinstance(dataset, Dataset):
        cubes = [_checked(img.clean, ds_name, img.id) for img in dataset]
        weights = [1.0] * len(cubes)
        cfg["data_bands"] = sorted({c.shape[2] for c in cubes})
    else:
        cubes, weights, cfg["data_bands"] = _training_cubes(ds_name, bands, data_root=data_root)
    if data_bands is not None and cfg["data_bands"] != [int(data_bands)]:
        raise DataError(f"{ds_name}: training images have {', '.join(map(str, cfg['data_bands']))} bands, not the "
                        f"{data_bands} given with --bands")
    cfg["data_root"] = data_root
    sampler = PatchSampler(cubes, noises, patch=patch, weights=weights)
    if sampler.bands != bands:
        raise DataError(f"{ds_name}: training images have {sampler.bands} bands, {method} is built for "
                        f"{model.params['bands']}")
    val = _validation_set(None if isinstance(dataset, Dataset) else ds_name, ds_name,
                          parse_noise_list(cfg["val_noise"]), cfg, seed=int(seed), fallback=cubes, bands=bands)

    net, opt, sched, rng, state = _start(model, cfg, out_dir, dev, init)
    log: list[dict[str, Any]] = state["log"]
    best: dict[str, Any] = state["best"]
    started = time.monotonic()
    last_epoch_s = 0.0
    for epoch in range(state["epoch"] + 1, cfg["epochs"] + 1):
        if max_minutes is not None and last_epoch_s and \
                time.monotonic() - started + last_epoch_s > 60.0 * max_minutes:
            break
        t0 = time.monotonic()
        loss, stats = _run_epoch(model, net, opt, sampler, rng, cfg, dev, epoch=epoch, progress=progress)
        lr_used = opt.param_groups[0]["lr"]
        sched.step()
        psnr, val_stats = _validate(model, net, val, dev)
        last_epoch_s = time.monotonic() - t0
        log.append({"epoch": epoch, "loss": loss, "val_psnr": psnr, "lr": lr_used, "seconds": round(last_epoch_s, 3),
                    **stats, **{f"val_{k}": v for k, v in val_stats.items()}})
        if (select == "last" or psnr > best["psnr"]) and _converged_enough(val_stats, min_converged):
            best = {"psnr": psnr, "epoch": epoch,
                    "state_dict": {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}}
            save_checkpoint(out_dir / "best.pt", best["state_dict"], _manifest(model, cfg, best, epoch, log, dev))
        _save_state(out_dir, net, opt, sched, rng, epoch, log, best, cfg)
        _write_log(out_dir / "log.csv", log)
    if best["state_dict"] is None:
        if log and min_converged is not None:
            raise DataError(f"{method}: no epoch's validation solves converged in {min_converged:.0%} of cases "
                            f"(--min-converged; log in {out_dir / 'log.csv'})")
        raise DataError(f"{method}: no epoch was trained (epochs={cfg['epochs']}, state in {out_dir})")
    done = log[-1]["epoch"] if log else 0
    manifest = _manifest(model, cfg, best, done, log, dev)
    save_checkpoint(out_dir / "best.pt", best["state_dict"], manifest)
    if export:
        target = CHECKPOINT_DIR / f"{export}.pt"
        save_checkpoint(target, best["state_dict"], manifest)
        return target
    return out_dir / "best.pt"


def _converged_enough(val_stats: dict[str, float], min_converged: float | None) -> bool:
    """Whether an epoch may become the best one: its mean validation convergence reaches ``min_converged``."""
    if min_converged is None:
        return True
    return val_stats.get("converged", 0.0) >= min_converged


def _resolve_config(model: TrainableMethod, given: dict[str, Any]) -> dict[str, Any]:
    own = getattr(model, "train_defaults", {}) or {}
    cfg = {k: (given.get(k) if given.get(k) is not None else own.get(k, TRAIN_DEFAULTS[k])) for k in TRAIN_DEFAULTS}
    cfg["milestones"] = [int(m) for m in cfg["milestones"]]
    for key in ("epochs", "batch_size", "steps_per_epoch", "val_images", "val_crop"):
        cfg[key] = int(cfg[key])
        if cfg[key] < 1:
            raise UsageError(f"train: {key} must be >= 1, got {cfg[key]}")
    cfg["warmup"] = int(cfg["warmup"])
    if cfg["warmup"] < 0:
        raise UsageError(f"train: warmup must be >= 0 steps, got {cfg['warmup']}")
    cfg["lr"], cfg["gamma"] = float(cfg["lr"]), float(cfg["gamma"])
    return cfg


def band_groups(cube: np.ndarray, bands: int) -> list[np.ndarray]:
    """Contiguous groups of ``bands`` bands covering an H x W x B cube (the last one aligned to the end).

    This is how a cube with more bands than a network takes part in its training and validation; a cube
    with exactly ``bands`` bands is its own single group and one with fewer yields none.
    """
    total = cube.shape[2]
    if total < bands:
        return []
    starts = list(range(0, total - bands + 1, bands))
    if starts[-1] + bands < total:
        starts.append(total - bands)
    return [np.ascontiguousarray(cube[:, :, s:s + bands]) for s in starts]


def _dataset_names(spec: str) -> list[str]:
    names = [n.strip() for n in spec.split(",")]
    if not all(names):
        raise UsageError(f"--dataset: malformed list {spec!r}")
    return names


def _training_cubes(spec: str, bands: int, *, data_root: str | None = None
                    ) -> tuple[list[np.ndarray], list[float], list[int]]:
    """Training cubes of every dataset in the comma list ``spec``, cut into ``bands``-band groups.

    Each dataset gets the same total sampling weight (patches come from each as often, whatever its
    number and size of images), so a small second dataset is not drowned by a large first one.
    """
    cubes: list[np.ndarray] = []
    weights: list[float] = []
    found: set[int] = set()
    for name in _dataset_names(spec):
        images = [_checked(img.clean, name, img.id) for img in datasets.load(name, split="train",
                                                                              data_root=data_root)]
        found.update(c.shape[2] for c in images)
        own = [g for c in images for g in band_groups(c, bands)]
        if not own:
            raise DataError(f"{name}: no training image has the {bands} bands the network needs")
        area = float(sum(c.shape[0] * c.shape[1] for c in own))
        cubes += own
        weights += [1.0 / area] * len(own)
    return cubes, weights, sorted(found)


def _checked(cube: np.ndarray | None, dataset: str, image_id: str) -> np.ndarray:
    if cube is None:
        raise DataError(f"{dataset}/{image_id}: no clean cube to train on")
    return cube


def _validation_set(registered: str | None, dataset: str, noises: list, cfg: dict[str, Any], *, seed: int,
                    fallback: list[np.ndarray], bands: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Fixed (noisy, clean) validation pairs: centre crops of each dataset's val split under every training
    noise, cut into ``bands``-band groups.

    Without a val split, the last training image is used. The noisy inputs come from `noisy_input`, so they
    are the same bytes in every run with this seed.
    """
    sources: list[tuple[str, list[HSImage]]] = []
    for name in _dataset_names(registered) if registered is not None else []:
        try:
            val_split = datasets.load(name, split="val", data_root=cfg.get("data_root"))
            sources.append((name, list(val_split)[:cfg["val_images"]]))
        except UsageError:
            continue
    if not any(images for _, images in sources):
        sources = [(dataset, [HSImage(id="train-last", clean=fallback[-1])])]
    pairs = []
    for name, images in sources:
        for img in images:
            for k, group in enumerate(band_groups(center_crop(img.clean, cfg["val_crop"]), bands)):
                crop = HSImage(id=f"{img.id}-g{k}", clean=group)
                for model in noises:
                    pairs.append((noisy_input(name, crop, model, seed).noisy, crop.clean))
    return pairs


def _start(model: TrainableMethod, cfg: dict[str, Any], out_dir: Path, dev: torch.device, init: str | None):
    """Build (or resume) network, optimiser, scheduler and RNG; returns them with the progress state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(cfg["seed"])
        net = model.build_network()
    path = out_dir / "state.pt"
    saved = torch.load(path, map_location="cpu", weights_only=False) if path.is_file() else None
    if saved is not None:
        old = {k: saved["config"].get(k, _CONFIG_BEFORE.get(k)) for k in _CONFIG_KEYS}
        new = {k: cfg.get(k) for k in _CONFIG_KEYS}
        if old != new:
            diff = ", ".join(f"{k}: {old[k]!r} -> {new[k]!r}" for k in _CONFIG_KEYS if old[k] != new[k])
            raise UsageError(f"{path} was written by a different training setup ({diff}); use another --out")
        # What the run started from, as it was then: the checkpoint --init names may have been replaced since.
        cfg.update({k: saved["config"].get(k) for k in _INIT_RECORD})
    elif init:
        src = model.checkpoint_path() if init == "default" else resolve_checkpoint(init, what="--init: checkpoint")
        weights, manifest = load_checkpoint(src)
        cfg["init_changes"] = model.check_manifest(manifest, src, arch_may_differ=True) or None
        cfg["init_dropped"], cfg["init_added"] = load_init_weights(net, weights, src, model.name,
                                                                   cfg["init_changes"])
        cfg["init_budget"] = _recorded_budget(manifest)
    net.to(dev)
    opt = torch.optim.Adam(net.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=cfg["milestones"], gamma=cfg["gamma"])
    rng = np.random.default_rng(cfg["seed"])
    state: dict[str, Any] = {"epoch": 0, "log": [], "best": {"psnr": -np.inf, "epoch": 0, "state_dict": None}}
    if saved is not None:
        net.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        rng.bit_generator.state = saved["np_rng"]
        torch.set_rng_state(saved["torch_rng"])
        state = {"epoch": saved["epoch"], "log": saved["log"], "best": saved["best"]}
    return net, opt, sched, rng, state


def _run_epoch(model: TrainableMethod, net: torch.nn.Module, opt: torch.optim.Optimizer, sampler: PatchSampler,
               rng: np.random.Generator, cfg: dict[str, Any], dev: torch.device, *, epoch: int,
               progress: bool) -> float:
    net.train()
    total = 0.0
    stats: list[dict[str, float]] = []
    bar = tqdm(range(cfg["steps_per_epoch"]), desc=f"epoch {epoch}/{cfg['epochs']}", disable=not progress,
               leave=False, dynamic_ncols=True)
    scheduled = [group["lr"] for group in opt.param_groups]
    for i in bar:
        step = (epoch - 1) * cfg["steps_per_epoch"] + i + 1
        _set_lrs(opt, scheduled, min(1.0, step / cfg["warmup"]) if cfg["warmup"] else 1.0)
        noisy, clean = sampler.batch(cfg["batch_size"], rng)
        noisy, clean = noisy.to(dev), clean.to(dev)
        loss = model.training_loss(net, noisy, clean)
        if not torch.isfinite(loss):
            raise DataError(f"{model.name}: training loss became {float(loss)} at epoch {epoch}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.after_step(net)
        total += float(loss.detach())
        stats.append(model.train_stats(net))
        bar.set_postfix(loss=f"{float(loss.detach()):.4g}")
    _set_lrs(opt, scheduled, 1.0)
    return total / cfg["steps_per_epoch"], _mean_stats(stats)


def _set_lrs(opt: torch.optim.Optimizer, scheduled: list[float], factor: float) -> None:
    """Scale the epoch's scheduled learning rates for one step; the scheduler only ever sees them unscaled."""
    for group, lr in zip(opt.param_groups, scheduled):
        group["lr"] = lr * factor


def _mean_stats(stats: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for row in stats for k in row})
    return {k: round(float(np.mean([row[k] for row in stats if k in row])), 6) for k in keys}


def _validate(model: TrainableMethod, net: torch.nn.Module, val: list[tuple[np.ndarray, np.ndarray]],
              dev: torch.device) -> tuple[float, dict[str, float]]:
    """Mean over validation pairs of the band-averaged PSNR (peak 1) of the network's output, and the mean
    of the method's `train_stats` over those passes (e.g. a DEQ's solver iterations and convergence)."""
    net.eval()
    scores = []
    stats: list[dict[str, float]] = []
    with torch.no_grad():
        for noisy, clean in val:
            x = torch.from_numpy(noisy.transpose(2, 0, 1)[None].copy()).to(dev)
            est = model.apply_network(net, x)[0].permute(1, 2, 0).double().cpu().numpy()
            if model.params.get("clamp"):
                est = np.clip(est, 0.0, 1.0)
            mse = np.mean((est - clean.astype(np.float64)) ** 2, axis=(0, 1))
            scores.append(float(np.mean(10.0 * np.log10(1.0 / np.maximum(mse, 1e-12)))))
            stats.append(model.train_stats(net))
    return float(np.mean(scores)), _mean_stats(stats)


def _manifest(model: TrainableMethod, cfg: dict[str, Any], best: dict[str, Any], epochs_done: int,
              log: list[dict[str, Any]], dev: torch.device) -> dict[str, Any]:
    n_params = sum(int(v.numel()) for v in best["state_dict"].values())
    return {**model.manifest_base(), "dataset": cfg["dataset"], "noise": cfg["noise"],
            "val_noise": cfg["val_noise"], "epochs": epochs_done,
            "budget": _budget(cfg, best, log, dev),
            "best_epoch": best["epoch"], "best_val_psnr": round(float(best["psnr"]), 4), "seed": cfg["seed"],
            "parameters": n_params, "init": cfg["init"], "init_changes": cfg.get("init_changes"),
            "init_dropped": cfg.get("init_dropped"), "init_added": cfg.get("init_added"),
            "data_bands": cfg.get("data_bands"),
            "training": {k: cfg[k] for k in ("batch_size", "patch", "lr", "steps_per_epoch", "milestones", "gamma",
                                              "val_images", "val_crop", "min_converged", "select", "loss", "warmup")},
            "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}


def _budget(cfg: dict[str, Any], best: dict[str, Any], log: list[dict[str, Any]], dev: torch.device) -> dict[str, Any]:
    """What the best weights cost: optimiser steps, patches seen and training wall time up to the best epoch,
    summed over the ``--init`` chain they continue (read from the init checkpoint's manifest)."""
    steps = int(best["epoch"]) * cfg["steps_per_epoch"]
    seconds = float(sum(row["seconds"] for row in log if row["epoch"] <= best["epoch"]))
    own = {"steps": steps, "patches": steps * cfg["batch_size"], "seconds": round(seconds, 1),
           "device": dev.type, "threads": torch.get_num_threads() if dev.type == "cpu" else None,
           "loss": cfg["loss"]}
    before = cfg.get("init_budget")
    if before is None:
        return {**own, "chain": [own]}
    chain = [*before.get("chain", [before]), own]
    total_seconds = [c.get("seconds") for c in chain]
    return {"steps": sum(int(c["steps"]) for c in chain), "patches": sum(int(c["patches"]) for c in chain),
            "seconds": None if None in total_seconds else round(sum(total_seconds), 1),
            "device": "+".join(dict.fromkeys(str(c["device"]) for c in chain)), "chain": chain}


def _recorded_budget(manifest: dict[str, Any]) -> dict[str, Any]:
    """The budget in a checkpoint's manifest; older manifests give it from their epochs x steps per epoch."""
    if "budget" in manifest:
        return manifest["budget"]
    training = manifest.get("training", {})
    steps = int(manifest.get("best_epoch") or manifest.get("epochs") or 0) * int(training.get("steps_per_epoch", 0))
    return {"steps": steps, "patches": steps * int(training.get("batch_size", 0)), "seconds": None,
            "device": "cpu"}


def _save_state(out_dir: Path, net: torch.nn.Module, opt: torch.optim.Optimizer, sched: Any,
                rng: np.random.Generator, epoch: int, log: list[dict[str, Any]], best: dict[str, Any],
                cfg: dict[str, Any]) -> None:
    atomic_torch_save({"model": net.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                       "np_rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "epoch": epoch,
                       "log": log, "best": best, "config": cfg}, out_dir / "state.pt")


def _write_log(path: Path, log: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    extra = sorted({k for row in log for k in row} - set(_LOG_FIELDS))
    writer = csv.DictWriter(buf, fieldnames=[*_LOG_FIELDS, *extra], lineterminator="\n")
    writer.writeheader()
    writer.writerows(log)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)
