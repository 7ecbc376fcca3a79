"""NGMeet (He et al.): global spectral subspace, non-local low-rank denoising of the eigen-images, in torch."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from bench.errors import UsageError
from bench.estimate import estimate_sigma
from methods import _nonlocal as nl
from methods import register
from methods.base import Method

#: The authors' settings by band count and noise std (0-255 scale): (max nSig, patch number, lambda, k).
_TABLE = {
    50: ((10.1, 150, 0.54, 8), (30.1, 150, 0.56, 6), (50.1, 150, 0.56, 5), (np.inf, 200, 0.58, 4)),
    100: ((10.1, 150, 0.54, 6), (30.1, 150, 0.56, 6), (50.1, 150, 0.58, 5), (np.inf, 200, 0.58, 4)),
    np.inf: ((10.1, 150, 0.54, 5), (30.1, 150, 0.56, 6), (50.1, 150, 0.58, 5), (np.inf, 200, 0.58, 4)),
}


def authors_settings(nsig: float, bands: int) -> dict[str, Any]:
    """Patch number, local-noise factor lambda, initial subspace k and c1 of the authors' ``ParSetH``."""
    limit = next(b for b in _TABLE if bands <= b)
    _, patnum, lamada, k = next(row for row in _TABLE[limit] if nsig <= row[0])
    return {"patnum": patnum, "lamada": lamada, "k_subspace": k,
            "c1": 8 * np.sqrt(2) if limit == np.inf else 5 * np.sqrt(2)}


@register("ngmeet")
class NGMeet(Method):
    """NGMeet (He et al., CVPR 2019, doi:10.1109/CVPR.2019.00695; TPAMI 44(7), 2022).

    Each of 5 iterations projects the cube onto its leading k left singular vectors (k = k0 + 2 (iter - 1)),
    groups similar 5 x 5 patches of the eigen-images (block matching on their mean, in a +-30 window
    around key patches every 4 pixels, redone every second iteration with 10 patches fewer), shrinks
    each group by weighted nuclear-norm minimisation with a per-patch noise level, rebuilds the cube,
    and mixes back 10% of the noisy input. All settings are the authors' (``ParSetH``: patch number,
    lambda, k0 and c1 by band count and noise level). The model is i.i.d.: per-band sigma is reduced
    to its mean, as the authors' demo does.
    """

    family = "model-driven"
    torch_forward = True
    reference = ("He et al., 'Non-local meets global: an integrated paradigm for hyperspectral denoising', "
                 "CVPR 2019, doi:10.1109/CVPR.2019.00695")
    license = "MIT"
    version = "1"
    description = "NGMeet: spectral subspace + non-local WNNM of the eigen-images, iterative refinement"
    defaults = {"iterations": 5, "patch": 5, "window": 30, "step": 4, "patnum": None, "lamada": None,
                "k_subspace": None, "c1": None}

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        p = self.params
        h, w, bands = noisy.shape
        size = int(p["patch"])
        if min(h, w) < size:
            raise UsageError(f"{self.name}: image {h} x {w} is smaller than the {size} x {size} patch")
        per_band = estimate_sigma(noisy) if sigma is None else sigma
        nsig = 255.0 * float(np.mean(per_band))
        sets = {**authors_settings(nsig, bands), **{k: p[k] for k in ("patnum", "lamada", "k_subspace", "c1")
                                                    if p[k] is not None}}
        dt = torch.float64
        noisy_t = torch.from_numpy(noisy).to(device=device, dtype=dt) * 255.0
        est = noisy_t.clone()
        rows = h - size + 1
        keys = nl.key_patches(rows, w - size + 1, int(p["step"]), device)
        patnum = int(sets["patnum"])
        groups = torch.empty(0, dtype=torch.long, device=device)
        iterations = int(p["iterations"])
        for it in range(iterations):
            k = min(int(sets["k_subspace"]) + 2 * it, bands)
            flat = est.reshape(-1, bands).T
            basis = torch.linalg.svd(flat, full_matrices=False)[0][:, :k]
            reduced = (basis.T @ flat).T.reshape(h, w, k)
            cur = nl.patches(reduced, size)
            noisy_pat = nl.patches((basis.T @ noisy_t.reshape(-1, bands).T).T.reshape(h, w, k), size)
            local = nl.local_noise(cur, noisy_pat, nsig, float(sets["lamada"]))
            if it % 2 == 0:
                patnum -= 10
                guide = nl.patches(reduced.mean(dim=2, keepdim=True), size)
                groups = nl.match_all(guide, keys, rows, int(p["window"]), patnum)
                if it == 0:
                    local = torch.full_like(local, nsig * np.sqrt(k / bands))
            acc, count = nl.shrink_groups(cur, keys, groups, local, float(sets["c1"]))
            num, den = nl.fold(acc, size, h, w, k), nl.fold(count, size, h, w, k)
            est = ((num / den).reshape(-1, k) @ basis.T).reshape(h, w, bands)
            if it < iterations - 1:
                est = 0.1 * noisy_t + 0.9 * est
        self.last_info = {"sigma_used": "mean", "sigma_value": nsig / 255.0, "sigma_estimated": sigma is None,
                          "settings": {k: float(v) for k, v in sets.items()}, "groups": int(keys.numel()),
                          "iterations": iterations}
        return (est / 255.0).float().cpu().numpy()
