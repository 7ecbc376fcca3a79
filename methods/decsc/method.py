"""Registered DECSC configurations: the paper's size, a CPU-sized variant and the Table V ablations.

Reference: "Deep Equilibrium Convolutional Sparse Coding for Hyperspectral Image Denoising" (DECSC),
Sections III-IV. The equilibrium solve and the backward pass are
configuration (`methods.decsc.deq`), the layer f is `methods.decsc.network.DECSCLayer`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from bench.errors import UsageError
from methods import register
from methods.decsc.deq import DEQ
from methods.decsc.network import DECSCLayer
from methods.trainable import TrainableMethod

#: CPU-sized variant, trained with the recipe the README's DECSC section documents: warm start, Anderson to
#: the 1e-3 tolerance (at most 20 iterations) in training, one plain f plus 5 damped phantom steps, the
#: Jacobian penalty that keeps the layer contractive, elastic-net shrinkage of the codes (0.7: the slow modes
#: of over-complete codes contract, see the README) with the synthesis debiased by 1 + shrink, and capped
#: ISTA step gains; inference solves to 1e-3 within 30 iterations. After the solve, 4 plain data steps give a
#: less biased reconstruction, which each band takes by the share a learned gate assigns to its noise level.
#: Soft thresholds scale with each band's estimated noise level, and training weights each patch by its own
#: error (``loss="balanced"``) so that the low-noise patches count as much as the PSNR tables count them.
_SMALL = {"gic_atoms": 32, "lsu_atoms": 8, "lsu_kernel": [3, 5], "swin_blocks": 2, "swin_heads": 4,
          "mlp_ratio": 2.0, "train_max_iter": 20, "dict_norm": 0.7, "max_iter": 30, "fail_bound": 0.9,
          "warm_start": True, "post_plain": True, "jac_weight": 1000.0, "jac_freq": 1, "shrink": 0.7,
          "swin_eps": 3e-3, "step_control": 1.0, "debias": True, "polish": 4, "noise_thresholds": True,
          "loss": "balanced"}
#: ``decsc.noatt`` keeps the recipe from before ``debias``, ``polish``, noise-adaptive thresholds and the balanced
#: loss: re-adapting the shipped decsc.small without its attention did not converge (README, "The ablations").
_PRE_DEBIAS = {**_SMALL, "debias": False, "polish": 0, "noise_thresholds": False, "loss": "sse"}


@register("decsc.small", **_SMALL)
@register("decsc.noswin", **_SMALL, swin=False)
@register("decsc.nodconv", **_SMALL, dconv=False)
@register("decsc.noatt", **_PRE_DEBIAS, attention=False)
@register("decsc", tile=128, overlap=16)
class DECSC(TrainableMethod):
    """Deep equilibrium convolutional sparse coding (GIC + LSU codes, Swin and detail-enhancement priors).

    The forward pass solves z* = f(z*, y) with Anderson acceleration (or plain iteration), the backward
    pass uses the phantom gradient (L damped unrolled steps) or exact implicit differentiation. Cubes with
    more bands than trained are band-split by the base class; `combine_group_infos` merges the groups'
    solver reports.
    """

    family = "hybrid"
    version = "1"
    flop_unit = "DECSCLayer"
    description = "deep equilibrium convolutional sparse coding (Anderson forward, phantom-gradient backward)"
    reference = "Deep Equilibrium Convolutional Sparse Coding for Hyperspectral Image Denoising (DECSC)"
    defaults: ClassVar[dict[str, Any]] = {
        **TrainableMethod.defaults, "clamp": False, "batch": 1,
        "gic_atoms": 192, "gic_kernel": 9, "lsu_atoms": 96, "lsu_kernel": [3, 9],
        "swin_blocks": 4, "swin_heads": 6, "window": 4, "mlp_ratio": 4.0,
        "swin": True, "dconv": True, "attention": True, "dict_norm": None, "shrink": 0.0, "swin_eps": 1e-5,
        "debias": False, "polish": 0, "polish_sigma": 0.055, "polish_power": 4.0,
        "noise_thresholds": False, "solver": "anderson", "gradient": "phantom", "max_iter": 20, "train_max_iter": 8, "tol": 1e-3,
        "memory": 6, "beta": 1.0, "lam": 1e-4, "phantom_steps": 5, "tau": 0.9, "fail_bound": 0.5,
        "warm_start": False, "post_plain": False, "jac_weight": 0.0, "jac_freq": 1, "step_control": None,
        "frame_weight": 0.0,
    }
    #: `bench train` defaults sized for a shared CPU (the paper: Adam 1e-4, batch 8, 30 epochs on GPUs).
    train_defaults: ClassVar[dict[str, Any]] = {"batch_size": 4, "lr": 1e-3, "steps_per_epoch": 20, "epochs": 200,
                                                "milestones": (60, 120), "gamma": 0.5, "val_images": 1,
                                                "val_crop": 64}
    inference_params: ClassVar[frozenset[str]] = TrainableMethod.inference_params | frozenset({
        "solver", "gradient", "max_iter", "train_max_iter", "tol", "memory", "beta", "lam",
        "phantom_steps", "tau", "fail_bound", "warm_start", "post_plain", "jac_weight", "jac_freq",
        "step_control", "frame_weight"})

    def __init__(self, name: str | None = None, **params: Any) -> None:
        super().__init__(name, **params)
        if self._frame_weight() < 0:
            raise UsageError(f"{self.name}: frame_weight must be >= 0, got {self.params['frame_weight']}")

    def _frame_weight(self) -> float:
        return float(self.params.get("frame_weight") or 0.0)

    def build_network(self) -> DEQ:
        """The DEQ around a `DECSCLayer` built from ``self.params``."""
        p = self.params
        layer = DECSCLayer(bands=int(p["bands"]), gic_atoms=int(p["gic_atoms"]), gic_kernel=int(p["gic_kernel"]),
                           lsu_atoms=int(p["lsu_atoms"]), lsu_kernel=tuple(int(v) for v in p["lsu_kernel"]),
                           swin_blocks=int(p["swin_blocks"]), swin_heads=int(p["swin_heads"]),
                           window=int(p["window"]), mlp_ratio=float(p["mlp_ratio"]), swin=bool(p["swin"]),
                           dconv=bool(p["dconv"]), attention=bool(p["attention"]),
                           dict_norm=None if p["dict_norm"] is None else float(p["dict_norm"]),
                           shrink=float(p["shrink"]), swin_eps=float(p["swin_eps"]), debias=bool(p["debias"]),
                           polish=int(p["polish"]), polish_sigma=float(p["polish_sigma"]),
                           polish_power=float(p["polish_power"]),
                           noise_thresholds=bool(p["noise_thresholds"]))
        return DEQ(layer, solver=str(p["solver"]), gradient=str(p["gradient"]), max_iter=int(p["max_iter"]),
                   train_max_iter=int(p["train_max_iter"]), tol=float(p["tol"]), memory=int(p["memory"]),
                   beta=float(p["beta"]), lam=float(p["lam"]), phantom_steps=int(p["phantom_steps"]),
                   tau=float(p["tau"]), fail_bound=float(p["fail_bound"]), warm_start=bool(p["warm_start"]),
                   post_plain=bool(p["post_plain"]), jac_weight=float(p["jac_weight"]),
                   jac_freq=int(p["jac_freq"]))

    def training_loss(self, net: torch.nn.Module, noisy: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        """The squared error of the base class plus the weighted Jacobian penalty when it was drawn, plus the
        weighted tight-frame defect of the dictionary pair with ``frame_weight`` > 0."""
        loss = super().training_loss(net, noisy, clean)
        jac = getattr(net, "jac_loss", None)
        if jac is not None:
            loss = loss + float(self.params["jac_weight"]) * jac
        weight = self._frame_weight()
        defect = getattr(net.layer, "frame_defect", None)
        if weight and defect is None:
            raise UsageError(f"{self.name}: frame_weight needs the Swin layout's layer (one analysis and one "
                             "synthesis copy per dictionary)")
        net.frame_loss = defect(noisy) if weight else None
        return loss if net.frame_loss is None else loss + weight * net.frame_loss

    def after_step(self, net: torch.nn.Module) -> None:
        """With ``step_control`` set (a bound such as 1.0), keep both ISTA steps' gains at or below it."""
        bound = self.params.get("step_control")
        if bound is not None:
            net.layer.control_steps(float(bound))

    def train_stats(self, net: torch.nn.Module) -> dict[str, float]:
        """Solver f-evaluations, final residual, convergence and the Jacobian penalty of the last forward."""
        info = getattr(net, "last_info", {}) or {}
        if "relative_residual" not in info:
            return {}
        out = {"f_evals": float(info.get("f_evals", info["iterations"])), "residual": float(info["relative_residual"]),
               "converged": float(bool(info["converged"]))}
        for key, value in (("jac", getattr(net, "jac_loss", None)), ("frame", getattr(net, "frame_loss", None))):
            if value is not None:
                out[key] = float(value.detach())
        return out

    def combine_group_infos(self, infos: list[dict[str, Any]]) -> dict[str, Any]:
        """Band groups' solver reports: total f-evaluations, the worst residual, all-converged flag."""
        worst = max(infos, key=lambda i: i["relative_residual"])
        out = {**worst, "iterations": int(sum(i["iterations"] for i in infos)),
               "converged": all(i["converged"] for i in infos)}
        if all("f_evals" in i for i in infos):
            out["f_evals"] = int(sum(i["f_evals"] for i in infos))
        return out

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        net = self.network(device)
        trace: list[float] = []
        h, w, b = noisy.shape
        whole = (self.monitor is not None and max(h, w) <= int(self.params["tile"])
                 and b == int(self.params["bands"]) and not self.params.get("margin")
                 and int(self.params.get("ensemble") or 1) == 1)
        monitor = self.monitor
        if whole and monitor is not None:
            def record(x: torch.Tensor) -> None:
                trace.append(float(monitor(x[0, :, :h, :w].permute(1, 2, 0).float().cpu().numpy())))
            net.callback = record
        try:
            out = super()._denoise(noisy, sigma=sigma, device=device)
        finally:
            net.callback = None
        if trace:
            self.last_info["psnr_trace"] = trace
        return out

