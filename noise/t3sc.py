"""T3SC's synthetic noise cases, group ``t3sc``.

Bodrito et al., "A Trainable Spectral-Spatial Sparse Coding Model for Hyperspectral Image Restoration",
NeurIPS 2021, arXiv:2111.09708.
"""

from __future__ import annotations

from noise import register
from noise._models import CorrelatedGaussian, FixedGaussian, Gaussian, T3SCStripes

_GROUPS = ("t3sc",)
_REF = "arXiv:2111.09708"

register("constant", groups=_GROUPS, reference=_REF, sigma=50.0,
         description="i.i.d. Gaussian, sigma 50/255")(FixedGaussian)
register("uniform", groups=_GROUPS, reference=_REF, smin=0.0, smax=55.0, levels=0,
         description="non-i.i.d. Gaussian, sigma_b ~ U[smin, smax]/255 (0-55)")(Gaussian)
register("correlated", groups=_GROUPS, beta=23.08, eta=0.157,
         description="spectrally correlated sigma (as corr)")(CorrelatedGaussian)
register("stripes", groups=_GROUPS, smin=25.0, smax=25.0, levels=0, kinds="stripe",
         description="Gaussian sigma 25/255 on every band plus additive stripes on 33 % of the bands")(T3SCStripes)
