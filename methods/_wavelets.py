"""Orthonormal periodised 2-D Daubechies wavelet transform in torch (HyRes' sparsifying transform).

Periodisation keeps the transform exactly orthonormal, so white noise of unit variance stays white with
unit variance in every sub-band (what SURE thresholding assumes). Coefficients are kept in Mallat's layout:
one tensor of the input's shape, the coarsest approximation in the top-left corner.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Daubechies' orthonormal low-pass filters by number of vanishing moments (Daubechies, "Ten Lectures on
#: Wavelets", SIAM 1992, Table 6.1), in decomposition order.
DAUBECHIES = {
    5: (0.0033357252854737712, -0.012580751999081999, -0.006241490212798274, 0.07757149384004572,
        -0.032244869584638375, -0.24229488706638203, 0.13842814590132074, 0.7243085284377729,
        0.6038292697971896, 0.16010239797419293),
}


def _filters(order: int, like: torch.Tensor) -> torch.Tensor:
    """(2, 1, L) analysis filters: low pass, and its quadrature mirror high pass, as correlation kernels."""
    lo = torch.tensor(DAUBECHIES[order], dtype=like.dtype, device=like.device).flip(0)
    sign = torch.tensor([(-1.0) ** k for k in range(lo.numel())], dtype=like.dtype, device=like.device)
    hi = lo.flip(0) * sign
    return torch.stack([lo, hi])[:, None, :]


def _wrap(x: torch.Tensor, extra: int) -> torch.Tensor:
    """``x`` (N, 1, n) followed by its first ``extra`` samples, repeating periodically when extra > n."""
    reps = -(-(x.shape[-1] + extra) // x.shape[-1])
    return x.repeat(1, 1, reps)[..., : x.shape[-1] + extra]


def _analysis_1d(x: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """One periodised level along the last axis of (N, n): [approximation | detail], n even."""
    length = filt.shape[-1]
    out = F.conv1d(_wrap(x[:, None], length - 2), filt, stride=2)
    return out.reshape(x.shape[0], -1)


def _synthesis_1d(c: torch.Tensor, filt: torch.Tensor) -> torch.Tensor:
    """The exact adjoint (= inverse) of `_analysis_1d`."""
    n, length = c.shape[-1], filt.shape[-1]
    coeffs = c.reshape(c.shape[0], 2, n // 2)
    full = F.conv_transpose1d(coeffs, filt, stride=2)[:, 0]
    out = full[:, :n].clone()
    tail = full[:, n:]
    for start in range(0, tail.shape[-1], n):
        piece = tail[:, start:start + n]
        out[:, : piece.shape[-1]] += piece
    return out


def _along(x: torch.Tensor, dim: int, fn, filt: torch.Tensor) -> torch.Tensor:
    moved = x.movedim(dim, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    return fn(flat, filt).reshape(moved.shape).movedim(-1, dim)


def dwt2(x: torch.Tensor, levels: int, order: int = 5) -> torch.Tensor:
    """``levels``-level 2-D transform of (..., H, W) images, H and W divisible by 2**levels."""
    filt = _filters(order, x)
    out = x.clone()
    h, w = x.shape[-2:]
    for _ in range(levels):
        sub = out[..., :h, :w]
        sub = _along(_along(sub, -2, _analysis_1d, filt), -1, _analysis_1d, filt)
        out[..., :h, :w] = sub
        h, w = h // 2, w // 2
    return out


def idwt2(c: torch.Tensor, levels: int, order: int = 5) -> torch.Tensor:
    """Inverse of `dwt2`."""
    filt = _filters(order, c)
    out = c.clone()
    sizes = [(c.shape[-2] >> k, c.shape[-1] >> k) for k in range(levels)]
    for h, w in reversed(sizes):
        sub = out[..., :h, :w]
        sub = _along(_along(sub, -1, _synthesis_1d, filt), -2, _synthesis_1d, filt)
        out[..., :h, :w] = sub
    return out
