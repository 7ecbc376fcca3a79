"""Forward equilibrium solvers: Anderson acceleration (paper Eqs. 15-16) and plain fixed-point iteration.

Both take ``f`` on a flat batched state (N, D) and return ``(z, info)``; they run under whatever grad mode
the caller chose (the DEQ runs them under ``no_grad``). Stopping uses the relative residual
||f(z) - z|| / ||f(z)||, the worst sample of the batch deciding.

References: Anderson, J. ACM 12(4), 1965, doi:10.1145/321296.321305; Walker & Ni, SIAM J. Numer. Anal.
49(4), 2011, doi:10.1137/10078356X; Bai et al., Deep Equilibrium Models, NeurIPS 2019.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

Func = Callable[[torch.Tensor], torch.Tensor]
Callback = Callable[[torch.Tensor], None]

_EPS = 1e-12


def relative_residual(z: torch.Tensor, fz: torch.Tensor) -> float:
    """max over the batch of ||f(z) - z|| / ||f(z)|| (``inf`` for a non-finite state)."""
    num = (fz - z).flatten(1).norm(dim=1)
    den = fz.flatten(1).norm(dim=1) + _EPS
    rel = (num / den).max()
    return float(rel) if torch.isfinite(rel) else float("inf")


class _Progress:
    """Bookkeeping both solvers share: residual trace, best iterate so far, callback, stopping test."""

    def __init__(self, z0: torch.Tensor, tol: float, callback: Callback | None) -> None:
        self.trace: list[float] = []
        self.best_z, self.best = z0, float("inf")
        self.tol, self.callback = tol, callback

    def stop_after(self, z: torch.Tensor, fz: torch.Tensor) -> bool:
        """Record the evaluation f(z) = fz; True when the solve should stop (diverged or converged)."""
        res = relative_residual(z, fz)
        self.trace.append(res)
        if res == float("inf"):
            return True
        if res < self.best:
            self.best_z, self.best = z, res
        if self.callback is not None:
            self.callback(fz)
        return res <= self.tol

    def result(self, name: str, fallbacks: int = 0) -> tuple[torch.Tensor, dict[str, Any]]:
        return self.best_z, {"solver": name, "iterations": len(self.trace), "relative_residual": self.best,
                             "residual_trace": self.trace, "converged": bool(self.best <= self.tol),
                             "finite": bool(self.best < float("inf")), "fallbacks": fallbacks}


def fixed_point(f: Func, z0: torch.Tensor, *, max_iter: int = 20, tol: float = 1e-3, beta: float = 1.0,
                callback: Callback | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """Plain (optionally damped) iteration z <- (1 - beta) z + beta f(z); returns the best iterate seen."""
    z, progress = z0, _Progress(z0, tol, callback)
    for _ in range(max_iter):
        fz = f(z)
        if progress.stop_after(z, fz):
            break
        z = fz if beta == 1.0 else (1.0 - beta) * z + beta * fz
    return progress.result("fixed-point")


def anderson(f: Func, z0: torch.Tensor, *, max_iter: int = 20, tol: float = 1e-3, memory: int = 6,
             beta: float = 1.0, lam: float = 1e-4, damping: float = 0.5, relative_lam: bool = True,
             callback: Callback | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
    """Anderson acceleration of z = f(z), Eqs. (15)-(16).

    The mixing weights gamma (summing to one) minimise ||G gamma|| over the last ``memory`` residuals;
    they solve the regularised normal equations (G G^T + lam I) a = 1, gamma = a / sum(a). When that
    system is singular or yields non-finite weights the step falls back to damped fixed-point iteration
    z <- (1 - damping) z + damping f(z) (counted in ``info["fallbacks"]``). ``lam`` is relative to the mean
    squared residual norm unless ``relative_lam`` is False (then absolute, as in the DEQ reference code).
    """
    n = z0.shape[0]
    xs: list[torch.Tensor] = []
    fs: list[torch.Tensor] = []
    z, fallbacks, progress = z0, 0, _Progress(z0, tol, callback)
    for _ in range(max_iter):
        fz = f(z)
        if progress.stop_after(z, fz):
            break
        xs.append(z.reshape(n, -1))
        fs.append(fz.reshape(n, -1))
        if len(xs) > memory:
            xs.pop(0)
            fs.pop(0)
        if len(xs) == 1:
            z = fz
            continue
        gamma = _mixing_weights(torch.stack(fs, 1) - torch.stack(xs, 1), lam, relative_lam)
        if gamma is None:
            fallbacks += 1
            z = (1.0 - damping) * z + damping * fz
            continue
        mixed_f = torch.einsum("nk,nkd->nd", gamma, torch.stack(fs, 1))
        mixed_x = torch.einsum("nk,nkd->nd", gamma, torch.stack(xs, 1))
        z = (beta * mixed_f + (1.0 - beta) * mixed_x).reshape(z0.shape)
    return progress.result("anderson", fallbacks)


def _mixing_weights(g: torch.Tensor, lam: float, relative: bool = True) -> torch.Tensor | None:
    """gamma (N, k) minimising ||sum_i gamma_i g_i||^2 + lam ||gamma||^2 s.t. sum gamma = 1, or None."""
    gram = torch.bmm(g, g.transpose(1, 2)).double()
    k = gram.shape[-1]
    scale = gram.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(_EPS)[:, None, None]
    reg = lam * torch.eye(k, dtype=gram.dtype, device=gram.device)
    gram = gram / scale + (reg if relative else reg / scale)
    ones = torch.ones(gram.shape[0], k, 1, dtype=gram.dtype, device=gram.device)
    try:
        a = torch.linalg.solve(gram, ones)[..., 0]
    except RuntimeError:
        return None
    total = a.sum(dim=1, keepdim=True)
    if not torch.isfinite(a).all() or (total.abs() < _EPS).any():
        return None
    return (a / total).to(g.dtype)


SOLVERS: dict[str, Callable[..., tuple[torch.Tensor, dict[str, Any]]]] = {
    "anderson": anderson,
    "fixed-point": fixed_point,
}


def get_solver(name: str) -> Callable[..., tuple[torch.Tensor, dict[str, Any]]]:
    """Look a forward solver up by name (``anderson`` or ``fixed-point``)."""
    from bench.errors import UsageError

    try:
        return SOLVERS[name]
    except KeyError:
        raise UsageError(f"decsc: unknown solver {name!r}; choose from {', '.join(SOLVERS)}") from None
