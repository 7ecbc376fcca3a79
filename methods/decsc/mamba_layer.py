"""The DECSC layer in the layout of the authors' released code (the VMamba variant, ``decsc.mamba``).

Differences from `methods.decsc.network.DECSCLayer` (the paper's Swin layout), all taken from the
released model:

* three independent copies of each dictionary: a decoder for the gradient step, an encoder (its learned
  transpose) and "filters" that synthesise the cross term between the two code sets and the final image;
* codes without padding ("valid" convolutions): S is M x (H-k+1) x (W-k+1) and the 3-D codes are
  J x (B-kb+1) x (H-k+1) x (W-k+1);
* thresholds are raw learned per-channel values (no absolute value), starting at 0.01;
* the prox on S is a VMamba stack (`methods.decsc.vmamba.VMambaProx`), the one on H the detail
  enhancement H + ReLU(DConv H) followed by the gate H * sigmoid(Conv(ReLU(Conv H))) with half the
  channels in between; DConv has one bias per difference operator (five);
* the solve starts from one pass of the layer from zero codes (the released "sparse code init"; the
  DEQ's ``warm_start``).

Reference: DECSC, Section III (Eqs. 9, 20-24); the authors' public code (model CSCNet_T_grad_DEQ).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from methods.decsc.layers import DifferenceConv3d, channels_last, synthesise_3d
from methods.decsc.network import power_gain, scale_to_norm
from methods.decsc.vmamba import VMambaProx


class RawThreshold(nn.Module):
    """Soft threshold with a learned per-channel value used as stored: relu(x - t) - relu(-x - t).

    ``shrink`` = eps > 0 divides the output by 1 + eps, the elastic-net prox of `SoftThreshold` (not in the
    released model, whose value is 0): it makes the iteration contract so that the equilibrium exists.
    """

    def __init__(self, channels: int, *, init: float = 0.01, dims: int = 2, shrink: float = 0.0) -> None:
        super().__init__()
        if shrink < 0:
            raise ValueError(f"RawThreshold: shrink must be >= 0, got {shrink}")
        self.shrink = float(shrink)
        self.theta = nn.Parameter(torch.full((1, channels) + (1,) * dims, float(init)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(x - self.theta) - F.relu(-x - self.theta)
        return out / (1.0 + self.shrink) if self.shrink else out


class FiveBiasDConv(DifferenceConv3d):
    """The difference convolution of `DifferenceConv3d` with one bias per operator, summed (as released)."""

    def __init__(self, channels: int, *, init_scale: float = 0.01) -> None:
        super().__init__(channels, init_scale=init_scale)
        del self.bias
        self.biases = nn.ParameterDict({name: nn.Parameter(torch.zeros(channels)) for name in self.operators})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = torch.stack(list(self.biases.values())).sum(0)
        return F.conv3d(channels_last(x), self.kernel(), bias, padding=1)


class GatedDetailEnhancement(nn.Module):
    """Net2 as released: H <- H + ReLU(DConv H); H <- H * sigmoid(Conv(ReLU(Conv H))) (3 x 3 x 3 convs)."""

    def __init__(self, channels: int, *, reduction: float = 0.5, init_scale: float = 0.01) -> None:
        super().__init__()
        mid = int(channels * reduction)
        self.dconv = FiveBiasDConv(channels, init_scale=init_scale)
        self.reduce = nn.Conv3d(channels, mid, 3, padding=1)
        self.expand = nn.Conv3d(mid, channels, 3, padding=1)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        h = h + F.relu(self.dconv(h))
        gate = torch.sigmoid(self.expand(F.relu(self.reduce(channels_last(h)))))
        return h * gate


class MambaDECSCLayer(nn.Module):
    """f(z, y) of the released model: S first (VMamba prox), then the 3-D codes from the new S.

    ``K_dec, K_enc, K_syn`` are the decoder, encoder and synthesis copies of the 2-D dictionary (M atoms
    of k x k per band), ``D_dec, D_enc, D_syn`` those of the 3-D dictionary (J atoms of kb x k x k).
    All six start as the same Kaiming-normal (fan-out) draw divided by sqrt(1000), as released.
    ``dict_norm``, ``shrink`` and ``debias`` are the options of `methods.decsc.network.DECSCLayer` for short
    contractive training (all off in the released model): ``dict_norm`` rescales each dictionary's copies
    to that operator norm, so the first gradient steps are well-stepped. `control_steps` caps the gains of
    the two gradient steps as there.
    """

    def __init__(self, *, bands: int, gic_atoms: int = 192, gic_kernel: int = 9, lsu_atoms: int = 96,
                 lsu_kernel: tuple[int, int] = (3, 9), threshold: float = 0.01, stages: int = 4,
                 d_state: int = 16, ssm_ratio: float = 2.0, mlp_ratio: float = 4.0, drop_path: float = 0.5,
                 attention_reduction: float = 0.5, scan: str = "auto", shrink: float = 0.0,
                 debias: bool = False, dict_norm: float | None = None) -> None:
        super().__init__()
        self.out_scale = 1.0 + shrink if debias else 1.0
        kb, ks = lsu_kernel
        self.bands, self.gic_atoms, self.lsu_atoms = bands, gic_atoms, lsu_atoms
        self.gic_kernel, self.lsu_kernel = gic_kernel, (kb, ks)
        self.K_dec = nn.ConvTranspose2d(gic_atoms, bands, gic_kernel, bias=False)
        self.K_enc = nn.Conv2d(bands, gic_atoms, gic_kernel, bias=False)
        self.K_syn = nn.ConvTranspose2d(gic_atoms, bands, gic_kernel, bias=False)
        self.D_dec = nn.ConvTranspose3d(lsu_atoms, 1, (kb, ks, ks), bias=False)
        self.D_enc = nn.Conv3d(1, lsu_atoms, (kb, ks, ks), bias=False)
        self.D_syn = nn.ConvTranspose3d(lsu_atoms, 1, (kb, ks, ks), bias=False)
        with torch.no_grad():
            for copies in ((self.K_dec, self.K_enc, self.K_syn), (self.D_dec, self.D_enc, self.D_syn)):
                nn.init.kaiming_normal_(copies[0].weight, mode="fan_out")
                copies[0].weight.div_(math.sqrt(1000.0))
                for other in copies[1:]:
                    other.weight.copy_(copies[0].weight)
            if dict_norm is not None:
                scale_to_norm((self.K_enc, self.K_dec, self.K_syn), (1, bands, 16, 16), dict_norm)
                scale_to_norm((self.D_enc, self.D_dec, self.D_syn), (1, 1, bands, 16, 16), dict_norm)
        self.thr_s = RawThreshold(gic_atoms, init=threshold, dims=2, shrink=shrink)
        self.thr_h = RawThreshold(lsu_atoms, init=threshold, dims=3, shrink=shrink)
        self.prox_s = VMambaProx(gic_atoms, stages=stages, d_state=d_state, ssm_ratio=ssm_ratio,
                                 mlp_ratio=mlp_ratio, drop_path=drop_path, scan=scan)
        self.prox_h = GatedDetailEnhancement(lsu_atoms, reduction=attention_reduction)

    @torch.no_grad()
    def control_steps(self, bound: float = 1.0, probe: int = 16) -> dict[str, float]:
        """Rescale each encoder so that its gradient step's gain ||enc dec|| stays at or below ``bound``.

        Only the encoders change, so the synthesis copies (and the reconstruction) do not. Returns the gains
        found before rescaling (power iteration on ``probe`` x ``probe`` codes).
        """
        kb = self.lsu_kernel[0]
        pairs = (("gic", self.K_dec, self.K_enc, (1, self.gic_atoms, probe, probe)),
                 ("lsu", self.D_dec, self.D_enc, (1, self.lsu_atoms, max(self.bands - kb + 1, 1), probe, probe)))
        gains = {}
        for name, dec, enc, shape in pairs:
            gains[name] = power_gain(lambda v: enc(dec(v)), shape)
            if gains[name] > bound:
                enc.weight.mul_(bound / gains[name])
        return gains

    def code_shapes(self, y: torch.Tensor) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """Shapes (without batch) of S and of the 3-D codes for an (N, B, H, W) input."""
        _, b, h, w = y.shape
        hs, ws = h - self.gic_kernel + 1, w - self.gic_kernel + 1
        kb, ks = self.lsu_kernel
        if min(hs, ws, h - ks + 1, w - ks + 1) < 1 or b < kb:
            raise ValueError(f"MambaDECSCLayer: input {h} x {w} x {b} is smaller than its kernels")
        return (self.gic_atoms, hs, ws), (self.lsu_atoms, b - kb + 1, h - ks + 1, w - ks + 1)

    def state_size(self, y: torch.Tensor) -> int:
        """Length D of the flat state for an (N, B, H, W) input."""
        return sum(math.prod(s) for s in self.code_shapes(y))

    def init_state(self, y: torch.Tensor) -> torch.Tensor:
        """Zero codes (the released warm start is one f pass from them: ``DEQ(warm_start=True)``)."""
        return y.new_zeros(y.shape[0], self.state_size(y))

    def unpack(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s_shape, h_shape = self.code_shapes(y)
        cut = math.prod(s_shape)
        return z[:, :cut].reshape(-1, *s_shape), z[:, cut:].reshape(-1, *h_shape)

    @staticmethod
    def pack(s: torch.Tensor, hcodes: torch.Tensor) -> torch.Tensor:
        return torch.cat([s.flatten(1), hcodes.flatten(1)], dim=1)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """f(z, y): gradient steps with the decoder/encoder copies, the cross term with the synthesis copy."""
        if y.shape[1] != self.bands:
            raise ValueError(f"MambaDECSCLayer: built for {self.bands} bands, got {y.shape[1]}")
        s, hcodes = self.unpack(z, y)
        lsu = synthesise_3d(self.D_syn, hcodes)
        s = self.prox_s(self.thr_s(s - self.K_enc(self.K_dec(s) - (y - lsu))))
        gic = self.K_syn(s)
        residual = synthesise_3d(self.D_dec, hcodes) - (y - gic)
        hcodes = self.prox_h(self.thr_h(hcodes - self.D_enc(residual[:, None])))
        return self.pack(s, hcodes.contiguous())

    def reconstruct(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """X = K_syn S* + D_syn H*, times 1 + ``shrink`` with ``debias``."""
        s, hcodes = self.unpack(z, y)
        x = self.K_syn(s) + synthesise_3d(self.D_syn, hcodes)
        return x * self.out_scale if self.out_scale != 1.0 else x

