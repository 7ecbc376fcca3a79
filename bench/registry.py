"""One registry type for methods, noise models, datasets and metrics.

Names are registered with a decorator; duplicates are an error and unknown names get a
"did you mean" hint. Selections accept comma lists, ``all``, shell wildcards and named groups,
so the CLI and the Python API resolve names the same way.
"""

from __future__ import annotations

import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Iterable, TypeVar

from bench.errors import UsageError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """A registered object with its descriptive metadata and default keyword overrides."""

    name: str
    obj: T
    meta: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """Name -> object map with groups, selection syntax and helpful errors."""

    def __init__(self, kind: str, *, all_group: str | None = None, plural: str | None = None) -> None:
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self._entries: dict[str, Entry[T]] = {}
        self._groups: dict[str, list[str]] = {}
        self._all_group = all_group

    def register(self, name: str, *, groups: Iterable[str] = (), defaults: dict[str, Any] | None = None,
                 **meta: Any) -> Callable[[T], T]:
        """Decorator registering ``obj`` under ``name``; stack it to register presets of one object."""

        def deco(obj: T) -> T:
            self.add(name, obj, groups=groups, defaults=defaults, **meta)
            return obj

        return deco

    def add(self, name: str, obj: T, *, groups: Iterable[str] = (), defaults: dict[str, Any] | None = None,
            **meta: Any) -> None:
        if name in self._entries:
            raise ValueError(f"duplicate {self.kind} name {name!r}")
        if name in self._groups or name == "all":
            raise ValueError(f"{self.kind} name {name!r} clashes with a group name")
        self._entries[name] = Entry(name, obj, dict(meta), dict(defaults or {}))
        for g in groups:
            self._groups.setdefault(g, []).append(name)

    def add_group(self, group: str, members: Iterable[str]) -> None:
        if group in self._entries:
            raise ValueError(f"{self.kind} group {group!r} clashes with a registered name")
        self._groups[group] = list(members)

    def groups(self) -> dict[str, list[str]]:
        return {g: list(m) for g, m in self._groups.items()}

    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[Entry[T]]:
        return list(self._entries.values())

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, name: str) -> Entry[T]:
        try:
            return self._entries[name]
        except KeyError:
            raise UsageError(self._unknown(name)) from None

    def _unknown(self, name: str) -> str:
        pool = list(self._entries) + list(self._groups)
        close = difflib.get_close_matches(name, pool, n=3, cutoff=0.5)
        if close:
            return f"unknown {self.kind} {name!r}; did you mean {' or '.join(repr(c) for c in close)}?"
        return f"unknown {self.kind} {name!r} (see `bench list {self.plural}`)"

    def select(self, spec: str | Iterable[str]) -> list[str]:
        """Resolve a selection (``"a,b"``, ``"all"``, ``"lrmr*"``, a group name) to ordered unique names.

        Items written ``name:key=value`` keep their parameter suffix; only the name part is checked.
        """
        items = _split_items(spec) if isinstance(spec, str) else [str(s).strip() for s in spec]
        if not items or any(not it for it in items):
            raise UsageError(f"malformed {self.kind} list {spec!r}: empty item")
        out: list[str] = []
        for item in items:
            base, sep, suffix = item.partition(":")
            if item == "all":
                found = self._groups[self._all_group] if self._all_group else list(self._entries)
            elif base in self._groups and not sep:
                found = self._groups[base]
            elif any(ch in base for ch in "*?["):
                found = [n for n in self._entries if fnmatch.fnmatchcase(n, base)]
                if not found:
                    raise UsageError(f"{self.kind} pattern {base!r} matches nothing")
            else:
                self.get(base)
                found = [item]
            out.extend(f for f in found if f not in out)
        return out


def _split_items(spec: str) -> list[str]:
    """Split on commas that start a new item; ``noniid:smax=95,seed=1`` style params stay attached."""
    parts = [p.strip() for p in spec.split(",")]
    items: list[str] = []
    for p in parts:
        if items and "=" in p and ":" in items[-1] and ":" not in p:
            items[-1] += "," + p
        else:
            items.append(p)
    return items


def parse_value(text: str) -> Any:
    """A command-line value as a Python one: int, float, true/false, none, else the string itself."""
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    return None if low == "none" else text


def drop_none(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword overrides with ``None`` values removed, so ``None`` means "use the default"."""
    return {k: v for k, v in kwargs.items() if v is not None}
