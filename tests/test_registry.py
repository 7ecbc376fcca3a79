"""The shared Registry type and the registries built on it."""

from __future__ import annotations

import pytest

import methods
import noise
from bench import datasets, metrics
from bench.errors import UsageError
from bench.registry import Registry, drop_none


def _reg() -> Registry:
    r: Registry = Registry("thing")
    for name in ("alpha", "alpine", "beta", "gamma.small"):
        r.add(name, object(), groups=("greek",) if name != "alpine" else ())
    return r


def test_duplicate_is_an_error() -> None:
    r = _reg()
    with pytest.raises(ValueError, match="duplicate thing name 'alpha'"):
        r.add("alpha", object())


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(UsageError, match=r"unknown thing 'alpah'; did you mean 'alpha'"):
        _reg().get("alpah")


def test_unknown_without_match_points_at_listing() -> None:
    with pytest.raises(UsageError, match=r"see `bench list things`"):
        _reg().get("zzzzzz")


@pytest.mark.parametrize("spec, expected", [
    ("alpha,beta", ["alpha", "beta"]),
    ("all", ["alpha", "alpine", "beta", "gamma.small"]),
    ("alp*", ["alpha", "alpine"]),
    ("greek", ["alpha", "beta", "gamma.small"]),
    ("beta,alpha,beta", ["beta", "alpha"]),
    ("alpha:x=1,y=2,beta", ["alpha:x=1,y=2", "beta"]),
])
def test_select(spec: str, expected: list[str]) -> None:
    assert _reg().select(spec) == expected


@pytest.mark.parametrize("spec", ["", "alpha,,beta", "zeta*", "alpha,nope"])
def test_select_rejects_malformed(spec: str) -> None:
    with pytest.raises(UsageError):
        _reg().select(spec)


def test_drop_none_keeps_falsy_values() -> None:
    assert drop_none({"a": None, "b": 0, "c": False}) == {"b": 0, "c": False}


@pytest.mark.parametrize("registry", [methods.registry, noise.registry, datasets.registry, metrics.registry],
                         ids=lambda r: r.kind)
def test_project_registries_are_populated(registry: Registry) -> None:
    assert len(registry) > 0
    with pytest.raises(UsageError, match="unknown"):
        registry.get("definitely-not-registered")


def test_create_drops_none_overrides() -> None:
    m = methods.create("noisy")
    assert m.name == "noisy" and m.params == {}
    with pytest.raises(UsageError, match="unknown parameter"):
        methods.create("noisy", bogus=1)


def test_noise_all_means_the_paper_rows() -> None:
    assert noise.registry.select("all") == ["noniid-15", "noniid-55", "noniid-95", "mixture", "corr"]
