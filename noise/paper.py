"""The DECSC paper's five synthetic noise rows (Table II), group ``paper``; ``all`` selects these, in order.

DECSC: "Deep Equilibrium Convolutional Sparse Coding for Hyperspectral Image Denoising", section IV-A3.
"""

from __future__ import annotations

from noise import register
from noise._models import CorrelatedGaussian, Gaussian, Structured

_GROUPS = ("paper",)

for _smax in (15, 55, 95):
    register(f"noniid-{_smax}", groups=_GROUPS, smin=0.0, smax=float(_smax), levels=0,
             description=f"non-i.i.d. Gaussian, sigma_b ~ U[0, {_smax}]/255 per band")(Gaussian)

register("mixture", groups=_GROUPS, smin=0.0, smax=95.0, levels=0, kinds="impulse+stripe+deadline",
         description="noniid-95, then impulse (ratio 0.1-0.7), stripe (5-15 % columns) and deadline noise "
                     "on three disjoint groups of floor(B/3) bands")(Structured)

register("corr", groups=_GROUPS, beta=23.08, eta=0.157,
         description="spectrally correlated sigma: beta 23.08, eta 0.157 (1.83 ... 23.02 for 31 bands)")(
    CorrelatedGaussian)
