"""Blind training regimes, group ``training``: one checkpoint trained on these covers every paper row."""

from __future__ import annotations

from noise import register
from noise._models import Structured

register("blind-mix", groups=("training",), smin=0.0, smax=95.0, levels=0, kinds="impulse+stripe+deadline",
         p=0.5, description="sigma_b ~ U[0, 95]/255 per band; with probability p also the mixture's impulse, "
                            "stripe and deadline noise")(Structured)
