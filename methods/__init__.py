"""Registered denoisers. Each module registers itself; `create` builds one by name.

Methods kept outside this package register themselves the same way from a module named in the
``HSIBENCH_PLUGINS`` environment variable (comma list of importable modules).

>>> import methods
>>> m = methods.create("noisy")
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from typing import Any

from bench.registry import Registry, drop_none
from methods.base import FAMILIES, Method, resolve_device

registry: Registry[type[Method]] = Registry("method")


def register(name: str, *, groups: tuple[str, ...] = (), **defaults: Any):
    """Register a `Method` subclass under ``name`` with default-parameter overrides (a preset)."""

    def deco(cls: type[Method]) -> type[Method]:
        if cls.family not in FAMILIES:
            raise ValueError(f"{name}: family must be one of {FAMILIES}")
        unknown = set(defaults) - set(cls.defaults)
        if unknown:
            raise ValueError(f"{name}: preset sets unknown parameter(s) {sorted(unknown)}")
        registry.add(name, cls, groups=groups, defaults=defaults, family=cls.family,
                     description=cls.description, reference=cls.reference, license=cls.license,
                     trainable=cls.trainable, version=cls.version)
        return cls

    return deco


def create(name: str, **overrides: Any) -> Method:
    """Instantiate the method registered as ``name``; ``None`` overrides mean "keep the default"."""
    entry = registry.get(name)
    return entry.obj(name=name, **{**entry.defaults, **drop_none(overrides)})


def list_methods(pattern: str = "all") -> list[str]:
    return registry.select(pattern)


def _import_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name not in ("base", "trainable") and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")
    for plugin in filter(None, (p.strip() for p in os.environ.get("HSIBENCH_PLUGINS", "").split(","))):
        importlib.import_module(plugin)


_import_all()

__all__ = ["Method", "create", "list_methods", "register", "registry", "resolve_device"]
