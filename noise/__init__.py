"""Registered noise models (SPEC section 2). ``noise.create("noniid", smax=95)`` or ``noise.parse("noniid:smax=95")``.

Groups: ``paper`` (the DECSC table rows; also what ``all`` means), ``qrnn3d``, ``t3sc`` and ``training``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from bench.errors import UsageError
from bench.registry import Registry, drop_none, parse_value
from noise.base import NoiseModel, NoiseSample

registry: Registry[type[NoiseModel]] = Registry("noise", all_group="paper", plural="noise")


def register(name: str, *, groups: tuple[str, ...] = (), description: str | None = None,
             reference: str | None = None, **defaults: Any):
    """Register a `NoiseModel` subclass under ``name`` with parameter presets.

    ``description`` and ``reference`` default to the class's; presets of one class may describe themselves.
    """

    def deco(cls: type[NoiseModel]) -> type[NoiseModel]:
        unknown = set(defaults) - set(cls.defaults)
        if unknown:
            raise ValueError(f"noise {name}: preset sets unknown parameter(s) {sorted(unknown)}")
        registry.add(name, cls, groups=groups, defaults=defaults, family=cls.family,
                     description=description or cls.description, reference=reference or cls.reference)
        return cls

    return deco


def create(name: str, **params: Any) -> NoiseModel:
    """Instantiate the noise model registered as ``name`` with parameter overrides."""
    entry = registry.get(name)
    params = drop_none(params)
    model = entry.obj(name=name, **{**entry.defaults, **params})
    model._overrides = {k: v for k, v in params.items() if entry.defaults.get(k, entry.obj.defaults.get(k)) != v}
    return model


def parse(spec: str) -> NoiseModel:
    """Build a model from its CLI form ``name`` or ``name:key=value,key=value``."""
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise UsageError(f"malformed noise parameter {item!r} in {spec!r} (expected key=value)")
        params[key.strip()] = parse_value(value.strip())
    return create(name.strip(), **params)


def _import_all() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base" and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


_import_all()

__all__ = ["NoiseModel", "NoiseSample", "create", "parse", "register", "registry"]
