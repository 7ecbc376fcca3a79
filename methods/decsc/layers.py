"""Building blocks of the DECSC layer: soft threshold, Swin prox (Net1), detail enhancement (Net2).

Reference: DECSC, Deep Equilibrium Convolutional Sparse Coding for Hyperspectral Image Denoising,
Section III-C (Eqs. 10, 22-24, Fig. 3).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from bench.estimate import MAD_TO_SIGMA

DIFFERENCE_OPERATORS = ("plain", "central", "band", "horizontal", "vertical")
#: Noise level (0-1 scale, about 25 / 255) at which a noise-adaptive threshold equals the plain one.
SIGMA_REF = 0.1


class SoftThreshold(nn.Module):
    """Eq. (10) with one learned threshold per code channel (init 0.01, as the authors' code).

    The threshold used is |theta| * ``scale``: a negative one would push codes away from zero at every
    iteration, and the stored value is in units of ``scale`` so that an optimiser step changes a threshold
    by about one percent rather than by its whole size. With ``shrink`` = eps > 0 the output is divided by
    1 + eps: the prox of theta |z| + eps / 2 z^2 (the elastic net, Zou and Hastie 2005) instead of theta |z|.
    Over-complete codes leave the plain ISTA map with directions of gain 1 (codes that K and D cancel), along
    which iterates drift for hundreds of steps; the factor 1 / (1 + eps) makes the prox a strict contraction,
    so the equilibrium exists, is unique for a non-expansive rest of the layer, and is reached in few steps.
    """

    EXPONENT_UNIT = 20.0

    def __init__(self, channels: int, *, init: float = 0.01, dims: int = 2, scale: float = 0.1,
                 shrink: float = 0.0, noise_adaptive: bool = False) -> None:
        super().__init__()
        if shrink < 0:
            raise ValueError(f"SoftThreshold: shrink must be >= 0, got {shrink}")
        self.scale, self.shrink = float(scale), float(shrink)
        shape = (1, channels) + (1,) * dims
        self.theta = nn.Parameter(torch.full(shape, float(init) / self.scale))
        self.exponent = nn.Parameter(torch.zeros(shape)) if noise_adaptive else None

    def forward(self, x: torch.Tensor, sigma: torch.Tensor | None = None) -> torch.Tensor:
        """``sigma``: the noise level the threshold follows (broadcastable to ``x``), with ``noise_adaptive``.

        The threshold becomes |theta| * scale * (sigma / SIGMA_REF)^a with a learned per-channel exponent a
        that starts at 0, where the plain threshold is: the optimal soft threshold of a code grows with the
        noise (about linearly for Gaussian noise, Donoho and Johnstone 1994), and a network trained on a
        range of noise levels otherwise settles on one threshold for all of them. a is stored in units of
        ``EXPONENT_UNIT`` so that an optimiser step of the usual size moves it by about one percent of 1.
        """
        threshold = self.scale * self.theta.abs()
        if self.exponent is not None:
            if sigma is None:
                raise ValueError("SoftThreshold: a noise-adaptive threshold needs the noise level sigma")
            power = self.EXPONENT_UNIT * self.exponent
            threshold = threshold * torch.exp(power * torch.log(sigma.clamp_min(1e-6) / SIGMA_REF))
        out = torch.sign(x) * F.relu(x.abs() - threshold)
        return out / (1.0 + self.shrink) if self.shrink else out


class NoiseGate(nn.Module):
    """Per-band weight w = 1 / (1 + (sigma_b / sigma_0)^p) from the band's estimated noise level sigma_b.

    A Wiener-like rule between a biased, clean estimate (w = 0) and a less biased, noisier one (w = 1):
    sigma_0 (the level where both count equally) and the sharpness p are learned, stored as logarithms
    so that they stay positive. The noise level comes from `band_sigma`, without a gradient.
    """

    def __init__(self, *, sigma: float = 0.055, power: float = 4.0) -> None:
        super().__init__()
        if sigma <= 0 or power <= 0:
            raise ValueError(f"NoiseGate: sigma and power must be > 0, got {sigma}, {power}")
        self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))
        self.log_power = nn.Parameter(torch.tensor(math.log(power)))

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """(N, B, 1, 1) weights for an (N, B, H, W) input."""
        log_sigma = band_sigma(y).clamp_min(1e-6).log()
        return torch.sigmoid(self.log_power.exp() * (self.log_sigma - log_sigma))


def band_sigma(y: torch.Tensor) -> torch.Tensor:
    """Per-band Gaussian noise level of (N, B, H, W) cubes, (N, B, 1, 1), by the wavelet MAD rule.

    The finest diagonal Haar coefficients of non-overlapping 2 x 2 blocks are dominated by noise, and
    median(|d|) / 0.6745 estimates its sigma (Donoho and Johnstone, Biometrika 1994). This is the rule of
    `bench.estimate.estimate_sigma` with the Haar instead of the Daubechies-2 wavelet, in torch so that it
    runs inside the network on any device; no gradient flows through it.
    """
    with torch.no_grad():
        h, w = (y.shape[-2] // 2) * 2, (y.shape[-1] // 2) * 2
        if h == 0 or w == 0:
            return y.new_zeros(y.shape[0], y.shape[1], 1, 1)
        x = y[..., :h, :w]
        d = (x[..., 0::2, 0::2] - x[..., 0::2, 1::2] - x[..., 1::2, 0::2] + x[..., 1::2, 1::2]) / 2
        return (d.abs().flatten(2).median(dim=2).values / MAD_TO_SIGMA)[..., None, None]


class SwinProx(nn.Module):
    """Net1: stacked Swin blocks (window attention, alternating shifts) on the shared 2-D codes S.

    Inputs of any spatial size work: they are replicate-padded to a multiple of the window and cropped
    back, so tiling and band-splitting never depend on the training patch size. The blocks' change to S is
    scaled by a learned per-channel factor that starts at zero (LayerScale/ReZero): the blocks normalise
    their input, so unscaled they would add O(1) values to codes of size ~0.01 and swamp the
    reconstruction in the first iterations.
    """

    def __init__(self, channels: int, *, blocks: int = 4, heads: int = 4, window: int = 4,
                 mlp_ratio: float = 2.0, norm_eps: float = 1e-5) -> None:
        super().__init__()
        from timm.models.swin_transformer import SwinTransformerBlock

        if channels % heads:
            raise ValueError(f"SwinProx: {channels} channels not divisible by {heads} heads")
        self.window = window
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(channels, (window * 2, window * 2), num_heads=heads, window_size=window,
                                 shift_size=0 if i % 2 == 0 else window // 2, always_partition=True,
                                 dynamic_mask=True, mlp_ratio=mlp_ratio,
                                 norm_layer=functools.partial(nn.LayerNorm, eps=norm_eps))
            for i in range(blocks))
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        h, w = s.shape[-2:]
        ph, pw = (-h) % self.window, (-w) % self.window
        x = F.pad(s, (0, pw, 0, ph), mode="replicate") if ph or pw else s
        x = x.permute(0, 2, 3, 1)
        for blk in self.blocks:
            x = blk(x)
        return s + self.gamma * (x.permute(0, 3, 1, 2)[..., :h, :w] - s)


class DifferenceConv3d(nn.Module):
    """Fig. 3: a plain 3 x 3 x 3 convolution plus four HSI difference operators, summed.

    Each operator has its own weights and acts on (band, row, column) volumes:
    ``central``: sum_k w_k (x_k - x_centre); ``band``: sum over a 3 x 3 spatial window of
    w (x[b-1] - x[b+1]); ``horizontal``: over a 3 x 3 (band, row) window, w (x[col-1] - x[col+1]);
    ``vertical``: the same along rows. All five are linear, so they are folded into one kernel and
    applied by a single convolution (same result, one pass).
    """

    def __init__(self, channels: int, *, operators: tuple[str, ...] = DIFFERENCE_OPERATORS,
                 init_scale: float = 0.1) -> None:
        super().__init__()
        bad = set(operators) - set(DIFFERENCE_OPERATORS)
        if bad:
            raise ValueError(f"DifferenceConv3d: unknown operator(s) {sorted(bad)}")
        self.operators = tuple(operators)
        shapes = {"plain": (3, 3, 3), "central": (3, 3, 3), "band": (3, 3), "horizontal": (3, 3),
                  "vertical": (3, 3)}
        self.weights = nn.ParameterDict()
        for name in self.operators:
            w = torch.empty(channels, channels, *shapes[name])
            nn.init.kaiming_normal_(w)
            self.weights[name] = nn.Parameter(w * init_scale)
        self.bias = nn.Parameter(torch.zeros(channels))

    def kernel(self) -> torch.Tensor:
        """The folded 3 x 3 x 3 kernel (out, in, band, row, col) of all active operators."""
        ref = next(iter(self.weights.values()))
        k = torch.zeros(ref.shape[0], ref.shape[1], 3, 3, 3, dtype=ref.dtype, device=ref.device)
        for name, w in self.weights.items():
            k = k + _operator_kernel(name, w)
        return k

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv3d(channels_last(x), self.kernel(), self.bias, padding=1)


def _operator_kernel(name: str, w: torch.Tensor) -> torch.Tensor:
    """Embed one operator's weights in a 3 x 3 x 3 kernel (cross-correlation convention of conv3d)."""
    if name == "plain":
        return w
    if name == "central":
        centre = torch.zeros_like(w)
        centre[:, :, 1, 1, 1] = w.sum(dim=(2, 3, 4))
        return w - centre
    k = w.new_zeros(w.shape[0], w.shape[1], 3, 3, 3)
    if name == "band":
        k[:, :, 0], k[:, :, 2] = w, -w
    elif name == "vertical":
        k[:, :, :, 0], k[:, :, :, 2] = w, -w
    else:
        k[:, :, :, :, 0], k[:, :, :, :, 2] = w, -w
    return k


class DetailEnhancement(nn.Module):
    """Net2, Eq. (24): H <- H + DConv(H); H <- H + H * tanh(Conv(Conv(H))) (3 x 3 x 3 convolutions).

    The attention map is bounded by tanh (Eq. 24 writes it unbounded): inside an equilibrium iteration an
    unbounded H * Conv(Conv(H)) term is quadratic in H and lets the iterates blow up. Both halves start
    close to the identity (weights scaled by ``init_scale``) and either can be switched off for the
    ablations of Table V.
    """

    def __init__(self, channels: int, *, dconv: bool = True, attention: bool = True,
                 init_scale: float = 0.01) -> None:
        super().__init__()
        self.dconv = DifferenceConv3d(channels, init_scale=init_scale) if dconv else None
        self.att = nn.Sequential(nn.Conv3d(channels, channels, 3, padding=1),
                                 nn.Conv3d(channels, channels, 3, padding=1)) if attention else None
        if self.att is not None:
            for conv in self.att:
                nn.init.kaiming_normal_(conv.weight)
                conv.weight.data.mul_(init_scale)
                nn.init.zeros_(conv.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.dconv is not None:
            h = h + self.dconv(h)
        if self.att is not None:
            h = h + h * torch.tanh(self.att(channels_last(h)))
        return h


def synthesise_3d(dictionary: nn.ConvTranspose3d, codes: torch.Tensor) -> torch.Tensor:
    """A one-output 3-D dictionary applied to (N, J, B, H, W) codes, as an (N, B', H', W') cube.

    Without a graph it runs as J single-atom (grouped) convolutions with the flipped kernels, summed over
    atoms: the same operator as the transposed convolution and, channels-last, about 6 times faster on CPU
    (96 atoms of 3 x 9 x 9 on 29 x 56 x 56 codes: 0.11 s against 0.63 s on one thread). With a graph the
    transposed convolution stays: the grouped form's backward is the slower one.
    """
    if torch.is_grad_enabled() and (codes.requires_grad or dictionary.weight.requires_grad):
        return dictionary(channels_last(codes))[:, 0]
    padding = tuple(k - 1 - p for k, p in zip(dictionary.kernel_size, dictionary.padding))
    kernel = dictionary.weight.flip((2, 3, 4))
    return F.conv3d(channels_last(codes), kernel, padding=padding, groups=codes.shape[1]).sum(dim=1)


def channels_last(x: torch.Tensor) -> torch.Tensor:
    """3-D convolutions (and above all their backward) run several times faster channels-last on CPU."""
    return x.contiguous(memory_format=torch.channels_last_3d)
