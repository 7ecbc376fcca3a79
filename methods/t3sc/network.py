"""T3SC network: two unfolded low-rank convolutional sparse-coding layers.

Bodrito, Zouaoui, Chanussot, Mairal, "A Trainable Spectral-Spatial Sparse Coding Model for Hyperspectral
Image Restoration", NeurIPS 2021. Each layer has three dictionaries (C: analysis, D: synthesis inside
the ISTA steps, W: final synthesis); each dictionary is factored as a spectral part (codes x in x rank)
times a spatial part (codes x rank x k^2). Codes come from ``steps`` unfolded ISTA iterations
``alpha <- ST(A + alpha - C(D^T alpha))`` with ``A = C x`` and thresholds learned per code and per step.
Encoders use valid convolutions and decoders transposed ones, so outputs have the input's size and
overlapping patch estimates are averaged.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def soft_threshold(x: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """ST(x) = relu(x - l) - relu(-x - l): the proximal operator of l * |x|."""
    return F.relu(x - lam) - F.relu(-x - lam)


class LowRankSCLayer(nn.Module):
    """One convolutional sparse-coding layer with low-rank factored dictionaries.

    Parameters
    ----------
    in_channels, codes, rank, kernel, steps
        Input channels, dictionary atoms, rank of each atom's spectral-spatial factorisation, spatial
        kernel side, unfolded ISTA steps.
    patch_centring
        Remove each k x k patch's mean before coding (analysis atoms made spatially zero-mean) and add the
        local means back when decoding.
    threshold_init
        Initial value of every learned threshold.
    """

    def __init__(self, in_channels: int, codes: int, *, rank: int, kernel: int, steps: int,
                 patch_centring: bool, threshold_init: float = 1e-3) -> None:
        super().__init__()
        if patch_centring and kernel == 1:
            raise ValueError("patch centring with a 1 x 1 kernel would zero every patch")
        self.in_channels, self.codes, self.rank, self.kernel, self.steps = in_channels, codes, rank, kernel, steps
        self.patch_centring = patch_centring
        for name in ("C", "D", "W"):
            setattr(self, f"{name}_spectral", nn.Parameter(self._init((codes, in_channels, rank), in_channels * rank)))
            spatial = self._init((codes, rank, kernel * kernel), rank * kernel ** 2)
            setattr(self, f"{name}_spatial", nn.Parameter(spatial))
        self.thresholds = nn.Parameter(torch.full((steps, codes), float(threshold_init)))

    @staticmethod
    def _init(shape: tuple[int, ...], fan_in: int) -> torch.Tensor:
        bound = 1.0 / math.sqrt(fan_in)
        return torch.empty(shape).uniform_(-bound, bound)

    def dictionary(self, name: str) -> torch.Tensor:
        """The full atoms of dictionary ``name`` as a conv weight (codes, in, k, k)."""
        spec, spat = getattr(self, f"{name}_spectral"), getattr(self, f"{name}_spatial")
        atoms = torch.bmm(spec, spat)  # (codes, in, k^2)
        return atoms.view(self.codes, self.in_channels, self.kernel, self.kernel)

    def _lam(self, step: int) -> torch.Tensor:
        return self.thresholds[step].view(1, -1, 1, 1)

    def encode(self, x: torch.Tensor, weight: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Sparse codes of ``x`` (N, in, H, W) -> (N, codes, H-k+1, W-k+1), plus local means if centring.

        ``weight`` (N, in, 1, 1) weights each input channel in the data-fit term (noisier bands count less).
        """
        C = self.dictionary("C")
        means = None
        if self.patch_centring:
            C = C - C.mean(dim=(2, 3), keepdim=True)
            means = F.avg_pool2d(x, self.kernel, stride=1)
        D = self.dictionary("D")
        A = F.conv2d(x if weight is None else x * weight, C)
        alpha = soft_threshold(A, self._lam(0))
        for step in range(1, self.steps):
            recon = F.conv_transpose2d(alpha, D)
            if weight is not None:
                recon = recon * weight
            alpha = soft_threshold(A + alpha - F.conv2d(recon, C), self._lam(step))
        return alpha, means

    def decode(self, alpha: torch.Tensor, means: torch.Tensor | None) -> torch.Tensor:
        """Average of the overlapping patch reconstructions ``W alpha`` (plus the local means)."""
        out = F.conv_transpose2d(alpha, self.dictionary("W"))
        k = self.kernel
        if k == 1:
            return out if means is None else out + means
        if means is not None:
            ones_c = torch.ones(self.in_channels, 1, k, k, dtype=out.dtype, device=out.device)
            out = out + F.conv_transpose2d(means, ones_c, groups=self.in_channels)
        ones = torch.ones(1, 1, *alpha.shape[-2:], dtype=out.dtype, device=out.device)
        count = F.conv_transpose2d(ones, torch.ones(1, 1, k, k, dtype=out.dtype, device=out.device))
        return out / count


class NoiseLevelEstimator(nn.Module):
    """Per-band attenuation factor in (0, 1] from a small CNN on each band (T3SC's optional estimator).

    Bands the CNN judges noisier get a smaller weight in the first layer's data-fit term.
    """

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, width, 5, stride=2), nn.ReLU(), nn.Conv2d(width, width, 3, stride=2),
                                  nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Conv2d(width, 1, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, b, h, w = x.shape
        return 1.0 - self.body(x.reshape(n * b, 1, h, w)).view(n, b, 1, 1)


class T3SCNet(nn.Module):
    """Input centring, layer-0 (spectral, 1 x 1) and layer-1 (spatial k x k) coding, decoding in reverse.

    Takes and returns (N, bands, H, W) tensors; H and W must be at least ``kernel1``.
    """

    def __init__(self, bands: int, *, codes0: int = 64, rank0: int = 1, steps0: int = 12, codes1: int = 1024,
                 rank1: int = 3, kernel1: int = 5, steps1: int = 5, threshold_init: float = 1e-3,
                 estimator: bool = False) -> None:
        super().__init__()
        self.layer0 = LowRankSCLayer(bands, codes0, rank=rank0, kernel=1, steps=steps0, patch_centring=False,
                                     threshold_init=threshold_init)
        self.layer1 = LowRankSCLayer(codes0, codes1, rank=rank1, kernel=kernel1, steps=steps1,
                                     patch_centring=True, threshold_init=threshold_init)
        self.estimator = NoiseLevelEstimator() if estimator else None
        self.last_info: dict[str, float] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(2, 3), keepdim=True)
        z = x - mean
        beta = self.estimator(z) if self.estimator is not None else None
        a0, m0 = self.layer0.encode(z, beta)
        a1, m1 = self.layer1.encode(a0)
        if not self.training:
            self.last_info = {"code_density": float((a1.detach() != 0).float().mean())}
            if beta is not None:
                self.last_info["band_weight_min"] = float(beta.detach().min())
        y0 = self.layer1.decode(a1, m1)
        return self.layer0.decode(y0, m0) + mean
