"""The deep-equilibrium wrapper: a layer f, a forward solver and a backward pass chosen by configuration.

``DEQ(layer, solver="anderson", gradient="phantom")`` solves z* = f(z*, y) without building a graph,
then attaches the gradient with the chosen backward (phantom: L damped unrolled steps; implicit: adjoint
fixed point; ``unroll``: the baseline that backpropagates through every forward iteration).

The solve starts from one pass of f from the zero codes (``warm_start``) and, as in the authors' code, is
followed by one plain application of f before the L damped phantom steps (``post_plain``), in training and at
evaluation alike. An optional Jacobian penalty (Bai et al., "Stabilizing Equilibrium Models by Jacobian
Regularization", ICML 2021) estimates ||df/dz||_F^2 / dim(z) at the fixed point with one Hutchinson probe; the
training loss adds ``jac_weight`` times it on a random share ``1 / jac_freq`` of the steps.
"""

from __future__ import annotations

import math
import warnings
from typing import Any, Callable

import torch
from torch import nn

from bench.errors import BenchError, UsageError
from methods.decsc.gradients import make_gradient
from methods.decsc.solvers import get_solver


class DEQ(nn.Module):
    """Equilibrium network around a layer with ``init_state``, ``forward(z, y)`` and ``reconstruct``.

    ``forward(y)`` returns the reconstruction and leaves solver statistics in ``last_info``. A non-finite
    state or a final relative residual above ``fail_bound`` is non-convergence: a `BenchError` in eval
    mode, a warning plus ``converged=False`` in training. Missing the tolerance below that bound is
    reported (``converged=False`` and a warning), never hidden.
    """

    def __init__(self, layer: nn.Module, *, solver: str = "anderson", gradient: str = "phantom",
                 max_iter: int = 20, train_max_iter: int = 8, tol: float = 1e-3, memory: int = 6,
                 beta: float = 1.0, lam: float = 1e-4, phantom_steps: int = 5, tau: float = 0.9,
                 fail_bound: float = 0.5, eval_unroll: bool = True, warm_start: bool = False,
                 post_plain: bool = False, jac_weight: float = 0.0, jac_freq: int = 1) -> None:
        super().__init__()
        self.layer = layer
        get_solver(solver)
        if gradient not in ("phantom", "implicit", "unroll"):
            raise UsageError(f"decsc: unknown gradient {gradient!r}; choose from phantom, implicit, unroll")
        self.solver, self.gradient_name = solver, gradient
        self.backward_pass = None if gradient == "unroll" else make_gradient(gradient, steps=phantom_steps,
                                                                             tau=tau)
        self.max_iter, self.train_max_iter, self.tol = int(max_iter), int(train_max_iter), float(tol)
        self.solver_kwargs: dict[str, Any] = {"memory": memory, "beta": beta, "lam": lam} \
            if solver == "anderson" else {}
        self.fail_bound, self.eval_unroll = float(fail_bound), bool(eval_unroll)
        self.warm_start, self.post_plain = bool(warm_start), bool(post_plain)
        if jac_weight < 0 or jac_freq < 1:
            raise UsageError(f"decsc: jac_weight must be >= 0 and jac_freq >= 1, got {jac_weight}, {jac_freq}")
        self.jac_weight, self.jac_freq = float(jac_weight), int(jac_freq)
        #: The Jacobian penalty of the last training forward (a graph-carrying scalar), or None.
        self.jac_loss: torch.Tensor | None = None
        self.callback: Callable[[torch.Tensor], None] | None = None
        self.last_info: dict[str, Any] = {}

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        def f(z: torch.Tensor) -> torch.Tensor:
            return self.layer(z, y)

        hook = None
        if self.callback is not None:
            cb = self.callback

            def hook(z: torch.Tensor) -> None:
                with torch.no_grad():
                    cb(self.layer.reconstruct(z, y))

        max_iter = self.train_max_iter if self.training else self.max_iter
        unroll = self.backward_pass is None
        with torch.set_grad_enabled(torch.is_grad_enabled() and unroll):
            z0 = self.layer.init_state(y)
            if self.warm_start:
                z0 = f(z0)
            z, info = get_solver(self.solver)(f, z0, max_iter=max_iter, tol=self.tol,
                                              callback=hook, **self.solver_kwargs)
        self._check(info)
        extra = int(self.warm_start)
        self.jac_loss = None
        if not unroll and (self.training or self.eval_unroll):
            if self.post_plain and self.gradient_name == "phantom":
                z = self._plain_step(f, z)
                extra += 1
            z = self.backward_pass(f, z)
            extra += getattr(self.backward_pass, "steps", 1)
        info.update(gradient=self.gradient_name, warm_start=self.warm_start, f_evals=info["iterations"] + extra,
                    tol=self.tol)
        self.last_info = info
        return self.layer.reconstruct(z, y)

    def _plain_step(self, f: Callable[[torch.Tensor], torch.Tensor], z_star: torch.Tensor) -> torch.Tensor:
        """f(z*) from the detached fixed point; in training it also draws the Jacobian penalty."""
        z_in = z_star.detach()
        penalise = (self.training and torch.is_grad_enabled() and self.jac_weight > 0
                    and (self.jac_freq == 1 or float(torch.rand(())) < 1.0 / self.jac_freq))
        if not penalise:
            return f(z_in)
        z_in = z_in.requires_grad_()
        fz = f(z_in)
        probe = torch.randn_like(fz)
        (vjp,) = torch.autograd.grad(fz, z_in, probe, create_graph=True)
        self.jac_loss = vjp.square().sum() / vjp.numel()
        return fz

    def _check(self, info: dict[str, Any]) -> None:
        res = info["relative_residual"]
        if info["converged"]:
            return
        bad = not math.isfinite(res) or res > self.fail_bound
        what = (f"decsc: equilibrium solve ({info['solver']}) did not converge: relative residual {res:.3g} "
                f"after {info['iterations']} f-evaluations (tolerance {self.tol:g})")
        if bad and not self.training:
            raise BenchError(what if math.isfinite(res) else
                             f"decsc: equilibrium solve ({info['solver']}) produced a non-finite state")
        warnings.warn(what, RuntimeWarning, stacklevel=3)
