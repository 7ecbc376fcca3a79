"""Learned denoisers: network building, checkpoint loading with manifest checks, tiled inference.

A checkpoint is ``torch.save({"state_dict": ..., "manifest": {...}})`` with a JSON copy of the manifest
beside it (``<name>.json``) that adds the file's sha256. Shipped checkpoints live in
``methods/checkpoints/<registered name>.pt``; ``checkpoint=None`` selects the one of the method's own name.
A checkpoint that does not fit the configured network (other method, version, band count or architecture)
is refused with a message naming the checkpoint and both values, never loaded into a wrong answer.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import DataError, UsageError
from bench.tiling import EDGES, band_groups, band_split_apply, tiled_apply
from methods.base import Method

CHECKPOINT_DIR = Path(__file__).resolve().parent / "checkpoints"
#: Training losses (`TrainableMethod.training_loss`).
LOSSES = ("sse", "balanced")


class TrainableMethod(Method):
    """Base class of methods whose weights come from `bench train`.

    Subclasses implement `build_network` and set ``defaults`` including ``checkpoint`` (None: the shipped
    default), ``tile``, ``overlap``, ``bands`` (band count the network is built for), ``band_overlap`` and
    ``edge`` ("shift": the last tile or band group is moved back to the border; "pad": a regular grid over
    an edge-padded input, the released DECSC evaluation's way, see `bench.tiling`).
    A cube with more bands than ``bands`` is band-split: cut into overlapping groups of ``bands`` consecutive
    bands (at least ``band_overlap`` shared between neighbours), each denoised by the network and blended with
    raised-cosine weights along the band axis, as DECSC does on real data (DECSC paper, Sec. IV-A); a cube
    with exactly ``bands`` bands is one whole-cube pass, and one with fewer is refused. Optional inference
    parameters: ``margin`` reflect-pads the image by that many pixels so its borders get the context interior
    pixels get; ``ensemble`` (1, 2, 4 or 8) averages the outputs over rotated/flipped views (geometric
    self-ensemble, Timofte et al., CVPR 2016, doi:10.1109/CVPR.2016.206); ``clamp`` clips to [0, 1].
    Parameters named in ``inference_params`` only change how inference runs, those in ``training_params`` only
    how `bench train` trains (``loss``); every other parameter defines the architecture and must equal the
    checkpoint's.
    """

    trainable: ClassVar[bool] = True
    torch_forward: ClassVar[bool] = True
    defaults: ClassVar[dict[str, Any]] = {"checkpoint": None, "tile": 64, "overlap": 8, "bands": 31,
                                          "band_overlap": 8, "edge": "shift", "loss": "sse"}
    inference_params: ClassVar[frozenset[str]] = frozenset(
        {"checkpoint", "tile", "overlap", "clamp", "batch", "margin", "ensemble", "band_overlap", "edge"})
    #: Not part of a result's identity either: a result depends on the weights (their sha256 is part of it),
    #: not on how they were trained.
    training_params: ClassVar[frozenset[str]] = frozenset({"loss"})
    #: Training options `bench train` uses when not given (epochs, batch_size, lr, steps_per_epoch,
    #: milestones, gamma, val_images, val_crop).
    train_defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, name: str | None = None, **params: Any) -> None:
        super().__init__(name, **params)
        self.loss_name()
        self._nets: dict[str, torch.nn.Module] = {}
        self._ckpt_info: dict[str, Any] = {}

    # -- to implement / override -------------------------------------------------------------------------
    def build_network(self) -> torch.nn.Module:
        """Build the untrained network from ``self.params``."""
        raise NotImplementedError

    def apply_network(self, net: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        """Run ``net`` on ``x`` of shape (N, B, H, W), band-splitting when B exceeds the trained band count.

        With exactly the trained count this is one plain ``net(x)``. Per-group reports the network leaves in
        ``net.last_info`` are combined by `combine_group_infos` into ``net.last_info``.
        """
        groups = self.band_groups(x.shape[1])
        if len(groups) == 1:
            return net(x)
        infos: list[dict[str, Any]] = []

        def run(part: torch.Tensor) -> torch.Tensor:
            out = net(part)
            info = getattr(net, "last_info", None)
            if info:
                infos.append(dict(info))
            return out

        out = band_split_apply(run, x, group=int(self.params["bands"]), overlap=self._band_overlap(),
                               edge=self._edge())
        if infos:
            net.last_info = self.combine_group_infos(infos)
        return out

    def band_groups(self, total: int) -> list[slice]:
        """The band groups a cube of ``total`` bands is split into; refuses fewer bands than trained."""
        bands = int(self.params["bands"])
        if total < bands:
            raise DataError(f"{self.name}: input has {total} bands, fewer than the {bands} it was trained for "
                            f"(band-splitting needs at least {bands})")
        return band_groups(total, bands, self._band_overlap(), edge=self._edge())

    def combine_group_infos(self, infos: list[dict[str, Any]]) -> dict[str, Any]:
        """Hook: merge the per-band-group reports of one network call (default: the last group's)."""
        return dict(infos[-1])

    def _edge(self) -> str:
        """How tiles and band groups meet the border: "shift" (ours) or "pad" (edge padding)."""
        edge = str(self.params.get("edge") or "shift")
        if edge not in EDGES:
            raise UsageError(f"{self.name}: edge must be one of {', '.join(EDGES)}, got {edge!r}")
        return edge

    def _band_overlap(self) -> int:
        overlap = int(self.params.get("band_overlap", 8))
        if overlap < 0:
            raise UsageError(f"{self.name}: band_overlap must be >= 0, got {overlap}")
        return min(overlap, int(self.params["bands"]) - 1)

    def convert_foreign(self, blob: Any, source: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Map a checkpoint written by the method's original code onto this network's state_dict names.

        Returns the renamed state_dict (names it cannot map kept as they are, so a strict load reports
        them) and the parameters the file implies (at least ``bands`` where it can tell). Used by
        ``bench import-weights``; methods without an importer refuse.
        """
        raise UsageError(f"{self.name}: no importer for checkpoints of other code")

    def training_loss(self, net: torch.nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """The batch's mean per-patch squared error, each patch weighted as the ``loss`` parameter says.

        ``loss="sse"`` weights every patch alike, so high-noise patches, whose errors are largest, dominate
        the gradient. ``loss="balanced"`` divides each patch's error by its own (detached) size and
        multiplies by the batch mean: every patch then pulls as its log-MSE, the per-image PSNR the tables
        average, would, while the loss keeps the scale other penalty weights were tuned against.
        """
        out = self.apply_network(net, noisy)
        if self.loss_name() == "sse":
            return ((out - clean) ** 2).sum() / noisy.shape[0]
        per_patch = ((out - clean) ** 2).flatten(1).sum(1)
        size = per_patch.detach().clamp_min(1e-12)
        return (per_patch * (size.mean() / size)).mean()

    def loss_name(self) -> str:
        """The configured training loss, checked when the method is created so a typo fails before training."""
        loss = str(self.params.get("loss") or "sse")
        if loss not in LOSSES:
            raise UsageError(f"{self.name}: loss must be one of {', '.join(LOSSES)}, got {loss!r}")
        return loss

    def after_step(self, net: torch.nn.Module) -> None:
        """Called by `bench train` after every optimiser step (e.g. to project weights); nothing here."""

    def train_stats(self, net: torch.nn.Module) -> dict[str, float]:
        """Per-step figures of the last forward that `bench train` averages into ``log.csv`` (none here)."""
        return {}

    def parameter_count(self) -> int:
        """Learned parameters of the configured network (built untrained, leaving the global RNG untouched)."""
        with torch.random.fork_rng(devices=[]):
            return sum(p.numel() for p in self.build_network().parameters())

    # -- identity ----------------------------------------------------------------------------------------
    def arch(self) -> dict[str, Any]:
        """The parameters that define the network's shape (all but ``inference_params`` and ``training_params``)."""
        return {k: v for k, v in sorted(self.params.items())
                if k not in self.inference_params and k not in self.training_params}

    def manifest_base(self) -> dict[str, Any]:
        """Manifest fields that identify the network a checkpoint holds."""
        base, _, variant = self.name.partition(".")
        return {"method": self.name, "family": base, "variant": variant or "default", "version": self.version,
                "bands": int(self.params["bands"]), "arch": _jsonable(self.arch())}

    def describe(self) -> dict[str, Any]:
        """Identity for the results store: the weights' sha256 joins the parameters, so rows produced by a
        retrained checkpoint are never mixed with those of the old one."""
        ident = super().describe()
        if "sha256" not in self._ckpt_info:
            try:
                self._ckpt_info["sha256"] = file_sha256(self.checkpoint_path())
            except UsageError:
                self._ckpt_info["sha256"] = None
        params = {k: v for k, v in ident["params"].items() if k not in self.training_params}
        return {**ident, "params": {**params, "checkpoint_sha256": self._ckpt_info["sha256"]}}

    # -- checkpoint loading ------------------------------------------------------------------------------
    def checkpoint_path(self) -> Path:
        """Resolve the ``checkpoint`` parameter: a file path, a shipped name, or None for this method's own."""
        ref = self.params.get("checkpoint")
        if ref is None:
            path = CHECKPOINT_DIR / f"{self.name}.pt"
            if not path.is_file():
                raise UsageError(f"no checkpoint shipped for {self.name}; train one with `bench train {self.name}`")
            return path
        return resolve_checkpoint(str(ref), what=f"{self.name}: checkpoint")

    def network(self, device: Any) -> torch.nn.Module:
        """The network with its checkpoint loaded, in eval mode on ``device``; built once per device."""
        key = str(device)
        if key not in self._nets:
            path = self.checkpoint_path()
            state, manifest = load_checkpoint(path)
            self.check_manifest(manifest, path)
            net = self.build_network()
            try:
                net.load_state_dict(state)
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0]
                raise DataError(f"checkpoint {path.name}: weights do not fit {self.name}: {first}") from None
            net.to(device).eval()
            for p in net.parameters():
                p.requires_grad_(False)
            self._nets[key] = net
            self._ckpt_info = {"name": path.stem, "path": str(path), "sha256": manifest.get("sha256")
                               or file_sha256(path), "budget": manifest.get("budget")}
        return self._nets[key]

    def check_manifest(self, manifest: dict[str, Any], path: Path, *, arch_may_differ: bool = False) -> dict[str, Any]:
        """Refuse a checkpoint made for another method family, version, band count or architecture.

        A setting the checkpoint's manifest does not name (it predates the setting) counts as the class
        default it was made with. Fine-tuning into a changed configuration (``arch_may_differ``, e.g. another
        shrinkage) lets the architecture differ and returns the differences as {key: [checkpoint's,
        configured]}; whether the weights still fit is then up to ``load_state_dict``.
        """
        mine = self.manifest_base()
        what = f"checkpoint {path.name}"
        fam = manifest.get("family", str(manifest.get("method", "")).partition(".")[0])
        if fam != mine["family"]:
            raise DataError(f"{what} holds method {manifest.get('method')!r}, not a {mine['family']} network "
                            f"({self.name})")
        if str(manifest.get("version")) != str(mine["version"]):
            raise DataError(f"{what} was trained for {fam} version {manifest.get('version')}, "
                            f"{self.name} is version {mine['version']}")
        if int(manifest.get("bands", -1)) != mine["bands"]:
            raise DataError(f"{what} is for {manifest.get('bands')} bands, {self.name} is configured for "
                            f"{mine['bands']} bands")
        theirs = manifest.get("arch", {})
        known = type(self).defaults
        changed = {k: [theirs.get(k, known.get(k)), v] for k, v in mine["arch"].items()
                   if theirs.get(k, known.get(k)) != v}
        if changed and not arch_may_differ:
            raise DataError(f"{what} architecture differs from {self.name} (checkpoint vs configured): "
                            + ", ".join(f"{k}={a!r} vs {b!r}" for k, (a, b) in changed.items()))
        return changed

    # -- inference ---------------------------------------------------------------------------------------
    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        groups = len(self.band_groups(noisy.shape[2]))
        net = self.network(device)
        x = torch.from_numpy(noisy.transpose(2, 0, 1)[None].copy()).to(device)
        h, w = x.shape[-2:]
        margin = min(int(self.params.get("margin") or 0), h - 1, w - 1)
        if margin > 0:
            x = F.pad(x, (margin,) * 4, mode="reflect")
        infos: list[dict[str, Any]] = []
        calls = [0]

        def run(tiles: torch.Tensor) -> torch.Tensor:
            calls[0] += 1
            out = self.apply_network(net, tiles)
            info = getattr(net, "last_info", None)
            if info:
                infos.append(dict(info))
            return out

        views = _dihedral(int(self.params.get("ensemble") or 1), self.name)
        with torch.no_grad():
            out = torch.zeros_like(x)
            for rot, flip in views:
                xv = _view(x, rot, flip)
                yv = tiled_apply(run, xv, tile=int(self.params["tile"]), overlap=int(self.params["overlap"]),
                                 batch=int(self.params.get("batch", 1)), edge=self._edge())
                out += _unview(yv, rot, flip)
            out /= len(views)
        out = out[..., margin:margin + h, margin:margin + w] if margin > 0 else out
        if self.params.get("clamp"):
            out = out.clamp(0.0, 1.0)
        self.last_info["checkpoint"] = dict(self._ckpt_info)
        self.last_info["clamped"] = bool(self.params.get("clamp"))
        self.last_info["tile_calls"] = calls[0]
        self.last_info["params_count"] = sum(p.numel() for p in net.parameters())
        self.last_info["ensemble_views"] = len(views)
        self.last_info["band_split"] = groups > 1
        self.last_info["band_groups"] = groups
        if infos:
            self.last_info.update(_merge_infos(infos))
        return out[0].permute(1, 2, 0).cpu().numpy()


def shipped_checkpoints() -> list[str]:
    """Names of the checkpoints shipped in ``methods/checkpoints`` (usable wherever a checkpoint is asked for)."""
    return sorted(p.stem for p in CHECKPOINT_DIR.glob("*.pt"))


def resolve_checkpoint(ref: str, *, what: str = "checkpoint") -> Path:
    """A checkpoint given as a file path or a shipped name (``decsc.small``); the one resolver behind
    ``--checkpoint METHOD=...``, the ``checkpoint`` parameter and ``bench train --init``."""
    path = Path(ref).expanduser()
    if path.is_file():
        return path
    shipped = CHECKPOINT_DIR / f"{ref}.pt"
    if shipped.is_file():
        return shipped
    raise UsageError(f"{what} {ref!r} not found: neither a file nor a shipped name "
                     f"({', '.join(shipped_checkpoints()) or 'none shipped'})")


def _dihedral(count: int, name: str) -> list[tuple[int, bool]]:
    """The first ``count`` (1, 2, 4 or 8) of the eight rotations/flips used for geometric self-ensembling."""
    if count not in (1, 2, 4, 8):
        raise UsageError(f"{name}: ensemble must be 1, 2, 4 or 8 views, got {count}")
    order = [(0, False), (2, True), (1, False), (3, True), (2, False), (0, True), (3, False), (1, True)]
    return order[:count]


def _view(x: torch.Tensor, rot: int, flip: bool) -> torch.Tensor:
    x = torch.rot90(x, rot, dims=(-2, -1))
    return torch.flip(x, dims=(-1,)) if flip else x


def _unview(y: torch.Tensor, rot: int, flip: bool) -> torch.Tensor:
    y = torch.flip(y, dims=(-1,)) if flip else y
    return torch.rot90(y, -rot, dims=(-2, -1))


def _merge_infos(infos: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-tile network reports: numbers are averaged (and their max kept), anything else from the last tile."""
    merged: dict[str, Any] = dict(infos[-1])
    for key, value in infos[-1].items():
        vals = [i[key] for i in infos if isinstance(i.get(key), (int, float)) and not isinstance(i[key], bool)]
        if len(vals) == len(infos):
            merged[key] = float(np.mean(vals))
            merged[f"{key}_max"] = float(np.max(vals))
    return merged


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(obj, default=str))


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_checkpoint(path: str | os.PathLike[str], state_dict: dict[str, torch.Tensor],
                    manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``path`` (.pt, float32 CPU weights) and its JSON manifest beside it, both atomically.

    Returns the manifest as written, with ``sha256`` and ``size_bytes`` of the .pt file added.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = {k: (v.detach().to("cpu", torch.float32) if v.is_floating_point() else v.detach().cpu())
               for k, v in state_dict.items()}
    man = _jsonable(manifest)
    atomic_torch_save({"state_dict": weights, "manifest": man}, path)
    full = {**man, "sha256": file_sha256(path), "size_bytes": path.stat().st_size}
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(full, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path.with_suffix(".json"))
    return full


def load_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint; verifies the sha256 recorded in the JSON manifest beside it when there is one."""
    path = Path(path)
    side = path.with_suffix(".json")
    recorded: dict[str, Any] = {}
    if side.is_file():
        try:
            recorded = json.loads(side.read_text())
        except json.JSONDecodeError as exc:
            raise DataError(f"checkpoint manifest {side}: not valid JSON ({exc.msg})") from None
        if recorded.get("sha256") and recorded["sha256"] != file_sha256(path):
            raise DataError(f"checkpoint {path}: sha256 differs from its manifest {side.name} (corrupt or replaced)")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        raise DataError(f"checkpoint {path}: cannot be read ({type(exc).__name__})") from None
    if not isinstance(blob, dict) or "state_dict" not in blob or "manifest" not in blob:
        raise DataError(f"checkpoint {path}: expected a dict with 'state_dict' and 'manifest'")
    return blob["state_dict"], {**blob["manifest"], **recorded}


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save`` to a temporary file then rename, so a crash never leaves a half-written file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)
