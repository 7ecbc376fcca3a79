"""``decsc.mamba``: DECSC in the layout and with the solve schedule of the authors' released code.

The released model is the paper's Mamba variant (Table IV: 5.05 M parameters); at 31 bands this layout
has 5,056,944 parameters, as theirs. Its checkpoints are converted with ``bench import-weights decsc.mamba``
(`methods.decsc.importer`). The solve schedule follows the code: warm start by one f pass from zero
codes, Anderson (memory 6, absolute lambda 1e-4, tolerance 1e-3, 20 f-evaluations), then one plain f and
five damped steps z <- 0.1 z + 0.9 f(z), at evaluation as well. ``unroll=K`` runs the released unrolled
mode instead (K plain f passes after the warm start, no solver, no damped steps).

Reference: DECSC (TGRS 2025), Sections III-IV and Table IV; the authors' public code (CSCNet_T_grad_DEQ).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch

from methods import register
from methods.decsc.deq import DEQ
from methods.decsc.importer import convert_released
from methods.decsc.mamba_layer import MambaDECSCLayer
from methods.decsc.method import DECSC
from methods.decsc.solvers import relative_residual
from methods.trainable import TrainableMethod


class ReleasedDEQ(DEQ):
    """`DEQ` with the released schedule (warm start, absolute Anderson lambda, one plain f before the damped
    steps) and an optional unrolled mode of ``unroll`` plain passes after the warm start (no solver)."""

    def __init__(self, layer: torch.nn.Module, *, unroll: int = 0, relative_lam: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(layer, **kwargs)
        if self.solver == "anderson":
            self.solver_kwargs["relative_lam"] = bool(relative_lam)
        self.unroll = int(unroll)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        if self.unroll <= 0:
            return super().forward(y)
        z = self.layer.init_state(y)
        if self.warm_start:
            with torch.no_grad():
                z = self.layer(z, y)
        trace: list[float] = []
        for _ in range(self.unroll):
            fz = self.layer(z, y)
            trace.append(relative_residual(z.detach(), fz.detach()))
            z = fz
            if self.callback is not None:
                with torch.no_grad():
                    self.callback(self.layer.reconstruct(z, y))
        self.last_info = {"solver": "unrolled", "iterations": self.unroll, "relative_residual": trace[-1],
                          "residual_trace": trace, "converged": trace[-1] <= self.tol,
                          "finite": trace[-1] < float("inf"), "fallbacks": 0, "gradient": "unroll",
                          "warm_start": self.warm_start, "f_evals": self.unroll + int(self.warm_start), "tol": self.tol}
        return self.layer.reconstruct(z, y)


#: CPU-sized configuration of the same layout with decsc.small's contraction recipe (shrink, debias, dictionary
#: norm, Jacobian penalty, step control; see the README), solving to 1e-3 within 20 iterations in training and
#: 30 at inference.
_SMALL = {"gic_atoms": 32, "gic_kernel": 5, "lsu_atoms": 8, "lsu_kernel": [3, 5], "stages": 2, "d_state": 8,
          "mlp_ratio": 2.0, "drop_path": 0.1, "max_iter": 30, "train_max_iter": 20, "shrink": 0.7, "debias": True,
          "dict_norm": 0.7, "jac_weight": 1000.0, "step_control": 1.0, "fail_bound": 0.9}


@register("decsc.mamba")
class DECSCMamba(DECSC):
    """DECSC as released by its authors: three dictionary copies, valid codes, VMamba prox on S.

    Inference is tiled (default: 128-pixel tiles blended over 16 pixels; the released protocol is
    ``tile=128, overlap=0, band_overlap=0``) and band-split like `DECSC`.
    """

    version = "1"
    description = ("DECSC as the authors released it (VMamba prox, three dictionary copies; paper size "
                   "5,056,944 parameters at 31 bands)")
    defaults: ClassVar[dict[str, Any]] = {
        **TrainableMethod.defaults, "clamp": False, "batch": 1, "tile": 128, "overlap": 16, "band_overlap": 8,
        "gic_atoms": 192, "gic_kernel": 9, "lsu_atoms": 96, "lsu_kernel": [3, 9], "threshold": 0.01,
        "stages": 4, "d_state": 16, "ssm_ratio": 2.0, "mlp_ratio": 4.0, "drop_path": 0.5,
        "attention_reduction": 0.5, "scan": "auto", "unroll": 0,
        "solver": "anderson", "gradient": "phantom", "max_iter": 20, "train_max_iter": 20, "tol": 1e-3,
        "memory": 6, "beta": 1.0, "lam": 1e-4, "relative_lam": False, "warm_start": True, "post_plain": True,
        "phantom_steps": 5,
        "tau": 0.9, "fail_bound": 1.0, "shrink": 0.0, "debias": False, "dict_norm": None, "jac_weight": 0.0,
        "jac_freq": 1, "step_control": None,
    }
    inference_params: ClassVar[frozenset[str]] = DECSC.inference_params | frozenset(
        {"scan", "unroll", "relative_lam", "warm_start", "post_plain"})

    def build_network(self) -> ReleasedDEQ:
        """The `ReleasedDEQ` around a `MambaDECSCLayer` built from ``self.params``."""
        p = self.params
        layer = MambaDECSCLayer(bands=int(p["bands"]), gic_atoms=int(p["gic_atoms"]),
                                gic_kernel=int(p["gic_kernel"]), lsu_atoms=int(p["lsu_atoms"]),
                                lsu_kernel=tuple(int(v) for v in p["lsu_kernel"]), threshold=float(p["threshold"]),
                                stages=int(p["stages"]), d_state=int(p["d_state"]), ssm_ratio=float(p["ssm_ratio"]),
                                mlp_ratio=float(p["mlp_ratio"]), drop_path=float(p["drop_path"]),
                                attention_reduction=float(p["attention_reduction"]), scan=str(p["scan"]),
                                shrink=float(p["shrink"]), debias=bool(p["debias"]),
                                dict_norm=None if p["dict_norm"] is None else float(p["dict_norm"]))
        return ReleasedDEQ(layer, unroll=int(p["unroll"]), relative_lam=bool(p["relative_lam"]),
                           warm_start=bool(p["warm_start"]), post_plain=bool(p["post_plain"]),
                           solver=str(p["solver"]), gradient=str(p["gradient"]), max_iter=int(p["max_iter"]),
                           train_max_iter=int(p["train_max_iter"]), tol=float(p["tol"]), memory=int(p["memory"]),
                           beta=float(p["beta"]), lam=float(p["lam"]), phantom_steps=int(p["phantom_steps"]),
                           tau=float(p["tau"]), fail_bound=float(p["fail_bound"]),
                           jac_weight=float(p["jac_weight"]), jac_freq=int(p["jac_freq"]))

    def convert_foreign(self, blob: Any, source: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """A released checkpoint (`methods.decsc.importer`) in this network's names."""
        return convert_released(blob, source)


@register("decsc.mamba.small", **_SMALL)
class DECSCMambaSmall(DECSCMamba):
    """``decsc.mamba`` at CPU size: the same layout with fewer atoms, smaller kernels and two VSS stages."""

    description = "decsc.mamba at CPU size (the released layout with decsc.small's contraction recipe)"
