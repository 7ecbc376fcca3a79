"""The common ICVL protocol of QRNN3D, group ``qrnn3d`` (SPEC section 2).

Wei et al., "3-D Quasi-Recurrent Neural Network for Hyperspectral Image Denoising", IEEE TNNLS 2021,
doi:10.1109/TNNLS.2020.2978756. The single-type cases corrupt floor(B/3) bands as the Python training
code does; pass ``bands=10`` for the MATLAB test sets' count.
"""

from __future__ import annotations

from noise import register
from noise._models import FixedGaussian, Gaussian, Structured

_GROUPS = ("qrnn3d",)
_NONIID = {"smin": 10.0, "smax": 70.0, "levels": 4}

for _sigma in (30, 50, 70):
    register(f"gauss-{_sigma}", groups=_GROUPS, sigma=float(_sigma),
             description=f"i.i.d. Gaussian, sigma {_sigma}/255")(FixedGaussian)

register("blind", groups=_GROUPS, smin=10.0, smax=70.0, levels=0, per_band=False,
         description="i.i.d. Gaussian, one sigma per image ~ U[10, 70]/255")(Gaussian)
register("noniid", groups=_GROUPS, **_NONIID,
         description="non-i.i.d. Gaussian, sigma_b drawn from {10, 30, 50, 70}/255")(Gaussian)

for _kind, _text in (("stripe", "column stripes (offset U*0.5 - 0.25 subtracted)"),
                     ("deadline", "dead columns set to 0"),
                     ("impulse", "salt-and-pepper, ratio from {0.1, 0.3, 0.5, 0.7}")):
    register(_kind, groups=_GROUPS, **_NONIID, kinds=_kind,
             description=f"noniid, then {_text} on floor(B/3) bands")(Structured)

register("complex-mixture", groups=_GROUPS, **_NONIID, kinds="stripe+deadline+impulse",
         description="noniid, then stripe, deadline and impulse noise on disjoint floor(B/3)-band groups")(Structured)
