"""The self-contained HTML report: jinja2 templates shipped with the package, images inlined as base64 PNG,
CSS inline, no network. Written atomically so a reader never sees half a file.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from bench.fileio import writable_folder, write_text_atomic
from reports import data
from reports.data import Results, load_results
from reports.grid import Grid
from reports.render import tables
from reports.sections import Choice, build_sections, check_choice

METRIC_CONVENTIONS = (
    ("PSNR", "per band 10·log10(1/MSE), peak 1, mean over bands (dB)"),
    ("SSIM", "per band, Gaussian window σ 1.5 (11×11), K1 0.01, K2 0.03, data range 1, population statistics, "
             "mean over bands"),
    ("SAM", "per pixel arccos of the normalised inner product, cosine clipped to [-1, 1], mean over pixels, "
            "radians"),
    ("ERGAS", "100·sqrt(mean over bands of MSE_b / mean_b²)"),
)


def build_html(store_dir: str | os.PathLike[str], out_path: str | os.PathLike[str] | None = None, *,
               dataset: str | None = None, image: str | None = None, noise: str | None = None,
               band: int | None = None, bands: tuple[int, int, int] | None = None) -> Path:
    """Write the HTML report of the store at ``store_dir``; returns the file written.

    ``out_path`` is a file or a folder (``index.html`` inside); default ``<store_dir>/report/index.html``.
    The same tables go beside it as ``tables.md``, ``tables.tex`` (booktabs) and ``tables.csv`` (tidy,
    per-image rows included).
    ``image``/``noise`` choose what the figures show (default: first image, the noise model with most
    methods), ``band`` the row-mean profile band, ``bands`` the zero-based false-colour triplet.
    """
    started = time.perf_counter()
    data._npz_cached.cache_clear()
    res = load_results(store_dir, dataset=dataset)
    choice = Choice(image=image, noise=noise, band=band, bands=bands)
    check_choice(res, choice)
    dest = _destination(Path(store_dir), out_path)
    sections = build_sections(res, choice)
    companions = {fmt: dest.with_name(f"tables.{ext}") for fmt, ext in (("md", "md"), ("latex", "tex"), ("csv", "csv"))}
    for fmt, path in companions.items():
        write_text_atomic(path, tables(res, fmt, per_image=fmt == "csv"))
    html = render(res, sections, build_s=time.perf_counter() - started,
                  downloads={fmt: p.name for fmt, p in companions.items()})
    write_text_atomic(dest, html)
    return dest


def grid_html(grid: Grid) -> str:
    """One results grid as an HTML table fragment (the same markup the report uses)."""
    return _env().get_template("grid.html.j2").module.grid_table(grid, "summary")


def render(res: Results, sections: list, *, build_s: float, downloads: dict[str, str] | None = None) -> str:
    template = _env().get_template("report.html.j2")
    return template.render(
        title=f"hsi-bench report: {res.root.name}", store=str(res.root), sections=sections,
        failed=_failed(res), hidden=res.hidden_versions, runs=_runs(res.runs, res.rows), meta=_meta(res),
        inputs=_stored_inputs(res),
        conventions=METRIC_CONVENTIONS, downloads=downloads or {},
        generated=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), build_s=f"{build_s:.1f}")


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True,
                             lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["anchor"] = lambda text: re.sub(r"[^A-Za-z0-9_.-]+", "-", str(text)).strip("-")
    return env


def _stored_inputs(res: Results) -> list[dict[str, str]]:
    """The files whose stored noisy inputs were scored (frozen and other toolboxes' sets), with their sha256."""
    seen: dict[tuple[str, str], dict[str, str]] = {}
    for ds, image, info in zip(res.rows["dataset"], res.rows["image"], res.rows["info"]):
        record = info.get("noise", {}).get("input") if isinstance(info, dict) and isinstance(
            info.get("noise"), dict) else None
        if isinstance(record, dict) and record.get("sha256"):
            seen.setdefault((str(ds), str(image)), {"dataset": str(ds), "image": str(image),
                                                   "file": str(record.get("file", "")),
                                                   "sha256": str(record["sha256"])})
    return list(seen.values())


def _destination(store: Path, out_path: str | os.PathLike[str] | None) -> Path:
    dest = Path(out_path) if out_path is not None else store / "report" / "index.html"
    if dest.suffix.lower() not in (".html", ".htm"):
        dest = dest / "index.html"
    writable_folder(dest.parent, "report folder")
    return dest


def _failed(res: Results) -> list[dict[str, Any]]:
    cols = ["dataset", "image", "noise", "column", "seed", "error"]
    return [{k: ("" if data.is_missing(v) else v) for k, v in zip(cols, row)}
            for row in res.failed[cols].itertuples(index=False)]


def _runs(runs: pd.DataFrame, rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One line per run; ``cells`` says how many of the shown rows it computed and on which hosts, so a merged
    store tells where each cell ran (workers of a cluster run) from where the run was started (``host``)."""
    out = []
    for _, r in runs.iterrows():
        env = r.get("env") if isinstance(r.get("env"), dict) else {}
        out.append({"host": env.get("host", ""), "cells": _cells_of(rows, r.get("run_id")),
            "run_id": r.get("run_id"), "started": r.get("started_at") or "", "finished": r.get("finished_at") or "",
            "profile": r.get("profile") or "", "seed": "" if data.is_missing(r.get("seed")) else r.get("seed"),
            "device": r.get("device") or env.get("device", ""), "clip": _clip_text(r.get("clip")),
            "command": r.get("command") or "", "commit": env.get("commit", ""),
            "versions": ", ".join(f"{k} {v}" for k, v in _versions(env).items()),
            "machine": _machine(env),
        })
    return out


def _cells_of(rows: pd.DataFrame, run_id: Any) -> str:
    if "run_id" not in rows or "host" not in rows:
        return ""
    mine = rows[rows["run_id"] == run_id]
    hosts = sorted({str(h) for h in mine["host"].dropna()})
    return f"{len(mine)} on {', '.join(hosts)}" if hosts else str(len(mine))


def _versions(env: dict[str, Any]) -> dict[str, Any]:
    """Package versions, whether the run recorded them flat or under ``versions``."""
    nested = env.get("versions") if isinstance(env.get("versions"), dict) else {}
    flat = {k: env[k] for k in ("python", "torch", "numpy") if k in env}
    return {**flat, **nested}


def _machine(env: dict[str, Any]) -> str:
    parts = [str(env[k]) for k in ("cpu", "platform") if env.get(k)]
    if env.get("cpu_count"):
        parts.append(f"{env['cpu_count']} CPU cores")
    if env.get("torch_threads"):
        parts.append(f"{env['torch_threads']} torch threads")
    if env.get("cuda"):
        parts.append(f"CUDA {env['cuda']}")
    return ", ".join(parts)


def _meta(res: Results) -> dict[str, str]:
    rows = res.rows
    metric_keys = sorted({k for m in rows["metrics"] if isinstance(m, dict) for k in m})
    return {
        "profiles": ", ".join(sorted({str(p) for p in rows["profile"].dropna()})),
        "seeds": ", ".join(str(s) for s in sorted({int(s) for s in rows["seed"].dropna()})),
        "clip": ", ".join(sorted({_clip_text(c) for c in rows["clip"].dropna()})) or "not recorded",
        "devices": ", ".join(sorted({str(d) for d in rows["device"].dropna()})),
        "metric_keys": ", ".join(metric_keys),
        "cells": f"{int((rows['status'] == 'ok').sum())} ok, {int((rows['status'] != 'ok').sum())} failed",
    }


def _clip_text(value: Any) -> str:
    if data.is_missing(value):
        return ""
    return "clipped to [0, 1]" if int(value) else "not clipped"
