"""The deep-equilibrium wrapper: a layer f, a forward solver and a backward pass chosen by configuration.

``DEQ(layer, solver="anderson", gradient="phantom")`` solves z* = f(z*, y) without building a graph,
then attaches the gradient with the chosen backward (phantom: L damped unrolled steps; implicit: adjoint
fixed point; ``unroll``: the baseline that backpropagates through every forward iteration).
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
                 fail_bound: float = 0.5, eval_unroll: bool = True) -> None:
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
            z, info = get_solver(self.solver)(f, self.layer.init_state(y), max_iter=max_iter, tol=self.tol,
                                              callback=hook, **self.solver_kwargs)
        self._check(info)
        if not unroll and (self.training or self.eval_unroll):
            z = self.backward_pass(f, z)
        info["gradient"] = self.gradient_name
        self.last_info = info
        return self.layer.reconstruct(z, y)

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
