"""One report section per dataset: its tables and the figures of a chosen image and noise model.

Figures fall back to what the artifacts hold: without stored cubes (large images) only row-mean profiles
are drawn, and the section says so; datasets without ground truth get images and profiles only.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from bench.errors import UsageError
from reports import figures
from reports.data import Results, cell_artifacts, is_missing, npz_cube, pick
from reports.grid import (Grid, ablation_grid, complexity_table, memory_kinds, noref_grids, per_image_grids,
                          summary_grids)

DEFAULT_RGB = (30, 16, 1)


@dataclass
class Figure:
    title: str
    caption: str
    png: bytes

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Section:
    dataset: str
    has_ground_truth: bool
    image: str
    noise: str
    summary: Grid | None = None
    per_image: Grid | None = None
    ablation: Grid | None = None
    complexity: list[dict[str, Any]] = field(default_factory=list)
    memory_kinds: list[tuple[str, str]] = field(default_factory=list)
    noref: Grid | None = None
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Choice:
    """What the figures show: an image, a noise model, a profile band and a false-colour triplet."""

    image: str | None = None
    noise: str | None = None
    band: int | None = None
    bands: tuple[int, int, int] | None = None


def check_choice(res: Results, choice: Choice) -> None:
    """Reject an --image/--noise that no dataset in the store has, with a "did you mean" hint."""
    if choice.image is not None:
        pick(choice.image, sorted(set(res.rows["image"].astype(str))), "image")
    if choice.noise is not None:
        pick(choice.noise, sorted(set(res.rows["noise"].astype(str))), "noise")


def build_sections(res: Results, choice: Choice) -> list[Section]:
    summaries = {g.dataset: g for g in summary_grids(res)}
    per_image = {g.dataset: g for g in per_image_grids(res)}
    noref = {g.dataset: g for g in noref_grids(res)}
    out = []
    for ds in res.datasets():
        ok = res.ok[res.ok["dataset"] == ds]
        if ok.empty:
            continue
        image, noise = _subject(ok, choice)
        truth = res.has_ground_truth(ds)
        sec = Section(ds, truth, image, noise, summaries.get(ds), per_image.get(ds), ablation_grid(res, ds),
                      complexity_table(res, ds) if truth else [], memory_kinds(res, ds), noref.get(ds))
        if not sec.has_ground_truth:
            sec.notes.append("No ground truth for this dataset (real noise): no metric table; images, row-mean and "
                             "column-mean profiles and no-reference scores only.")
        _figures(res, ok, sec, choice)
        out.append(sec)
    return out


def _subject(ok: pd.DataFrame, choice: Choice) -> tuple[str, str]:
    images = list(dict.fromkeys(ok["image"].astype(str)))
    image = choice.image if choice.image in images else images[0]
    sub = ok[ok["image"] == image]
    noises = list(dict.fromkeys(sub["noise"].astype(str)))
    if choice.noise in noises:
        return image, str(choice.noise)
    counts = sub.groupby("noise", sort=False)["column"].nunique()
    return image, max(noises, key=lambda n: (counts.get(n, 0), -noises.index(n)))


def _figures(res: Results, ok: pd.DataFrame, sec: Section, choice: Choice) -> None:
    cells = ok[(ok["image"] == sec.image) & (ok["noise"] == sec.noise)]
    cols = res.columns(cells)
    by_col = {c: cells[cells["column"] == c].iloc[0] for c in cols}
    arts = {c: cell_artifacts(res.root, by_col[c]["artifact"]) for c in cols}
    first = next((a for a in arts.values() if a.noisy is not None or a.clean is not None), None)
    if first is None:
        sec.notes.append(f"No artifacts stored for {sec.image} / {sec.noise}: no figures.")
        return
    clean_npz, noisy_npz = first.clean, first.noisy
    clean, noisy = npz_cube(clean_npz), npz_cube(noisy_npz)
    n_bands = int(next(a for a in (clean_npz, noisy_npz) if a is not None)["rowmean"].shape[1])
    subject = f"image {sec.image}, noise {sec.noise}"
    methods = [c for c in cols if c != "noisy"]
    noisy_psnr = by_col["noisy"]["psnr"] if "noisy" in by_col else _psnr(clean, noisy)

    ref = clean if clean is not None else noisy
    if ref is None:
        sec.notes.append(f"Cubes of {sec.image} are not stored (large image): false-colour panels omitted, "
                         "row-mean profiles only.")
    else:
        bands = _triplet(choice.bands, clean_npz or noisy_npz, n_bands)
        lo, hi = figures.stretch_limits(ref, bands)
        box = figures.detail_box(figures.to_rgb(ref, bands, lo, hi).mean(-1))
        panels = []
        if clean is not None:
            panels.append(figures.Panel("Clean", figures.with_inset(figures.to_rgb(clean, bands, lo, hi), box),
                                        "ground truth"))
        if noisy is not None:
            panels.append(figures.Panel("Noisy", figures.with_inset(figures.to_rgb(noisy, bands, lo, hi), box),
                                        _psnr_text(noisy_psnr)))
        missing = []
        for c in methods:
            est = npz_cube(arts[c].estimate)
            if est is None:
                missing.append(c)
                continue
            panels.append(figures.Panel(c, figures.with_inset(figures.to_rgb(est, bands, lo, hi), box),
                                        _psnr_text(by_col[c]["psnr"])))
        if missing:
            sec.notes.append(f"Estimates of {', '.join(missing)} were stored without cubes: not shown as images.")
        sec.figures.append(Figure(
            "False-colour comparison",
            f"{subject}; bands (R, G, B) = {bands} zero-based; red box magnified 2x in the corner; "
            "all panels share the clean image's 1-99 % stretch.",
            figures.panels_figure(panels)))

    band = _band(choice.band, n_bands)
    series = []
    if noisy_npz is not None:
        series.append(("Noisy", noisy_npz["rowmean"][:, band]))
    series += [(c, arts[c].estimate["rowmean"][:, band]) for c in methods if arts[c].estimate is not None]
    if series:
        clean_prof = clean_npz["rowmean"][:, band] if clean_npz is not None else None
        noisy_prof = noisy_npz["rowmean"][:, band] if noisy_npz is not None else None
        sec.figures.append(Figure(
            "Row-mean profiles",
            f"{subject}; band {band} (zero-based): mean over columns per row; "
            + ("black = clean, grey = noisy." if clean_prof is not None else "grey = noisy (no ground truth)."),
            figures.profiles_figure(clean_prof, series, band=band, noisy=noisy_prof)))

    if not sec.has_ground_truth:
        cseries = []
        if noisy_npz is not None and "colmean" in noisy_npz:
            cseries.append(("Noisy", noisy_npz["colmean"][:, band]))
        cseries += [(c, arts[c].estimate["colmean"][:, band]) for c in methods
                    if arts[c].estimate is not None and "colmean" in arts[c].estimate]
        if cseries:
            sec.figures.append(Figure(
                "Column-mean profiles",
                f"{subject}; band {band} (zero-based): mean over rows per column, where stripes show as spikes "
                "(as the DECSC paper's real-data figures); grey = noisy (no ground truth).",
                figures.profiles_figure(None, cseries, band=band, noisy=cseries[0][1] if noisy_npz is not None
                                        else None, axis="column")))

    if sec.has_ground_truth:
        curves = _band_curves(res, ok, sec.image)
        if curves:
            sec.figures.append(Figure("PSNR per band", f"image {sec.image}, every noise model.",
                                              figures.band_psnr_figure(curves)))
        traces = _traces(ok, sec.image)
        if traces:
            sec.figures.append(Figure(
                "Solver convergence",
                f"image {sec.image}: PSNR and relative residual of the fixed-point iterate per solver iteration; "
                "the dashed line is the solver tolerance, and a filled marker on the PSNR curve is the first "
                "iteration whose residual is at or below it.",
                figures.convergence_figure(traces)))


def _band_curves(res: Results, ok: pd.DataFrame, image: str) -> dict[str, list[tuple[str, np.ndarray]]]:
    curves: dict[str, list[tuple[str, np.ndarray]]] = {}
    sub = ok[ok["image"] == image]
    for noise in dict.fromkeys(sub["noise"].astype(str)):
        cells = sub[sub["noise"] == noise]
        lines = []
        for c in res.columns(cells):
            est = cell_artifacts(res.root, cells[cells["column"] == c].iloc[0]["artifact"]).estimate
            if est is not None and "psnr_band" in est:
                lines.append((c, np.asarray(est["psnr_band"], dtype=float)))
        if lines:
            curves[noise] = lines
    return curves


def _traces(ok: pd.DataFrame, image: str) -> list[figures.Trace]:
    out = []
    for _, row in ok[ok["image"] == image].iterrows():
        info = row["info"] if isinstance(row["info"], dict) else {}
        psnr, resid = info.get("psnr_trace"), info.get("residual_trace")
        if psnr or resid:
            tol = info.get("tol")
            out.append(figures.Trace(f"{row['column']} · {row['noise']}", psnr, resid,
                                     float(tol) if isinstance(tol, (int, float)) else None))
    return out


def _triplet(bands: Sequence[int] | None, arrays: dict[str, np.ndarray] | None, n_bands: int) -> tuple[int, int, int]:
    if bands is not None:
        bad = [b for b in bands if not 0 <= b < n_bands]
        if bad:
            raise UsageError(f"--bands {','.join(map(str, bands))}: band(s) {bad} outside 0..{n_bands - 1}")
        return tuple(int(b) for b in bands)  # type: ignore[return-value]
    if arrays is not None and "rgb_bands" in arrays:
        stored = tuple(int(b) for b in np.asarray(arrays["rgb_bands"]).ravel()[:3])
        if len(stored) == 3 and all(0 <= b < n_bands for b in stored):
            return stored  # type: ignore[return-value]
    if all(b < n_bands for b in DEFAULT_RGB):
        return DEFAULT_RGB
    return (n_bands - 1, n_bands // 2, 0)


def _band(band: int | None, n_bands: int) -> int:
    if band is None:
        return n_bands // 2
    if not 0 <= band < n_bands:
        raise UsageError(f"--band {band} is outside 0..{n_bands - 1}")
    return band


def _psnr(clean: np.ndarray | None, est: np.ndarray | None) -> float | None:
    if clean is None or est is None:
        return None
    mse = ((clean - est) ** 2).mean(axis=(0, 1))
    return float(np.mean(10 * np.log10(1.0 / np.maximum(mse, 1e-12))))


def _psnr_text(value: Any) -> str:
    return "" if is_missing(value) else f"PSNR {float(value):.2f} dB"
