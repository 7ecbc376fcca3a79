"""The DECSC layer f(z, y) of Eq. (20) and the reconstruction of Eq. (21).

The state z packs the shared 2-D codes S (N, M, H, W) and the 3-D codes H (N, J, B, H, W) into one flat
(N, D) tensor so that any equilibrium solver can treat it as a vector. The layer knows nothing about
solvers or gradients; `methods.decsc.deq.DEQ` combines it with those.

Reference: DECSC, Deep Equilibrium Convolutional Sparse Coding for Hyperspectral Image Denoising,
Section III (Eqs. 3-4, 9, 20-21).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from methods.decsc.layers import (DetailEnhancement, NoiseGate, SoftThreshold, SwinProx, band_sigma,
                                  synthesise_3d)


class DECSCLayer(nn.Module):
    """One GIC + LSU update: S first, then H using the new S (Eq. 20).

    ``K`` maps M code maps to B bands (one 2-D dictionary per band), ``W_K`` is its learned transpose;
    ``D`` is a 3-D dictionary of J atoms over (band, row, column), ``W_D`` its learned transpose.
    Dictionaries synthesise with transposed convolutions and analyse with convolutions, so a weight copied
    from one to the other is the exact adjoint. They start Kaiming-normal scaled by 1/sqrt(1000) (authors'
    code), each transpose equal to the adjoint of its dictionary, and are learned independently from there.
    With ``dict_norm`` set, each dictionary is instead rescaled to that operator norm, so the first
    iterations are already well-stepped ISTA updates (a choice for short training runs). Dictionary
    weights are stored in units of 10x their initial RMS, so one optimiser learning rate moves them by
    about one percent per step, like the network weights, instead of breaking the ISTA step size.
    """

    def __init__(self, *, bands: int, gic_atoms: int = 192, gic_kernel: int = 9, lsu_atoms: int = 96,
                 lsu_kernel: tuple[int, int] = (3, 9), swin_blocks: int = 4, swin_heads: int = 4,
                 window: int = 4, mlp_ratio: float = 2.0, swin: bool = True, dconv: bool = True,
                 attention: bool = True, threshold: float = 0.01, dict_scale: float = 1 / math.sqrt(1000),
                 dict_norm: float | None = None, shrink: float = 0.0, swin_eps: float = 1e-5,
                 debias: bool = False, polish: int = 0, polish_sigma: float = 0.055,
                 polish_power: float = 4.0, noise_thresholds: bool = False) -> None:
        super().__init__()
        self.bands, self.gic_atoms, self.lsu_atoms = bands, gic_atoms, lsu_atoms
        self.out_scale = 1.0 + shrink if debias else 1.0
        if polish < 0:
            raise ValueError(f"DECSCLayer: polish must be >= 0 steps, got {polish}")
        self.polish = int(polish)
        self.gate = NoiseGate(sigma=polish_sigma, power=polish_power) if polish else None
        kb, ks = lsu_kernel
        pad3 = (kb // 2, ks // 2, ks // 2)
        self.K = nn.ConvTranspose2d(gic_atoms, bands, gic_kernel, padding=gic_kernel // 2, bias=False)
        self.W_K = nn.Conv2d(bands, gic_atoms, gic_kernel, padding=gic_kernel // 2, bias=False)
        self.D = nn.ConvTranspose3d(lsu_atoms, 1, (kb, ks, ks), padding=pad3, bias=False)
        self.W_D = nn.Conv3d(1, lsu_atoms, (kb, ks, ks), padding=pad3, bias=False)
        with torch.no_grad():
            for dic, adj in ((self.K, self.W_K), (self.D, self.W_D)):
                nn.init.kaiming_normal_(adj.weight)
                adj.weight.mul_(dict_scale)
                dic.weight.copy_(adj.weight)
            if dict_norm is not None:
                scale_to_norm((self.W_K, self.K), (1, bands, 16, 16), dict_norm)
                scale_to_norm((self.W_D, self.D), (1, 1, bands, 16, 16), dict_norm)
        for conv in (self.K, self.W_K, self.D, self.W_D):
            _equalise(conv)
        self.noise_thresholds = bool(noise_thresholds)
        self.soft1 = SoftThreshold(gic_atoms, init=threshold, dims=2, shrink=shrink,
                                   noise_adaptive=self.noise_thresholds)
        self.soft2 = SoftThreshold(lsu_atoms, init=threshold, dims=3, shrink=shrink,
                                   noise_adaptive=self.noise_thresholds)
        self.net1 = SwinProx(gic_atoms, blocks=swin_blocks, heads=swin_heads, window=window,
                             mlp_ratio=mlp_ratio, norm_eps=swin_eps) if swin else nn.Identity()
        self.net2 = DetailEnhancement(lsu_atoms, dconv=dconv, attention=attention)

    @torch.no_grad()
    def control_steps(self, bound: float = 1.0, probe: int = 16) -> dict[str, float]:
        """Rescale each analysis operator so that the gradient step's gain ||W K|| stays at or below ``bound``.

        ISTA's step z + W (y - K z) is stable while the gain of W K is below 1 (step below 1/L for the learned
        pair); a larger gain lets the code iterates grow and the fixed point be lost. The gain is measured by
        power iteration on a ``probe`` x ``probe`` input and only W is rescaled, so the synthesis (and the
        reconstruction X = K S + D H) is unchanged. Returns the gains found before rescaling.
        """
        gains = {}
        pairs = (("gic", self.K, self.W_K, (1, self.gic_atoms, probe, probe)),
                 ("lsu", self.D, self.W_D, (1, self.lsu_atoms, self.bands, probe, probe)))
        for name, dic, adj, shape in pairs:
            gain = power_gain(lambda v: adj(dic(v)), shape)
            gains[name] = gain
            if gain > bound:
                adj.parametrizations.weight.original.mul_(bound / gain)
        return gains

    def frame_defect(self, y: torch.Tensor) -> torch.Tensor:
        """||(A W - I) v||^2 / ||v||^2 for a white probe v shaped like ``y``: how far the pair is from a tight frame.

        A = [K, D] synthesises, W = [W_K; W_D] analyses. With A W = I the debiased linear fixed point returns
        y itself at every spatial frequency; a learned pair instead tends to a low-pass (gain near 1.7 on coarse
        structure, 0.3-0.6 on the finest detail for the shipped small model), and detail it does not pass no
        prior or polish step can restore. A white probe weights every frequency alike, so this is a one-probe
        Hutchinson estimate of ||A W - I||_F^2 / dim that the training loss can penalise (``frame_weight``).
        """
        v = torch.randn_like(y)
        av = self._synthesise(self.W_K(v), self.W_D(v[:, None]))
        return (av - v).square().sum() / v.square().sum()

    def state_size(self, y: torch.Tensor) -> int:
        """Length D of the flat state for an (N, B, H, W) input."""
        h, w = y.shape[-2:]
        return self.gic_atoms * h * w + self.lsu_atoms * self.bands * h * w

    def init_state(self, y: torch.Tensor) -> torch.Tensor:
        """The zero codes the solve starts from."""
        return y.new_zeros(y.shape[0], self.state_size(y))

    def unpack(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, _, h, w = y.shape
        cut = self.gic_atoms * h * w
        hcodes = z[:, cut:].reshape(n, self.bands, h, w, self.lsu_atoms).permute(0, 4, 1, 2, 3)
        return z[:, :cut].reshape(n, self.gic_atoms, h, w), hcodes

    @staticmethod
    def pack(s: torch.Tensor, hcodes: torch.Tensor) -> torch.Tensor:
        """Flatten S and H; H is stored atoms-last, so its (N, J, B, H, W) view is channels-last."""
        return torch.cat([s.flatten(1), hcodes.permute(0, 2, 3, 4, 1).flatten(1)], dim=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """f(z, y): Eq. (20) on the packed state."""
        if y.shape[1] != self.bands:
            raise ValueError(f"DECSCLayer: built for {self.bands} bands, got {y.shape[1]}")
        sigma_s = sigma_h = None
        if self.noise_thresholds:
            sigma_h = band_sigma(y)[:, None]                              # (N, 1, B, 1, 1): per band
            sigma_s = sigma_h.square().mean(dim=2).sqrt()                 # (N, 1, 1, 1): S spans all bands
        s, hcodes = self._sweep(*self.unpack(z, y), y, lambda v: self.net1(self.soft1(v, sigma_s)),
                                lambda v: self.net2(self.soft2(v, sigma_h)))
        return self.pack(s, hcodes)

    def _sweep(self, s: torch.Tensor, hcodes: torch.Tensor, y: torch.Tensor,
               prox_s: Callable[[torch.Tensor], torch.Tensor],
               prox_h: Callable[[torch.Tensor], torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One gradient step on each code group with its prox, S first, then H using the new S (Eq. 20)."""
        u = synthesise_3d(self.D, hcodes)
        s = prox_s(s + self.W_K(y - self.K(s) - u))
        return s, prox_h(hcodes + self.W_D((y - self.K(s) - u)[:, None]))

    def reconstruct(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """X = K (x) S* + D * H*, Eq. (21), times 1 + ``shrink`` with ``debias``, then the noise-gated polish.

        The elastic-net prox shrinks the fixed point: in the linear regime z* = (eps I + W K)^-1 W y, so where
        W K acts as the identity K z* = y / (1 + eps). Scaling the synthesis back by 1 + eps makes the output
        unbiased for a tight-frame dictionary pair while the iteration keeps its contraction. Learned
        dictionaries are not tight, so detail the step gain g passes weakly stays attenuated by about
        (1 + eps) g / (eps + g). With ``polish`` = P, P plain gradient steps on the data term (no threshold,
        shrinkage or prior) from z* give a less biased but noisier reconstruction, and each band takes the
        share of it that `NoiseGate` assigns to its estimated noise level: nearly all at low noise, none
        at high noise. The solve and its equilibrium are unchanged.
        """
        s, hcodes = self.unpack(z, y)
        x = self._synthesise(s, hcodes)
        if self.out_scale != 1.0:
            x = x * self.out_scale
        if self.gate is None:
            return x
        return x + self.gate(y) * (self._polished(s, hcodes, y) - x)

    def _polished(self, s: torch.Tensor, hcodes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """K S + D H after ``polish`` sweeps of Eq. (20) without prox: plain steps on ||y - K S - D H||^2."""
        for _ in range(self.polish):
            s, hcodes = self._sweep(s, hcodes, y, _identity, _identity)
        return self._synthesise(s, hcodes)

    def _synthesise(self, s: torch.Tensor, hcodes: torch.Tensor) -> torch.Tensor:
        return self.K(s) + synthesise_3d(self.D, hcodes)


def _identity(v: torch.Tensor) -> torch.Tensor:
    return v


class _Scaled(nn.Module):
    """Parametrisation weight = stored * scale (a fixed buffer)."""

    def __init__(self, scale: float) -> None:
        super().__init__()
        self.register_buffer("scale", torch.tensor(float(scale)))

    def forward(self, stored: torch.Tensor) -> torch.Tensor:
        return stored * self.scale

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        return weight / self.scale


def _equalise(conv: nn.Module) -> None:
    """Store ``conv.weight`` in units of 10x its current RMS (see `DECSCLayer`)."""
    from torch.nn.utils import parametrize

    rms = float(conv.weight.detach().square().mean().sqrt()) * 10.0
    parametrize.register_parametrization(conv, "weight", _Scaled(rms if rms > 0 else 1.0))


def power_gain(op: Callable[[torch.Tensor], torch.Tensor], shape: tuple[int, ...], iters: int = 20) -> float:
    """Largest |eigenvalue| estimate of the (not necessarily symmetric) linear map ``op`` by power iteration."""
    v = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    gain = 0.0
    for _ in range(iters):
        v = v / v.norm()
        w = op(v)
        gain = float(w.norm())
        v = w
    return gain


@torch.no_grad()
def scale_to_norm(copies: tuple[nn.Module, ...], shape: tuple[int, ...], norm: float) -> None:
    """Scale every copy of one dictionary by the factor that gives the first (an analysis convolution on
    inputs of ``shape``) the operator norm ``norm``, so the copies stay equal to one another."""
    factor = norm / operator_norm(copies[0], shape)
    for conv in copies:
        conv.weight.mul_(factor)


def operator_norm(op: nn.Module, shape: tuple[int, ...], iters: int = 30) -> float:
    """Largest singular value of a linear convolution ``op`` on inputs of ``shape`` (power iteration)."""
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    sigma = 0.0
    with torch.enable_grad():
        for _ in range(iters):
            x = (x / x.norm()).detach().requires_grad_()
            (g,) = torch.autograd.grad(op(x).square().sum() / 2, x)
            sigma = float(g.norm()) ** 0.5
            x = g
    return sigma
