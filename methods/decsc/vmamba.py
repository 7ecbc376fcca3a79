"""VMamba prox for the shared 2-D codes S of ``decsc.mamba``: visual state-space blocks with the SS2D scan.

A block is pre-norm residual: x + SS2D(LN(x)), then x + MLP(LN(x)). SS2D projects to an inner width
(``ssm_ratio`` x channels) and a gate, runs a depthwise 3 x 3 convolution and SiLU, then scans the map in
four directions (rows, columns, and both reversed) with input-dependent (selective) state-space
parameters, sums the four outputs back on the grid, normalises, multiplies by the SiLU gate and projects
back. The prox stacks one such block per stage with stochastic depth rising linearly to ``drop_path``.

References: Liu et al., VMamba: Visual State Space Model, NeurIPS 2024 (SS2D, Sec. 4); Gu & Dao, Mamba,
arXiv:2312.00752 (selective scan and its initialisation); DECSC, Section III-C (prox on S).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import DropPath, trunc_normal_
from torch import nn

from methods.decsc.scan import selective_scan

DIRECTIONS = 4


class SS2D(nn.Module):
    """2-D selective scan over four directions on a channels-last map (N, H, W, C) -> same shape."""

    def __init__(self, channels: int, *, d_state: int = 16, ssm_ratio: float = 2.0, d_conv: int = 3,
                 dt_min: float = 1e-3, dt_max: float = 0.1, scan: str = "auto") -> None:
        super().__init__()
        inner = int(ssm_ratio * channels)
        rank = math.ceil(channels / 16)
        self.inner, self.rank, self.d_state, self.scan = inner, rank, d_state, scan
        self.in_proj = nn.Linear(channels, 2 * inner, bias=False)
        self.dwconv = nn.Conv2d(inner, inner, d_conv, padding=(d_conv - 1) // 2, groups=inner, bias=True)
        bound = inner ** -0.5
        self.x_proj = nn.Parameter(torch.empty(DIRECTIONS, rank + 2 * d_state, inner).uniform_(-bound, bound))
        self.dt_proj = nn.Parameter(torch.empty(DIRECTIONS, inner, rank).uniform_(-rank ** -0.5, rank ** -0.5))
        dt = torch.exp(torch.rand(DIRECTIONS, inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min))
        dt = dt.clamp_min(1e-4)
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))      # softplus(dt_bias) = dt
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(DIRECTIONS * inner, 1)
        self.A_log = nn.Parameter(a.log())                                    # S4D-real: A = -(1..N)
        self.D = nn.Parameter(torch.ones(DIRECTIONS * inner))
        self.out_norm = nn.LayerNorm(inner)
        self.out_proj = nn.Linear(inner, channels, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, h, w, _ = x.shape
        x, gate = self.in_proj(x).chunk(2, dim=-1)
        x = F.silu(self.dwconv(x.permute(0, 3, 1, 2).contiguous()))       # (n, inner, h, w)
        length = h * w
        rows = x.flatten(2)
        cols = x.transpose(2, 3).flatten(2)
        seqs = torch.stack([rows, cols, rows.flip(-1), cols.flip(-1)], dim=1)  # (n, 4, inner, L)
        proj = torch.einsum("nkdl,kcd->nkcl", seqs, self.x_proj)
        dts, Bs, Cs = proj.split([self.rank, self.d_state, self.d_state], dim=2)
        dts = torch.einsum("nkrl,kdr->nkdl", dts, self.dt_proj)
        y = selective_scan(seqs.reshape(n, -1, length), dts.reshape(n, -1, length), -self.A_log.exp(),
                           Bs.contiguous(), Cs.contiguous(), self.D, self.dt_bias.reshape(-1),
                           delta_softplus=True, backend=self.scan).view(n, DIRECTIONS, self.inner, length)
        back = y[:, 2:].flip(-1)
        y = y[:, 0] + back[:, 0] + _columns_to_rows(y[:, 1] + back[:, 1], h, w)
        y = self.out_norm(y.transpose(1, 2)).view(n, h, w, self.inner)
        return self.out_proj(y * F.silu(gate))


def _columns_to_rows(y: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A sequence in column-major order (N, C, W*H) back to row-major (N, C, H*W)."""
    n, c, _ = y.shape
    return y.view(n, c, w, h).transpose(2, 3).reshape(n, c, h * w)


class VSSBlock(nn.Module):
    """x + DropPath(SS2D(LN x)); x + DropPath(MLP(LN x)) on channels-last maps."""

    def __init__(self, channels: int, *, drop_path: float = 0.0, d_state: int = 16, ssm_ratio: float = 2.0,
                 mlp_ratio: float = 4.0, d_conv: int = 3, scan: str = "auto") -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(channels)
        self.mixer = SS2D(channels, d_state=d_state, ssm_ratio=ssm_ratio, d_conv=d_conv, scan=scan)
        self.norm2 = nn.LayerNorm(channels)
        hidden = int(channels * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class VMambaProx(nn.Module):
    """Net1 of ``decsc.mamba``: ``stages`` VSS blocks on (N, C, H, W) codes, stochastic depth 0 .. ``drop_path``.

    Linear weights start truncated-normal (std 0.02) with zero biases, LayerNorms at identity.
    ``scan`` selects the selective-scan backend (see `methods.decsc.scan.selective_scan`).
    """

    def __init__(self, channels: int, *, stages: int = 4, d_state: int = 16, ssm_ratio: float = 2.0,
                 mlp_ratio: float = 4.0, drop_path: float = 0.5, d_conv: int = 3, scan: str = "auto") -> None:
        super().__init__()
        rates = torch.linspace(0, drop_path, stages).tolist()
        self.blocks = nn.ModuleList(
            VSSBlock(channels, drop_path=rate, d_state=d_state, ssm_ratio=ssm_ratio, mlp_ratio=mlp_ratio,
                     d_conv=d_conv, scan=scan) for rate in rates)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def set_scan(self, backend: str) -> None:
        """Switch every block's selective-scan backend (for benchmarks and CUDA/CPU moves)."""
        for m in self.modules():
            if isinstance(m, SS2D):
                m.scan = backend

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        x = s.permute(0, 2, 3, 1)
        for blk in self.blocks:
            x = blk(x)
        return x.permute(0, 3, 1, 2)
