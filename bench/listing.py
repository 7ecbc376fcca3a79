"""Plain-text tables for ``bench list``, fitted to the terminal's width."""

from __future__ import annotations

import shutil
from typing import Any

#: Columns that share the width the others leave; when there is too little, they are dropped in this order.
_FLEXIBLE = ("version", "reference", "license", "convention", "groups", "parameters", "methods", "description",
             "variant")
_MIN_FLEX = 12
_SHARE = 32


def _rows(what: str) -> tuple[list[str], list[list[str]]]:
    if what == "methods":
        return _method_rows()
    if what == "noise":
        import noise

        groups = noise.registry.groups()
        return ["name", "groups", "parameters", "description", "reference"], [
            [e.name, ",".join(g for g, m in groups.items() if e.name in m),
             ", ".join(f"{k}={v}" for k, v in {**e.obj.defaults, **e.defaults}.items()),
             e.meta.get("description", ""), e.meta.get("reference", "")] for e in noise.registry.entries()]
    if what == "datasets":
        from bench import datasets

        return ["name", "kind", "description", "reference"], [
            [e.name, e.meta.get("kind", ""), e.meta.get("description", ""), e.meta.get("reference", "")]
            for e in datasets.registry.entries()]
    if what == "metrics":
        from bench import metrics

        return ["name", "better", "unit", "convention", "description"], [
            [e.name, "higher" if e.obj.higher_is_better else "lower", e.obj.unit, e.obj.convention,
             e.obj.description] for e in metrics.registry.entries()]
    from bench.profiles import PROFILES

    return ["name", "datasets", "images", "crop", "methods", "description"], [
        [p.name, p.datasets, str(p.images or "all"), str(p.crop or "full"), p.methods, p.description]
        for p in PROFILES.values()]


def _method_rows() -> tuple[list[str], list[list[str]]]:
    """One row per method, with what tells variants of one family apart: network size, shipped weights and
    the preset that differs from the nearest sibling."""
    import methods
    from methods.trainable import CHECKPOINT_DIR

    entries = methods.registry.entries()
    rows = []
    for e in entries:
        size, weights = "-", "-"
        if e.meta["trainable"]:
            size = _count(methods.create(e.name).parameter_count())
            weights = "shipped" if (CHECKPOINT_DIR / f"{e.name}.pt").is_file() else "none"
        rows.append([e.name, e.meta["family"], e.meta["version"], size, weights, _variant(e, entries),
                     e.meta["license"], e.meta["description"], e.meta["reference"]])
    return ["name", "family", "version", "size", "weights", "variant", "license", "description", "reference"], rows


def _variant(entry: Any, entries: list[Any]) -> str:
    """The preset of ``entry`` as "<sibling> with k=v" when it extends (or overrides part of) the preset of a
    sibling of the same class (another class, such as ``decsc.mamba`` next to ``decsc``, is another network,
    not a preset), else its own settings. The sibling sharing most settings is named; the settings it lacks
    come first, then those that differ."""
    family = entry.name.split(".")[0]
    mine = entry.defaults
    bases = [e for e in entries if e is not entry and e.name.split(".")[0] == family and e.obj is entry.obj
             and len(e.defaults) < len(mine) and all(k in mine for k in e.defaults)]
    if bases:
        base = max(bases, key=lambda e: (sum(mine[k] == v for k, v in e.defaults.items()), -len(e.name)))
        diff = {k: v for k, v in mine.items() if k not in base.defaults}
        diff.update((k, v) for k, v in mine.items() if k in base.defaults and base.defaults[k] != v)
        return f"{base.name} with " + ", ".join(f"{k}={v}" for k, v in diff.items())
    return ", ".join(f"{k}={v}" for k, v in mine.items()) or "defaults"


def _count(n: int) -> str:
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.0f}k" if n >= 1e3 else str(n)


def table(what: str, width: int | None = None) -> str:
    """The ``bench list WHAT`` table, at most ``width`` columns wide (default: the terminal's width)."""
    head, rows = _rows(what)
    return format_table(head, rows, width=width or shutil.get_terminal_size((100, 24)).columns)


def format_table(head: list[str], rows: list[list[Any]], max_width: int = 60, width: int | None = None) -> str:
    """Aligned columns, each cell cut at ``max_width``; with ``width``, flexible columns (descriptions,
    references ...) are cut further and, if that is not enough, dropped from the right, to fit."""
    text = [[str(c) for c in r] for r in rows]
    limits = [max([len(h)] + [len(r[i]) for r in text]) for i, h in enumerate(head)]
    limits = [min(w, max(max_width, len(h))) for w, h in zip(limits, head)]
    keep = list(range(len(head)))
    if width is not None:
        keep, limits = _fit(head, limits, width)
    head = [head[i] for i in keep]
    cells = [[_cut(r[i], limits[i]) for i in keep] for r in text]
    widths = [max([len(h)] + [len(r[j]) for r in cells]) for j, h in enumerate(head)]
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(), "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(out)


def _fit(head: list[str], natural: list[int], width: int) -> tuple[list[int], list[int]]:
    """Fixed columns keep their width; flexible ones share what is left, the most telling first (the end of
    `_FLEXIBLE`): each is first given up to `_SHARE` characters (one that would get under `_MIN_FLEX` is
    left out), then the rest of the width goes to them in the same order, up to what each needs."""
    limits = list(natural)
    flexible = [head.index(n) for n in reversed(_FLEXIBLE) if n in head]
    fixed = [i for i in range(len(head)) if i not in flexible]
    room = width - sum(natural[i] + 2 for i in fixed) + 2
    shown = []
    for i in flexible:
        give = min(natural[i], _SHARE, room - 2)
        if give >= min(_MIN_FLEX, natural[i]):
            limits[i] = give
            room -= give + 2
            shown.append(i)
    for i in shown:
        extra = min(natural[i] - limits[i], room)
        limits[i] += extra
        room -= extra
    return sorted(fixed + shown), limits


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:max(limit - 3, 0)] + "..."
