"""``bench train --init``: starting weights from a checkpoint, into the same or a changed configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.weights import check_strict


def load_init_weights(net: torch.nn.Module, weights: dict[str, torch.Tensor], src: Path, name: str,
                      changes: dict[str, Any] | None) -> list[str] | None:
    """Load ``--init`` weights. A configuration that switches a module off (an ablation fine-tuned from the
    full model) drops that module's weights, and the dropped top-level names are returned for the manifest;
    a weight the network needs but the checkpoint lacks, or one of another shape, is a one-line error."""
    ours = net.state_dict()
    extra = sorted(set(weights) - set(ours)) if changes else []
    kept = {k: v for k, v in weights.items() if k not in extra}
    check_strict(kept, ours, f"--init {src.name}", f"{name} as configured "
                 f"(changed: {', '.join(changes or {}) or 'nothing'})")
    net.load_state_dict(kept)
    return sorted({_dropped_module(k, weights, set(extra)) for k in extra}) or None


def _dropped_module(key: str, weights: dict[str, torch.Tensor], dropped: set[str]) -> str:
    """The outermost module above ``key`` whose weights were all dropped (e.g. ``layer.net2.att``)."""
    parts = key.split(".")
    for n in range(1, len(parts)):
        prefix = ".".join(parts[:n]) + "."
        if all(k in dropped for k in weights if k.startswith(prefix)):
            return prefix[:-1]
    return key
