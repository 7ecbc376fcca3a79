"""The method contract: array in, array out, options keyword-only, ``sigma=None`` means "estimate it"."""

from __future__ import annotations

from typing import Any, Callable, ClassVar

import numpy as np

from bench.arrays import check_cube, check_sigma
from bench.errors import UsageError

FAMILIES = ("model-driven", "data-driven", "hybrid", "reference")
_COMPUTE_DEVICES = ("cpu", "cuda", "mps", "xpu")


class Method:
    """Base class of every registered denoiser.

    Subclasses set the class attributes and implement `_denoise`. Changing what a method computes
    means bumping `version`: the store never mixes results of two versions.
    ``last_info`` holds what the last call reported (solver statistics, which sigma was used ...);
    the runner stores it with the cell. ``monitor``, when set by the runner, maps an intermediate
    estimate to a score (e.g. PSNR) so iterative methods can record a convergence trace.
    """

    family: ClassVar[str] = "model-driven"
    trainable: ClassVar[bool] = False
    reference: ClassVar[str] = ""
    license: ClassVar[str] = "MIT"
    version: ClassVar[str] = "1"
    description: ClassVar[str] = ""
    defaults: ClassVar[dict[str, Any]] = {}
    #: True when the computation runs in torch, so `bench.profiling` can count its FLOPs.
    torch_forward: ClassVar[bool] = False
    #: Class name of the ``nn.Module`` whose per-call FLOPs are reported too (DECSC: the layer f).
    flop_unit: ClassVar[str | None] = None

    def __init__(self, name: str | None = None, **params: Any) -> None:
        unknown = sorted(set(params) - set(self.defaults))
        if unknown:
            raise UsageError(f"{name or type(self).__name__}: unknown parameter(s) {', '.join(unknown)}; "
                             f"known: {', '.join(sorted(self.defaults)) or 'none'}")
        self.name = name or type(self).__name__.lower()
        self.params: dict[str, Any] = {**self.defaults, **params}
        self.last_info: dict[str, Any] = {}
        self.monitor: Callable[[np.ndarray], float] | None = None

    def denoise(self, noisy: np.ndarray, *, sigma: Any = None, device: Any = None) -> np.ndarray:
        """Denoise an H x W x B float cube; ``sigma`` is a scalar or per-band noise level or None."""
        noisy = check_cube(noisy, "noisy input")
        sig = check_sigma(sigma, noisy.shape[2])
        self.last_info = {}
        out = self._denoise(noisy, sigma=sig, device=resolve_device(device))
        out = np.asarray(out, dtype=np.float32)
        if out.shape != noisy.shape:
            raise RuntimeError(f"{self.name}: returned shape {out.shape} for input {noisy.shape}")
        return out

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """Identity of this configured method, as stored with every result row."""
        return {"method": self.name, "version": self.version, "params": self.params}


def resolve_device(device: Any = None) -> Any:
    """Map ``None``/``"auto"`` to CUDA when present, else CPU; check explicit choices are compute devices."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if isinstance(device, torch.device):
        return device
    hint = "use auto, cpu, cuda or cuda:N"
    try:
        dev = torch.device(str(device))
    except RuntimeError:
        raise UsageError(f"unknown device {device!r}; {hint}") from None
    if dev.type not in _COMPUTE_DEVICES:
        raise UsageError(f"device {device!r} is not a compute device; {hint}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UsageError(f"device {device!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    return dev
