"""``bench train --init``: starting weights from a checkpoint, into the same or a changed configuration."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.weights import check_strict


def load_init_weights(net: torch.nn.Module, weights: dict[str, torch.Tensor], src: Path, name: str,
                      changes: dict[str, Any] | None) -> tuple[list[str] | None, list[str] | None]:
    """Load ``--init`` weights; returns the (dropped, added) outermost module names for the manifest.

    A configuration that switches a module off (an ablation fine-tuned from the full model) drops that
    module's weights; one that switches a module on (a new stage fine-tuned from a checkpoint without it)
    starts that module from its initial values. Without a configuration change, and for every weight of
    another shape, anything missing or extra is a one-line error.
    """
    ours = net.state_dict()
    extra = sorted(set(weights) - set(ours)) if changes else []
    added = sorted(set(ours) - set(weights)) if changes else []
    kept = {k: v for k, v in weights.items() if k not in extra}
    kept.update({k: ours[k] for k in added})
    check_strict(kept, ours, f"--init {src.name}", f"{name} as configured "
                 f"(changed: {', '.join(changes or {}) or 'nothing'})")
    net.load_state_dict(kept)
    dropped = sorted({_outer_module(k, weights, set(extra)) for k in extra}) or None
    return dropped, sorted({_outer_module(k, ours, set(added)) for k in added}) or None


def _outer_module(key: str, weights: dict[str, torch.Tensor], dropped: set[str]) -> str:
    """The outermost module above ``key`` whose weights are all in ``dropped`` (e.g. ``layer.net2.att``)."""
    parts = key.split(".")
    for n in range(1, len(parts)):
        prefix = ".".join(parts[:n]) + "."
        if all(k in dropped for k in weights if k.startswith(prefix)):
            return prefix[:-1]
    return key
