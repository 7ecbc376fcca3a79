"""Selective scan (the S6 recurrence of Mamba) for the VMamba prox of ``decsc.mamba``.

For every channel d and state index n the scan runs

    h_t = exp(delta_t[d] A[d, n]) h_{t-1} + delta_t[d] B_t[g(d), n] u_t[d],
    y_t[d] = sum_n C_t[g(d), n] h_t[d, n] + D[d] u_t[d],

where channels are split into G equal groups that share B and C (VMamba: one group per scan direction).
Shapes follow ``mamba-ssm``: ``u, delta`` (batch, G * C, L), ``A`` (G * C, N), ``B, C`` (batch, G, N, L),
``D, delta_bias`` (G * C,).

`selective_scan` picks ``mamba-ssm``'s CUDA kernel for CUDA tensors when that package is installed
(``pip install -e ".[mamba]"``) and the chunked pure-torch scan otherwise. The chunked scan splits the
sequence into chunks of about sqrt(L) steps and runs the recurrence in all chunks at once: one pass finds
each chunk's end state from a zero start, a short sequential pass over chunks carries the state across
chunk borders (the decay over a chunk is exp(A * sum(delta)), since A does not depend on t), and a second
pass inside all chunks, started from the carried states, yields y. That is about 2 sqrt(L) vectorised
steps instead of L, with the same arithmetic as the recurrence (no exp(+S) factors that could overflow).

References: Gu & Dao, Mamba: Linear-Time Sequence Modeling with Selective State Spaces, 2023,
arXiv:2312.00752 (Algorithm 2); Liu et al., VMamba: Visual State Space Model, NeurIPS 2024.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from bench.errors import UsageError

BACKENDS = ("auto", "chunked", "naive", "mamba-ssm")


def selective_scan(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
                   D: torch.Tensor | None = None, delta_bias: torch.Tensor | None = None, *,
                   delta_softplus: bool = True, backend: str = "auto",
                   chunk: int | None = None) -> torch.Tensor:
    """The selective scan of ``u`` computed by ``backend``, in float32 (float64 for float64 inputs).

    Parameters
    ----------
    u, delta, A, B, C, D, delta_bias
        As in ``mamba_ssm.selective_scan_fn`` (see the module docstring for shapes).
    delta_softplus
        Apply softplus to ``delta + delta_bias`` (VMamba does).
    backend
        ``auto`` (``mamba-ssm`` on CUDA when installed, else ``chunked``), ``chunked``, ``naive`` (one
        step per position: the reference recurrence) or ``mamba-ssm``.
    chunk
        Chunk length of the chunked scan (default about sqrt(L)).
    """
    if backend not in BACKENDS:
        raise UsageError(f"selective scan: unknown backend {backend!r}; choose from {', '.join(BACKENDS)}")
    if backend == "mamba-ssm" or (backend == "auto" and u.is_cuda and u.dtype != torch.float64
                                  and mamba_ssm_available()):
        return _mamba_ssm(u, delta, A, B, C, D, delta_bias, delta_softplus)
    delta, u, A, B, C = _prepare(u, delta, A, B, C, delta_bias, delta_softplus)
    y = _naive(u, delta, A, B, C) if backend == "naive" else _chunked(u, delta, A, B, C, chunk)
    return y if D is None else y + u * D.to(u.dtype)[:, None]


def mamba_ssm_available() -> bool:
    """Whether ``mamba-ssm``'s selective-scan kernel can be imported."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn  # noqa: F401
    except ImportError:
        return False
    return True


def _mamba_ssm(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
               D: torch.Tensor | None, delta_bias: torch.Tensor | None, softplus: bool) -> torch.Tensor:
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        raise UsageError("selective scan: backend 'mamba-ssm' needs the optional extra "
                         "(pip install -e \".[mamba]\")") from None
    if not u.is_cuda:
        raise UsageError("selective scan: backend 'mamba-ssm' runs on CUDA tensors only")
    f32 = [t.float().contiguous() for t in (u, delta, A, B, C)]
    return selective_scan_fn(*f32, None if D is None else D.float(), z=None,
                             delta_bias=None if delta_bias is None else delta_bias.float(),
                             delta_softplus=softplus).float()


def _prepare(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
             delta_bias: torch.Tensor | None, softplus: bool) -> tuple[torch.Tensor, ...]:
    batch, channels, length = u.shape
    if delta.shape != u.shape or A.shape[0] != channels or B.shape != C.shape or B.shape[0] != batch \
            or B.shape[-1] != length or B.shape[2] != A.shape[1] or channels % B.shape[1]:
        raise ValueError(f"selective scan: inconsistent shapes u {tuple(u.shape)}, delta {tuple(delta.shape)}, "
                         f"A {tuple(A.shape)}, B {tuple(B.shape)}, C {tuple(C.shape)}")
    dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    if softplus:
        delta = F.softplus(delta)
    return delta, u.to(dtype), A.to(dtype), B.to(dtype), C.to(dtype)


def _naive(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor,
           C: torch.Tensor) -> torch.Tensor:
    """The recurrence one position at a time (reference for tests and the benchmark)."""
    batch, channels, length = u.shape
    groups = B.shape[1]
    per = channels // groups
    Bx = B.repeat_interleave(per, dim=1)               # (batch, channels, N, L)
    Cx = C.repeat_interleave(per, dim=1)
    decay = torch.exp(delta[..., None] * A[:, None, :])    # (batch, channels, L, N)
    drive = (delta * u)[..., None] * Bx.transpose(2, 3)
    h = u.new_zeros(batch, channels, A.shape[1])
    ys = []
    for t in range(length):
        h = decay[:, :, t] * h + drive[:, :, t]
        ys.append((h * Cx[:, :, :, t]).sum(-1))
    return torch.stack(ys, dim=-1)


def _chunked(u: torch.Tensor, delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor,
             chunk: int | None) -> torch.Tensor:
    """Two vectorised passes over chunk positions plus one carry pass over chunks (see module docstring).

    Without autograd the state, the decay and the output are updated in place in buffers allocated once:
    fresh multi-megabyte temporaries at every step cost more than the arithmetic on this scale.
    """
    batch, channels, length = u.shape
    groups, states = B.shape[1], A.shape[1]
    per = channels // groups
    size = max(1, int(chunk) if chunk else math.isqrt(max(length - 1, 0)) + 1)
    count = -(-length // size)
    pad = count * size - length
    inplace = not (torch.is_grad_enabled() and any(t.requires_grad for t in (u, delta, A, B, C)))

    def steps(x: torch.Tensor) -> torch.Tensor:
        """(batch, G, X, L) -> (size, batch, G, count, X): position-in-chunk first, contiguous per step."""
        x = F.pad(x, (0, pad)).reshape(*x.shape[:3], count, size)
        return x.permute(4, 0, 1, 3, 2).contiguous()

    dt = steps(delta.reshape(batch, groups, per, length))                # padded steps have delta = 0:
    drive = steps((delta * u).reshape(batch, groups, per, length))[..., None]  # no decay, no input
    Bs, Cs = steps(B)[..., None, :], steps(C)[..., None, :]              # (size, batch, G, count, 1, N)
    Ag = A.reshape(1, groups, 1, per, states)
    h = u.new_zeros(batch, groups, count, per, states)
    decay = torch.empty_like(h) if inplace else None

    def step(h: torch.Tensor, t: int) -> torch.Tensor:
        if not inplace:
            return torch.addcmul(drive[t] * Bs[t], torch.exp(dt[t][..., None] * Ag), h)
        torch.mul(dt[t][..., None], Ag, out=decay).exp_()
        return h.mul_(decay).addcmul_(drive[t], Bs[t])

    for t in range(size):
        h = step(h, t)
    span = torch.exp(dt.sum(0)[..., None] * Ag)                          # decay over each whole chunk
    carry = h.new_zeros(batch, groups, per, states)
    starts = [carry]
    for j in range(count - 1):
        carry = torch.addcmul(h[:, :, j], span[:, :, j], carry)
        starts.append(carry)
    h = torch.stack(starts, dim=2)
    ys = u.new_empty(size, batch, groups, count, per) if inplace else []
    for t in range(size):
        h = step(h, t)
        if inplace:
            torch.sum(torch.mul(h, Cs[t], out=decay), -1, out=ys[t])
        else:
            ys.append((h * Cs[t]).sum(-1))
    y = ys if inplace else torch.stack(ys)                               # (size, batch, G, count, per)
    return y.permute(1, 2, 4, 3, 0).reshape(batch, channels, count * size)[..., :length]
