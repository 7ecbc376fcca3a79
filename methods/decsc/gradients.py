"""Backward passes through the equilibrium z* = f(z*): phantom gradient and exact implicit differentiation.

Both map ``(f, z_star)`` to a tensor equal (or close) to the fixed point that carries a gradient to the
parameters of ``f``; the forward solve itself is never differentiated.

References: Geng et al., On Training Implicit Models (phantom gradients), NeurIPS 2021; Bai et al.,
Deep Equilibrium Models, NeurIPS 2019 (implicit differentiation, DECSC Eqs. 17-19).
"""

from __future__ import annotations

from typing import Callable

import torch

from bench.errors import UsageError

Func = Callable[[torch.Tensor], torch.Tensor]


class PhantomGradient:
    """L damped unrolled steps z <- (1 - tau) z + tau f(z) from the fixed point.

    The solve runs without a graph, so the steps start from a detached z*; a z that already carries a graph
    (one plain f(z*) before the steps, the authors' order) keeps it, so the gradient flows through that step too.

    Differentiating them is a truncated Neumann series of (I - df/dz)^-1 (Eq. 19). The authors apply the
    same steps at evaluation as well, so they run in either grad mode.
    """

    name = "phantom"

    def __init__(self, *, steps: int = 5, tau: float = 0.9) -> None:
        if steps < 1:
            raise UsageError(f"decsc: phantom gradient needs at least 1 unrolled step, got {steps}")
        if not 0.0 < tau <= 1.0:
            raise UsageError(f"decsc: phantom damping tau must lie in (0, 1], got {tau}")
        self.steps, self.tau = int(steps), float(tau)

    def __call__(self, f: Func, z_star: torch.Tensor) -> torch.Tensor:
        z = z_star
        for _ in range(self.steps):
            z = (1.0 - self.tau) * z + self.tau * f(z)
        return z


class ImplicitGradient:
    """Exact implicit differentiation, Eq. (17): the backward hook solves the adjoint fixed point
    u = J^T u + g (J = df/dz at z*) by iteration before it reaches the parameters through one f(z*).
    """

    name = "implicit"

    def __init__(self, *, tol: float = 1e-6, max_iter: int = 100) -> None:
        self.tol, self.max_iter = float(tol), int(max_iter)
        self.last_backward: dict[str, float | int] = {}

    def __call__(self, f: Func, z_star: torch.Tensor) -> torch.Tensor:
        z_star = z_star.detach()
        if not torch.is_grad_enabled():
            return f(z_star)
        z_in = z_star.clone().requires_grad_()
        f_in = f(z_in)
        z = f(z_star)

        def hook(grad: torch.Tensor) -> torch.Tensor:
            u, rel, it = grad, float("inf"), 0
            for it in range(1, self.max_iter + 1):
                (jtu,) = torch.autograd.grad(f_in, z_in, u, retain_graph=True)
                new = jtu + grad
                rel = float((new - u).norm() / (new.norm() + 1e-12))
                u = new
                if rel <= self.tol:
                    break
            self.last_backward = {"iterations": it, "relative_residual": rel}
            return u

        if z.requires_grad:
            z.register_hook(hook)
        return z


GRADIENTS = {"phantom": PhantomGradient, "implicit": ImplicitGradient}


def make_gradient(name: str, *, steps: int = 5, tau: float = 0.9) -> PhantomGradient | ImplicitGradient:
    """Build the backward pass ``phantom`` (L = ``steps``, damping ``tau``) or ``implicit``."""
    if name == "phantom":
        return PhantomGradient(steps=steps, tau=tau)
    if name == "implicit":
        return ImplicitGradient()
    raise UsageError(f"decsc: unknown gradient {name!r}; choose from {', '.join(GRADIENTS)} or unroll")
