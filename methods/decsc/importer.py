"""Names of the authors' released DECSC checkpoints mapped onto `methods.decsc.mamba_layer.MambaDECSCLayer`.

A released checkpoint is ``{'net': state_dict, 'optimizer': ..., 'epoch': ..., 'iteration': ...}`` (a bare
state_dict is accepted too, and a ``module.`` prefix from data-parallel training is dropped). Every name
is translated by a fixed table; a name the table does not know is kept as it is, so the strict check in
`bench.weights` reports it as unexpected instead of dropping it.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import torch

from bench.errors import DataError

#: Exact names: released -> ours (inside the DEQ, whose layer is ``layer``).
_FIXED = {
    "share_lmbdas": "thr_s.theta", "unique_lmbdas": "thr_h.theta",
    "share_decoder.weight": "K_dec.weight", "share_encoder.weight": "K_enc.weight",
    "share_filters.weight": "K_syn.weight", "unique_decoder.weight": "D_dec.weight",
    "unique_encoder.weight": "D_enc.weight", "unique_filters.weight": "D_syn.weight",
}
#: Released difference convolutions -> our operator names (see `methods.decsc.layers.DifferenceConv3d`).
_DCONV = {"conv1_1.conv": "central", "conv1_2.conv": "horizontal", "conv1_3.conv": "vertical",
          "conv1_4.conv": "band", "conv1_5": "plain"}
_GATE = {"local_reduce": "reduce", "spatial_spectral_select": "expand"}
_SS2D = {"x_proj_weight": "x_proj", "dt_projs_weight": "dt_proj", "dt_projs_bias": "dt_bias", "A_logs": "A_log",
         "Ds": "D", "in_proj.weight": "in_proj.weight", "conv2d.weight": "dwconv.weight",
         "conv2d.bias": "dwconv.bias", "out_norm.weight": "out_norm.weight", "out_norm.bias": "out_norm.bias",
         "out_proj.weight": "out_proj.weight"}
_BLOCK = {"norm.weight": "norm1.weight", "norm.bias": "norm1.bias", "norm2.weight": "norm2.weight",
          "norm2.bias": "norm2.bias", "mlp.fc1.weight": "mlp.0.weight", "mlp.fc1.bias": "mlp.0.bias",
          "mlp.fc2.weight": "mlp.2.weight", "mlp.fc2.bias": "mlp.2.bias"}
_STAGE = re.compile(r"soft_threshold_share\.layers\.(\d+)\.blocks\.0\.(.+)")
_DE = re.compile(r"soft_threshold_unique\.conv1\.(conv1_\d(?:\.conv)?)\.(weight|bias)")
_ATT = re.compile(r"soft_threshold_unique\.detail_attn\.(\w+)\.(weight|bias)")


def released_name(key: str) -> str | None:
    """Our name (relative to the layer) of a released parameter, or None when the table has none."""
    if key in _FIXED:
        return _FIXED[key]
    m = _STAGE.fullmatch(key)
    if m:
        stage, rest = m.groups()
        if rest.startswith("op."):
            mapped = _SS2D.get(rest[3:])
            return None if mapped is None else f"prox_s.blocks.{stage}.mixer.{mapped}"
        mapped = _BLOCK.get(rest)
        return None if mapped is None else f"prox_s.blocks.{stage}.{mapped}"
    m = _DE.fullmatch(key)
    if m and m.group(1) in _DCONV:
        kind = "weights" if m.group(2) == "weight" else "biases"
        return f"prox_h.dconv.{kind}.{_DCONV[m.group(1)]}"
    m = _ATT.fullmatch(key)
    if m and m.group(1) in _GATE:
        return f"prox_h.{_GATE[m.group(1)]}.{m.group(2)}"
    return None


def unwrap(blob: Any, source: str) -> dict[str, torch.Tensor]:
    """The state_dict inside a released checkpoint (``net`` entry or a bare state_dict)."""
    state = blob.get("net", blob) if isinstance(blob, Mapping) else None
    if not isinstance(state, Mapping) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DataError(f"{source}: not a released DECSC checkpoint (expected a dict with a 'net' state_dict "
                        f"of tensors)")
    keys = list(state)
    if all(k.startswith("module.") for k in keys):
        return {k[len("module."):]: v for k, v in state.items()}
    return dict(state)


def convert_released(blob: Any, source: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Released checkpoint -> (our DEQ state_dict names, parameters it implies: bands and sizes)."""
    state = unwrap(blob, source)
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        mine = released_name(key)
        out[key if mine is None else f"layer.{mine}"] = value.detach().to(torch.float32)
    implied: dict[str, Any] = {}
    share, unique = state.get("share_decoder.weight"), state.get("unique_decoder.weight")
    if share is not None and share.ndim == 4:
        implied.update(gic_atoms=int(share.shape[0]), bands=int(share.shape[1]), gic_kernel=int(share.shape[-1]))
    if unique is not None and unique.ndim == 5:
        implied.update(lsu_atoms=int(unique.shape[0]), lsu_kernel=[int(unique.shape[2]), int(unique.shape[-1])])
    stages = {int(m.group(1)) for k in state if (m := _STAGE.fullmatch(k))}
    if stages:
        implied["stages"] = max(stages) + 1
    a_log = state.get("soft_threshold_share.layers.0.blocks.0.op.A_logs")
    if a_log is not None and a_log.ndim == 2:
        implied["d_state"] = int(a_log.shape[1])
    return out, implied
