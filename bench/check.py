"""``bench check``: the regression gate comparing a run with a committed baseline.

Each metric has a direction (from the metric registry) and a threshold, absolute (``psnr:0.1`` dB) or
relative (``sam:2%``). A cell that got worse beyond its threshold, a cell that newly fails, a baseline cell
missing from the run and a method whose version changed (not comparable) all make the gate exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import DataError, UsageError

DEFAULT_FAIL = ("psnr:0.1", "ssim:0.002", "sam:2%")
#: The metrics a store row carries a column for, so the only names a threshold can judge.
GATED = ("psnr", "ssim", "sam", "ergas")
_KEY = ("method", "noise", "dataset", "image", "seed")
#: The rest of a cell's identity that changes its numbers (as in the report's grouping): a run at another
#: crop, with clipping or with estimated sigma is another cell, never a stand-in for the baseline's.
_IDENTITY = ("profile", "height", "width", "bands", "clip", "sigma_mode")


@dataclass(frozen=True)
class Threshold:
    metric: str
    value: float
    relative: bool

    @classmethod
    def parse(cls, text: str) -> "Threshold":
        name, sep, amount = text.partition(":")
        rel = amount.endswith("%")
        try:
            value = float(amount[:-1] if rel else amount)
        except ValueError:
            value = -1.0
        if not sep or not name or value < 0:
            raise UsageError(f"malformed --fail {text!r} (expected METRIC:AMOUNT or METRIC:PCT%, e.g. psnr:0.1)")
        if name not in GATED:
            raise UsageError(_unknown_metric(name, text))
        return cls(name, value / 100 if rel else value, rel)

    def allowed(self, base: float) -> float:
        return abs(base) * self.value if self.relative else self.value


def _unknown_metric(name: str, text: str) -> str:
    """A threshold on a name the store has no column for would never fire, so it is refused with a hint."""
    import difflib

    close = [g for g in GATED if g == name.lower()] or difflib.get_close_matches(name.lower(), GATED, n=2,
                                                                                  cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"unknown metric {name!r} in --fail {text!r}{hint} (the gate compares {', '.join(GATED)})"


def add_check_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--baseline", type=Path, required=True, help="baseline JSON (e.g. tests/baselines/smoke.json)")
    p.add_argument("--fail", action="append", default=None, metavar="METRIC:AMOUNT",
                   help=f"regression threshold on {', '.join(GATED)} (repeatable; default "
                        f"{' '.join(DEFAULT_FAIL).replace('%', '%%')})")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--store", type=Path, help="compare this existing results folder")
    src.add_argument("--run", action="store_true",
                     help="run the baseline's grid first, recomputing every cell (into --out)")
    p.add_argument("--out", type=Path, default=None, help="results folder for --run (default runs/check-<profile>)")
    p.add_argument("--update", action="store_true", help="rewrite the baseline from the run, on purpose")


def run_check(args: argparse.Namespace) -> int:
    thresholds = [Threshold.parse(t) for t in (args.fail or DEFAULT_FAIL)]
    if args.update and not args.baseline.exists():
        spec: dict[str, Any] = {}
    else:
        spec = read_baseline(args.baseline).get("run", {})
    store_dir = args.store or args.out or Path("runs") / f"check-{spec.get('profile', 'smoke')}"
    if args.run:
        _run_grid(spec, store_dir, getattr(args, "verbose", False))
    rows = current_rows(store_dir)
    if args.update:
        write_baseline(args.baseline, rows, spec or _spec_from(rows))
        print(f"baseline {args.baseline} rewritten with {len(rows)} cell(s)", file=sys.stderr)
        return 0
    report = compare(read_baseline(args.baseline), rows, thresholds)
    print(report.table())
    print(report.summary(), file=sys.stderr)
    return 1 if report.failed else 0


def read_baseline(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"baseline file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"baseline {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise DataError(f"baseline {path} has no 'cells' list")
    return data


def current_rows(store_dir: Path) -> list[dict[str, Any]]:
    """The newest row of each cell in a store, as plain dicts."""
    from bench import store

    df = store.load(store_dir)
    df["sigma_mode"] = [i.get("sigma_mode") if isinstance(i, dict) else None for i in df["info"]]
    df["clip"] = df["clip"].fillna(0)
    df = df.sort_values("finished_at").drop_duplicates(subset=[*_KEY, *_IDENTITY], keep="last")
    cols = [*_KEY, *_IDENTITY, "method_version", "params_hash", "status", "error", "psnr", "ssim", "sam", "ergas"]
    return [{k: _plain(v) for k, v in r.items()} for r in df[cols].to_dict("records")]


def _run_grid(spec: dict[str, Any], out: Path, verbose: bool) -> None:
    import methods
    import noise
    from bench import datasets, profiles, runner

    prof = profiles.get(spec.get("profile", "smoke"))
    cfg = runner.RunConfig(
        methods=methods.registry.select(spec.get("methods") or prof.methods),
        noises=noise.registry.select(spec.get("noise") or "all"),
        datasets=datasets.registry.select(spec.get("datasets") or prof.datasets),
        profile=prof, out=out, seed=int(spec.get("seed", 0)), device="cpu", rerun=True, command="bench check --run")
    runner.run(cfg, verbose=verbose)


def _spec_from(rows: list[dict[str, Any]]) -> dict[str, Any]:
    uniq = lambda k: ",".join(dict.fromkeys(str(r[k]) for r in rows))  # noqa: E731
    return {"profile": rows[0]["profile"] if rows else "smoke", "methods": uniq("method"), "noise": uniq("noise"),
            "datasets": uniq("dataset"), "seed": int(rows[0]["seed"]) if rows else 0}


def write_baseline(path: Path, rows: list[dict[str, Any]], spec: dict[str, Any]) -> None:
    from bench.fileio import write_text_atomic
    from bench.runner import environment

    env = environment()
    data = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": env["commit"],
            "versions": env["versions"], "run": spec,
            "cells": [{k: r[k] for k in (*_KEY, *_IDENTITY, "method_version", "params_hash", "status", "psnr",
                                         "ssim", "sam", "ergas")} for r in rows]}
    write_text_atomic(path, json.dumps(data, indent=1) + "\n")


@dataclass
class Line:
    cell: str
    metric: str
    base: float | None
    now: float | None
    verdict: str


class Report:
    def __init__(self, lines: list[Line]) -> None:
        self.lines = lines

    @property
    def failed(self) -> bool:
        return any(line.verdict in ("worse", "newly failing", "missing", "ambiguous", "not comparable")
                   for line in self.lines)

    def table(self) -> str:
        from bench.listing import format_table

        moved = [ln for ln in self.lines if ln.verdict != "same"]
        if not moved:
            return "no metric moved beyond its threshold"
        fmt = lambda v: "" if v is None else f"{v:.4f}"  # noqa: E731
        return format_table(["cell", "metric", "baseline", "now", "verdict"],
                            [[ln.cell, ln.metric, fmt(ln.base), fmt(ln.now), ln.verdict] for ln in moved],
                            max_width=80)

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for ln in self.lines:
            counts[ln.verdict] = counts.get(ln.verdict, 0) + 1
        text = ", ".join(f"{n} {v}" for v, n in sorted(counts.items()))
        return f"check {'FAILED' if self.failed else 'passed'}: {text}"


def compare(baseline: dict[str, Any], rows: list[dict[str, Any]], thresholds: list[Threshold]) -> Report:
    """Per-cell and per-(method, noise) mean comparison of ``rows`` against ``baseline``."""
    from bench import metrics

    lines: list[Line] = []
    matched: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for base in baseline["cells"]:
        cid = _cell_id(base)
        found = _matching(base, rows)
        if len(found) != 1:
            lines.append(Line(cid, "-", None, None, "ambiguous" if found else "missing"))
            continue
        cur = found[0]
        if str(cur["method_version"]) != str(base["method_version"]):
            lines.append(Line(cid, "version", None, None, "not comparable"))
            continue
        if cur["status"] != "ok":
            lines.append(Line(cid, "status", None, None, "newly failing" if base["status"] == "ok" else "same"))
            continue
        if base["status"] != "ok":
            lines.append(Line(cid, "status", None, None, "better"))
            continue
        matched.append((base, cur))
        for th in thresholds:
            lines.append(_judge(cid, th, base.get(th.metric), cur.get(th.metric), metrics))
    lines += _mean_lines(matched, thresholds, metrics)
    return Report(lines)


def _matching(base: dict[str, Any], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the baseline cell's identity. A baseline written before the identity had crop, clip and
    sigma mode matches on the fields it has, and more than one such row is "ambiguous", not a guess."""
    fields = [*_KEY, *(f for f in _IDENTITY if f in base)]
    return [r for r in rows if all(str(r.get(f)) == str(base[f]) for f in fields)]


def _mean_lines(matched: list[tuple[dict[str, Any], dict[str, Any]]], thresholds: list[Threshold],
                metrics: Any) -> list[Line]:
    groups: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for b, cur in matched:
        if b["status"] == "ok" and cur["status"] == "ok" and str(cur["method_version"]) == str(b["method_version"]):
            groups.setdefault((b["method"], b["noise"]), []).append((b, cur))
    out = []
    for (meth, noise), pairs in groups.items():
        for th in thresholds:
            bv = [p[0].get(th.metric) for p in pairs]
            cv = [p[1].get(th.metric) for p in pairs]
            if any(v is None for v in bv + cv):
                continue
            out.append(_judge(f"mean {meth} x {noise}", th, sum(bv) / len(bv), sum(cv) / len(cv), metrics))
    return out


def _judge(cid: str, th: Threshold, base: float | None, cur: float | None, metrics: Any) -> Line:
    if base is None or cur is None:
        return Line(cid, th.metric, base, cur, "same" if base is None and cur is None else "not comparable")
    higher = metrics.registry.get(th.metric).obj.higher_is_better
    gain = (cur - base) if higher else (base - cur)
    tol = th.allowed(base)
    verdict = "worse" if gain < -tol else "better" if gain > tol else "same"
    return Line(cid, th.metric, base, cur, verdict)


def _cell_id(r: dict[str, Any]) -> str:
    size = f" {r['height']}x{r['width']}x{r['bands']}" if r.get("height") is not None else ""
    extra = "".join(f", {t}" for t in (("clipped" if r.get("clip") else None),
                                       (f"sigma {r['sigma_mode']}" if r.get("sigma_mode") == "estimate" else None))
                    if t)
    return f"{r['method']} x {r['noise']} x {r['dataset']}/{r['image']} s{r['seed']}{size}{extra}"


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and v != v:
        return None
    return v
