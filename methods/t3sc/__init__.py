"""T3SC: trainable spectral-spatial sparse coding (our implementation), registered as ``t3sc`` and ``t3sc.small``.

Bodrito, Zouaoui, Chanussot, Mairal, "A Trainable Spectral-Spatial Sparse Coding Model for Hyperspectral
Image Restoration", NeurIPS 2021 (arXiv:2111.09708). ``t3sc`` has the paper's size (832,256 parameters at
31 bands); ``t3sc.small`` keeps the structure with fewer codes and ISTA steps so it trains on a CPU.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from methods import register
from methods.t3sc.network import LowRankSCLayer, T3SCNet, soft_threshold
from methods.trainable import TrainableMethod

#: Trained with the balanced loss, as ``decsc.small`` is, so that both learned rows share one recipe.
_SMALL = {"codes1": 128, "steps0": 8, "steps1": 3, "loss": "balanced"}


@register("t3sc.small", **_SMALL)
@register("t3sc")
class T3SC(TrainableMethod):
    """Two unfolded low-rank sparse-coding layers (1 x 1 spectral, then 5 x 5 spatial), blind to sigma.

    Inference reflect-pads the image by ``margin`` pixels, runs on ``tile`` x ``tile`` tiles blended over
    ``overlap`` pixels and clamps outputs to [0, 1] as in the authors' evaluation (``clamp=False`` keeps the
    raw output).
    """

    family: ClassVar[str] = "hybrid"
    description: ClassVar[str] = "trainable spectral-spatial sparse coding, 2 unfolded low-rank CSC layers"
    reference: ClassVar[str] = "Bodrito et al., NeurIPS 2021, arXiv:2111.09708"
    license: ClassVar[str] = "MIT"
    version: ClassVar[str] = "1"
    defaults: ClassVar[dict[str, Any]] = {
        **TrainableMethod.defaults, "tile": 96, "overlap": 16, "margin": 8, "ensemble": 1,
        "clamp": True,
        "codes0": 64, "rank0": 1, "steps0": 12, "codes1": 1024, "rank1": 3, "kernel1": 5, "steps1": 5,
        "estimator": False,
    }
    train_defaults: ClassVar[dict[str, Any]] = {"epochs": 60, "batch_size": 16, "lr": 3e-4, "milestones": (30, 45),
                                                "gamma": 0.5}

    def build_network(self) -> torch.nn.Module:
        p = self.params
        return T3SCNet(int(p["bands"]), codes0=int(p["codes0"]), rank0=int(p["rank0"]), steps0=int(p["steps0"]),
                       codes1=int(p["codes1"]), rank1=int(p["rank1"]), kernel1=int(p["kernel1"]),
                       steps1=int(p["steps1"]), estimator=bool(p["estimator"]))


__all__ = ["T3SC", "T3SCNet", "LowRankSCLayer", "soft_threshold"]
