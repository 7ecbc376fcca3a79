"""Non-local patch machinery shared by NGMeet and LLRT (the authors' codes share it too).

Patches are all size x size windows of an (H, W, C) image, stored as columns in the order of the authors'
code (patch p = row + col * rows). Key patches sit on a grid; each is grouped with its nearest patches
inside a search window (block matching on a guide image), each group is shrunk by weighted nuclear-norm
minimisation with a noise level of its own, and the estimates are summed back with their counts.
"""

from __future__ import annotations

import numpy as np
import torch


def grid(n: int, step: int) -> torch.Tensor:
    """Key-patch offsets along one axis: every ``step``-th, then every offset after the last one."""
    idx = list(range(0, n, step))
    return torch.tensor(idx + list(range(idx[-1] + 1, n)))


def patches(img: torch.Tensor, size: int) -> torch.Tensor:
    """All size x size patches of (H, W, C) as columns (size*size*C, P), patch p = row + col * rows."""
    h, w, c = img.shape
    cols = img.permute(2, 0, 1).unfold(1, size, 1).unfold(2, size, 1)   # C, R, Q, size, size
    return cols.permute(0, 3, 4, 2, 1).reshape(c * size * size, -1)


def fold(values: torch.Tensor, size: int, h: int, w: int, c: int) -> torch.Tensor:
    """Sum patch columns (from `patches`) back into an (H, W, C) image."""
    rows, cols = h - size + 1, w - size + 1
    blocks = values.reshape(c, size, size, cols, rows).permute(0, 4, 3, 1, 2)  # C, R, Q, size, size
    out = torch.zeros(c, h, w, dtype=values.dtype, device=values.device)
    for i in range(size):
        for j in range(size):
            out[:, i:i + rows, j:j + cols] += blocks[:, :, :, i, j]
    return out.permute(1, 2, 0)


def match(mean_patches: torch.Tensor, keys: torch.Tensor, rows: int, window: int, count: int) -> torch.Tensor:
    """Indices of the ``count`` patches nearest each key patch within +-``window`` rows and columns (ties
    in patch order, as a stable sort of the window)."""
    total = mean_patches.shape[1]
    every = torch.arange(total, device=keys.device)
    near = ((every[None, :] % rows - keys[:, None] % rows).abs() <= window) & \
        ((every[None, :] // rows - keys[:, None] // rows).abs() <= window)
    dist = torch.cdist(mean_patches.T[keys], mean_patches.T).square()
    dist = torch.where(near, dist, torch.full_like(dist, torch.inf))
    take = min(count, int(near.sum(1).min()))
    return torch.sort(dist, dim=1, stable=True).indices[:, :take]


def wnnm(groups: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Weighted nuclear-norm shrinkage of each centred group (G, D, n), closed form (Gu et al., CVPR 2014)."""
    mean = groups.mean(dim=2, keepdim=True)
    u, s, vh = torch.linalg.svd(groups - mean, full_matrices=False)
    eps = torch.finfo(torch.float64).eps
    disc = (s - eps).square() - 4 * (weight[:, None] - eps * s)
    shrunk = torch.where(disc > 0, ((s - eps + disc.clamp_min(0).sqrt()) / 2).clamp_min(0), torch.zeros_like(s))
    return (u * shrunk[:, None, :]) @ vh + mean


def key_patches(rows: int, cols: int, step: int, device: object) -> torch.Tensor:
    """Indices of the key patches: a ``step`` grid plus every offset after its last point, per axis."""
    return (grid(rows, step)[None, :] + rows * grid(cols, step)[:, None]).reshape(-1).to(device)


def local_noise(cur: torch.Tensor, noisy: torch.Tensor, nsig: float, factor: float) -> torch.Tensor:
    """Per-patch noise level: ``factor`` sqrt(|nsig^2 - mean squared patch change from the noisy input|)."""
    return factor * (nsig ** 2 - (noisy - cur).square().mean(0)).abs().sqrt()


def match_all(guide: torch.Tensor, keys: torch.Tensor, rows: int, window: int, count: int) -> torch.Tensor:
    """`match` for every key patch, in chunks that bound the distance matrix."""
    chunk = max(1, 2 ** 22 // guide.shape[1])
    return torch.cat([match(guide, keys[i:i + chunk], rows, window, count) for i in range(0, keys.numel(), chunk)])


def shrink_groups(cur: torch.Tensor, keys: torch.Tensor, groups: torch.Tensor, noise: torch.Tensor,
                  c1: float) -> tuple[torch.Tensor, torch.Tensor]:
    """WNNM of every group (weight c1 sqrt(n) 2 sigma_key^2); the summed patch estimates and their counts."""
    n = groups.shape[1]
    chunk = max(1, 2 ** 24 // (cur.shape[0] * n))
    acc = torch.zeros_like(cur)
    for i in range(0, keys.numel(), chunk):
        idx = groups[i:i + chunk]
        weight = c1 * np.sqrt(n) * 2 * noise[keys[i:i + chunk]].square()
        est = wnnm(cur.T[idx].transpose(1, 2), weight)
        acc.index_add_(1, idx.reshape(-1), est.transpose(1, 2).reshape(-1, cur.shape[0]).T)
    count = torch.zeros(cur.shape[1], dtype=cur.dtype, device=cur.device)
    count.index_add_(0, groups.reshape(-1), torch.ones(groups.numel(), dtype=cur.dtype, device=cur.device))
    return acc, count[None, :].expand(cur.shape[0], -1)
