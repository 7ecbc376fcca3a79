"""Plain-text tables for ``bench list``."""

from __future__ import annotations

from typing import Any


def _rows(what: str) -> tuple[list[str], list[list[str]]]:
    if what == "methods":
        import methods

        return ["name", "family", "trainable", "version", "license", "description", "reference"], [
            [e.name, e.meta["family"], "yes" if e.meta["trainable"] else "no", e.meta["version"], e.meta["license"],
             e.meta["description"], e.meta["reference"]] for e in methods.registry.entries()]
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


def table(what: str) -> str:
    head, rows = _rows(what)
    return format_table(head, rows)


def format_table(head: list[str], rows: list[list[Any]], max_width: int = 60) -> str:
    cells = [[str(c) if len(str(c)) <= max_width else str(c)[:max_width - 3] + "..." for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(out)
