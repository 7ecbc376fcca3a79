"""Datasets: the embedded synthetic-from-real sets and loaders for external files.

``bench.datasets.load(name, split="test", data_root=None, **options)`` returns a `Dataset`: a lazy,
indexable sequence of `HSImage`. Names may carry options in the CLI form ``name:key=value`` and
``frozen:DIR`` points at a folder written by ``bench data freeze``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Any

from bench.datasets.base import Dataset, HSImage, data_root
from bench.errors import MissingDataError, UsageError
from bench.registry import Registry, drop_none

registry: Registry = Registry("dataset")


def register(name: str, *, groups: tuple[str, ...] = (), **meta: Any):
    """Register a dataset factory ``fn(*, split, data_root, **options) -> Dataset``."""
    return registry.register(name, groups=groups, **meta)


def load(name: str, *, split: str = "test", data_root: str | None = None, **options: Any) -> Dataset:
    """Open the dataset ``name`` (``"scenes31"``, ``"icvl"``, ``"frozen:DIR"``, ``"npy:PATH"`` ...)."""
    base, _, rest = name.partition(":")
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if eq:
            options.setdefault(key.strip(), value.strip())
        elif "path" not in options:
            options["path"] = item
        else:
            raise UsageError(f"malformed dataset option {item!r} in {name!r}")
    entry = registry.get(base)
    options = drop_none(options)
    _check_options(base, entry.obj, options)
    return entry.obj(split=split, data_root=data_root, **options)


def load_available(names: list[str], *, split: str = "test", data_root: str | None = None,
                   skip_missing: bool = False) -> tuple[list[tuple[str, Dataset]], list[str]]:
    """Open every dataset in ``names``; with ``skip_missing``, one whose files are absent is left out.

    Returns the opened ``(name, dataset)`` pairs and, for each one left out, the message naming the folder
    it was expected in. When every dataset is missing the first message is raised as a `MissingDataError`.
    """
    opened, missing = [], []
    for name in names:
        try:
            opened.append((name, load(name, split=split, data_root=data_root)))
        except MissingDataError as exc:
            if not skip_missing:
                raise
            missing.append(str(exc))
    if names and not opened:
        raise MissingDataError(f"no dataset of this run is present: {'; '.join(missing)}")
    return opened, missing


def _check_options(name: str, factory: Any, options: dict[str, Any]) -> None:
    """Reject options the factory does not take with a one-line `UsageError` instead of a TypeError."""
    params = inspect.signature(factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [p for p in params if p not in ("split", "data_root")]
    unknown = sorted(set(options) - set(known))
    if unknown:
        what = "a path" if unknown == ["path"] else f"option(s) {', '.join(unknown)}"
        raise UsageError(f"dataset {name}: does not take {what}; known options: {', '.join(known) or 'none'}")


def _import_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = ["Dataset", "HSImage", "data_root", "load", "load_available", "register", "registry"]
