"""Tiled and band-split inference with smooth blending.

A network applied to overlapping tiles keeps peak memory bounded whatever the image size; blending
the tiles with a raised-cosine window (tapered only on sides that face another tile, with a small floor)
removes seams while leaving image borders at full weight. The same idea along the band axis lets a
network trained for ``group`` bands process a cube with more bands ("band-splitting").

Two ways to fit a grid onto a length that is not a multiple of the step (``edge``): ``"shift"`` (default)
moves the last tile back so it ends at the border, ``"pad"`` keeps the regular grid from the origin and
extends the input by repeating its last row, column or band (as DECSC's released evaluation does), cropping
the result back.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import DataError, UsageError

ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)

_FLOOR = 1e-3
EDGES = ("shift", "pad")


def tile_starts(length: int, tile: int, overlap: int, *, edge: str = "shift") -> list[int]:
    """Start offsets of tiles of size ``tile`` covering ``length`` with at least ``overlap`` overlap.

    Tiles step by ``tile - overlap``. With ``edge="shift"`` the last one is shifted back to end exactly at
    ``length`` (>= tile), so no padding is needed; with ``edge="pad"`` the grid stays regular and its last
    tile may run past ``length`` (see `padded_length`).
    """
    _check_tile(tile, overlap)
    _check_edge(edge)
    step = tile - overlap
    if edge == "pad":
        return list(range(0, max(length - tile, 0) + step, step)) if length > tile else [0]
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    starts.append(length - tile)
    return starts


def padded_length(length: int, tile: int, overlap: int, *, edge: str = "shift") -> int:
    """The length the input is extended to before tiling: at least ``tile``, and for ``edge="pad"`` the end
    of the regular grid's last tile."""
    return max(tile_starts(length, tile, overlap, edge=edge)[-1] + tile, length)


def ramp_weights(size: int, overlap: int, *, taper_start: bool, taper_end: bool) -> np.ndarray:
    """1-D blending weights: a raised-cosine ramp over ``overlap`` samples on each tapered side, 1 elsewhere.

    Complementary ramps of neighbouring tiles sum to one; a floor keeps every sample's weight positive.
    """
    w = np.ones(size, dtype=np.float64)
    n = min(overlap, size // 2)
    if n > 0:
        ramp = np.sin(0.5 * math.pi * (np.arange(n) + 0.5) / n) ** 2
        if taper_start:
            w[:n] = ramp
        if taper_end:
            w[size - n:] = ramp[::-1]
    return np.maximum(w, _FLOOR)


def tiled_apply(fn: Callable[[ArrayT], ArrayT], x: ArrayT, *, tile: int, overlap: int,
                batch: int = 1, edge: str = "shift") -> ArrayT:
    """Apply ``fn`` to overlapping ``tile`` x ``tile`` spatial tiles of ``x`` and blend the results.

    Parameters
    ----------
    fn
        Maps a tile to an output of the same spatial size (channel count may differ). It receives tensors
        ``(N, B, tile, tile)`` when ``x`` is a tensor and arrays ``tile x tile x B`` when ``x`` is an array.
    x
        A tensor ``(N, B, H, W)`` or an ``H x W x B`` array.
    tile, overlap
        Tile side and the minimum overlap between neighbouring tiles (``0 <= overlap < tile``).
        Images smaller than a tile are reflect-padded up to it and cropped back.
    edge
        ``"shift"`` or ``"pad"`` (module docstring); with ``"pad"`` the input is edge-padded instead.
    batch
        Tiles per call of ``fn`` (tensor input only); raises throughput on a GPU at bounded memory.
    """
    _check_tile(tile, overlap)
    _check_edge(edge)
    if batch < 1:
        raise UsageError(f"tiled_apply: batch must be >= 1, got {batch}")
    if isinstance(x, np.ndarray):
        if x.ndim != 3:
            raise DataError(f"tiled_apply: expected an H x W x B array, got shape {x.shape}")
        t = torch.from_numpy(np.ascontiguousarray(x).transpose(2, 0, 1)[None])

        def tfn(tiles: torch.Tensor) -> torch.Tensor:
            outs = [torch.as_tensor(np.asarray(fn(tt[0].permute(1, 2, 0).numpy()))).permute(2, 0, 1)[None]
                    for tt in tiles.split(1)]
            return torch.cat(outs)

        out = _tiled_tensor(tfn, t, tile=tile, overlap=overlap, batch=1, edge=edge)
        return out[0].permute(1, 2, 0).numpy().astype(x.dtype, copy=False)
    if not isinstance(x, torch.Tensor) or x.ndim != 4:
        raise DataError(f"tiled_apply: expected a tensor (N, B, H, W) or an H x W x B array, got "
                        f"{type(x).__name__} {tuple(getattr(x, 'shape', ()))}")
    return _tiled_tensor(fn, x, tile=tile, overlap=overlap, batch=batch, edge=edge)


def _tiled_tensor(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, *, tile: int, overlap: int,
                  batch: int, edge: str) -> torch.Tensor:
    n, _, h, w = x.shape
    hp, wp = padded_length(h, tile, overlap, edge=edge), padded_length(w, tile, overlap, edge=edge)
    if edge == "pad":
        xp = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate") if (hp, wp) != (h, w) else x
    else:
        xp = reflect_pad(x, hp, wp)
    ys, xs = tile_starts(hp, tile, overlap), tile_starts(wp, tile, overlap)
    boxes = [(y0, x0) for y0 in ys for x0 in xs]
    acc: torch.Tensor | None = None
    norm = torch.zeros(hp, wp, dtype=torch.float64, device=x.device)
    for i in range(0, len(boxes), batch):
        chunk = boxes[i:i + batch]
        tiles = torch.cat([xp[..., y0:y0 + tile, x0:x0 + tile] for y0, x0 in chunk])
        res = fn(tiles)
        if res.ndim != 4 or res.shape[0] != tiles.shape[0] or res.shape[-2:] != tiles.shape[-2:]:
            raise DataError(f"tiled_apply: fn returned shape {tuple(res.shape)} for tiles {tuple(tiles.shape)}")
        res = res.to(device=x.device, dtype=torch.float64)
        if acc is None:
            acc = torch.zeros(n, res.shape[1], hp, wp, dtype=torch.float64, device=x.device)
        for k, (y0, x0) in enumerate(chunk):
            wy = ramp_weights(tile, overlap, taper_start=y0 > 0, taper_end=y0 + tile < hp)
            wx = ramp_weights(tile, overlap, taper_start=x0 > 0, taper_end=x0 + tile < wp)
            wt = torch.from_numpy(np.outer(wy, wx)).to(x.device)
            acc[..., y0:y0 + tile, x0:x0 + tile] += res[k * n:(k + 1) * n] * wt
            norm[y0:y0 + tile, x0:x0 + tile] += wt
    assert acc is not None
    return (acc / norm)[..., :h, :w].to(x.dtype)


def reflect_pad(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pad ``(N, C, H, W)`` at the bottom/right to ``height`` x ``width`` by mirror reflection.

    Reflection is repeated as needed, so a pad larger than the image is allowed; a side of one pixel is
    replicated instead.
    """
    for dim, target in ((-2, height), (-1, width)):
        while x.shape[dim] < target:
            size = x.shape[dim]
            pad = min(target - size, size - 1) if size > 1 else target - size
            pads = (0, 0, 0, pad) if dim == -2 else (0, pad, 0, 0)
            x = F.pad(x, pads, mode="reflect" if size > 1 else "replicate")
    return x


def band_groups(bands_total: int, group: int, overlap: int, *, edge: str = "shift") -> list[slice]:
    """Overlapping windows of ``group`` consecutive bands covering ``0 .. bands_total - 1``.

    Consecutive groups overlap by at least ``overlap`` bands; the last group ends at the last band
    (``edge="shift"``) or runs past it into repeated copies of it (``edge="pad"``).
    """
    if group < 1 or not 0 <= overlap < group:
        raise UsageError(f"band_groups: need group >= 1 and 0 <= overlap < group, got group={group}, "
                         f"overlap={overlap}")
    if bands_total < group:
        raise DataError(f"band_groups: cannot split {bands_total} band(s) into groups of {group}")
    return [slice(s, s + group) for s in tile_starts(bands_total, group, overlap, edge=edge)]


def blend_bands(parts: Sequence[ArrayT], groups: Sequence[slice], bands_total: int, *, overlap: int,
                axis: int) -> ArrayT:
    """Blend per-group results ``parts[i]`` (covering ``groups[i]`` along ``axis``) into one array.

    Bands covered by several groups get a raised-cosine weighted mean, like spatial tiles.
    """
    if len(parts) != len(groups) or not parts:
        raise UsageError(f"blend_bands: {len(parts)} part(s) for {len(groups)} group(s)")
    first = parts[0]
    is_np = isinstance(first, np.ndarray)
    shape = list(first.shape)
    shape[axis] = bands_total
    acc = np.zeros(shape) if is_np else torch.zeros(shape, dtype=torch.float64, device=first.device)
    norm = np.zeros(bands_total)
    view = [1] * len(shape)
    for part, sl in zip(parts, groups):
        size = sl.stop - sl.start
        if part.shape[axis] != size:
            raise DataError(f"blend_bands: part has {part.shape[axis]} band(s) for group {sl.start}:{sl.stop}")
        wb = ramp_weights(size, overlap, taper_start=sl.start > 0, taper_end=sl.stop < bands_total)
        norm[sl] += wb
        view[axis] = size
        index = [slice(None)] * len(shape)
        index[axis] = sl
        if is_np:
            acc[tuple(index)] += np.asarray(part, dtype=np.float64) * wb.reshape(view)
        else:
            acc[tuple(index)] += part.to(torch.float64) * torch.from_numpy(wb.reshape(view)).to(first.device)
    view[axis] = bands_total
    if is_np:
        return (acc / norm.reshape(view)).astype(first.dtype)
    return (acc / torch.from_numpy(norm.reshape(view)).to(first.device)).to(first.dtype)


def band_split_apply(fn: Callable[[ArrayT], ArrayT], x: ArrayT, *, group: int, overlap: int,
                     edge: str = "shift") -> ArrayT:
    """Apply a ``group``-band function to overlapping band groups of ``x`` and blend along bands.

    ``x`` is a tensor ``(N, B, H, W)`` (bands on axis 1) or an ``H x W x B`` array (bands last). With
    ``edge="pad"`` the last band is repeated up to the regular grid's end and the result cropped back.
    """
    axis = -1 if isinstance(x, np.ndarray) else 1
    total = x.shape[axis]
    groups = band_groups(total, group, overlap, edge=edge)
    padded = groups[-1].stop
    if padded > total:
        if axis == -1:
            x = np.concatenate([x, np.repeat(x[..., -1:], padded - total, axis=-1)], axis=-1)
        else:
            x = torch.cat([x, x[:, -1:].expand(-1, padded - total, *x.shape[2:])], dim=1)
    parts = [fn(x[..., sl] if axis == -1 else x[:, sl]) for sl in groups]
    out = blend_bands(parts, groups, padded, overlap=overlap, axis=axis)
    return out[..., :total] if axis == -1 else out[:, :total]


def _check_edge(edge: str) -> None:
    if edge not in EDGES:
        raise UsageError(f"tiling: edge must be one of {', '.join(EDGES)}, got {edge!r}")


def _check_tile(tile: int, overlap: int) -> None:
    if tile < 1 or not 0 <= overlap < tile:
        raise UsageError(f"tiling: need tile >= 1 and 0 <= overlap < tile, got tile={tile}, overlap={overlap}")
