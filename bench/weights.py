"""``bench import-weights METHOD SRC --out FILE``: a checkpoint of a method's original code as ours.

The method maps the foreign names (`methods.trainable.TrainableMethod.convert_foreign`); the load here is
strict: every parameter of the network must be filled and every tensor of the file used, with equal
shapes, or the import fails with one line that counts and names what is missing, unexpected or misshapen.
The output is a normal checkpoint whose manifest records the source file's sha256, ``dataset: imported``
and the band count, so ``--checkpoint METHOD=FILE`` runs it anywhere in the grid.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import torch

from bench.errors import DataError, UsageError
from bench.registry import parse_value

_SHOWN = 3


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bench import-weights``."""
    parser.add_argument("method", help="registered trainable method with an importer, e.g. decsc.mamba")
    parser.add_argument("source", type=Path, help="checkpoint written by the method's original code")
    parser.add_argument("--out", type=Path, required=True, help="checkpoint to write (.pt, JSON manifest beside)")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="method parameter override (repeatable), e.g. a smaller configuration")


def run_import(args: argparse.Namespace) -> int:
    """Run `import_weights` from parsed arguments; prints the written path."""
    params: dict[str, Any] = {}
    for item in args.param:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--param: expected KEY=VALUE, got {item!r}")
        params[key.strip()] = parse_value(value.strip())
    manifest = import_weights(args.method, args.source, args.out, **params)
    print(f"{args.out}: {manifest['parameters']} parameters from {args.source.name} "
          f"(sha256 {manifest['source']['sha256'][:12]}...)", file=sys.stderr)
    print(args.out)
    return 0


def import_weights(method: str, source: str | Path, out: str | Path, **params: Any) -> dict[str, Any]:
    """Convert ``source`` for ``method`` (configured with ``params``) and write ``out``; returns its manifest."""
    import methods
    from methods.trainable import file_sha256, save_checkpoint

    source, out = Path(source), Path(out)
    if not source.is_file():
        raise UsageError(f"import-weights: source checkpoint not found: {source}")
    if out.suffix != ".pt":
        raise UsageError(f"import-weights: --out must name a .pt file, got {out}")
    m = methods.create(method, **params)
    if not m.trainable:
        raise UsageError(f"import-weights: {method} is not a trainable method")
    try:
        blob = torch.load(source, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for unreadable files
        raise DataError(f"{source}: cannot be read as a torch checkpoint ({type(exc).__name__})") from None
    state, implied = m.convert_foreign(blob, source.name)
    if "bands" in implied and "bands" not in params and implied["bands"] != m.params["bands"]:
        m = methods.create(method, **{**params, "bands": implied["bands"]})
    net = m.build_network()
    check_strict(state, net.state_dict(), source.name, method,
                 {k: v for k, v in implied.items() if m.params.get(k) != v})
    net.load_state_dict(state, strict=True)
    extra = {k: blob[k] for k in ("epoch", "iteration") if isinstance(blob, dict) and isinstance(blob.get(k), int)}
    manifest = {**m.manifest_base(), "dataset": "imported", "noise": None,
                "parameters": sum(p.numel() for p in net.parameters()),
                "source": {"file": source.name, "sha256": file_sha256(source), **extra},
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return save_checkpoint(out, net.state_dict(), manifest)


def check_strict(theirs: dict[str, torch.Tensor], ours: dict[str, torch.Tensor], source: str, method: str,
                 hints: dict[str, Any] | None = None) -> None:
    """One-line `DataError` unless ``theirs`` has exactly the names and shapes of ``ours``."""
    missing = [k for k in ours if k not in theirs]
    unexpected = [k for k in theirs if k not in ours]
    shapes = [f"{k} {tuple(theirs[k].shape)} vs {tuple(v.shape)}" for k, v in ours.items()
              if k in theirs and tuple(theirs[k].shape) != tuple(v.shape)]
    parts = []
    for what, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape (file vs ours)", shapes)):
        if items:
            more = f", ... {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
            parts.append(f"{len(items)} {what}: {', '.join(items[:_SHOWN])}{more}")
    if parts:
        hint = ("; the file implies " + ", ".join(f"{k}={v}" for k, v in hints.items()) + " (set with --param)"
                if hints and shapes else "")
        raise DataError(f"{source}: does not fit {method}: {'; '.join(parts)}{hint}")
