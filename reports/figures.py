"""Report figures as PNG bytes (matplotlib Agg): false-colour panels with a zoomed inset (DECSC paper
Figs. 4, 6, 8, 10), row-mean profiles (Figs. 5, 7, 9, 11), per-band PSNR curves and solver convergence (Fig. 12).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

_DPI = 90


@dataclass
class Panel:
    label: str
    image: np.ndarray
    caption: str = ""


def stretch_limits(cube: np.ndarray, bands: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel 1-99 % limits of the reference cube, applied to every panel so colours compare."""
    sel = cube[..., list(bands)].reshape(-1, 3)
    lo, hi = np.percentile(sel, 1, axis=0), np.percentile(sel, 99, axis=0)
    return lo, np.maximum(hi, lo + 1e-6)


def to_rgb(cube: np.ndarray, bands: Sequence[int], lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    return np.clip((cube[..., list(bands)] - lo) / (hi - lo), 0, 1)


def detail_box(gray: np.ndarray) -> tuple[int, int, int]:
    """(top, left, side) of the square window, a quarter of the image wide, with the most variance."""
    h, w = gray.shape
    side = max(4, min(h, w) // 4)
    step = max(1, side // 2)
    best, where = -1.0, (0, 0)
    for top in range(0, h - side + 1, step):
        for left in range(0, w - side + 1, step):
            v = float(gray[top:top + side, left:left + side].var())
            if v > best:
                best, where = v, (top, left)
    return where[0], where[1], side


def with_inset(rgb: np.ndarray, box: tuple[int, int, int]) -> np.ndarray:
    """Outline ``box`` and paste it, magnified 2x, into the image corner farthest from it."""
    top, left, side = box
    h, w, _ = rgb.shape
    out = rgb.copy()
    crop = np.repeat(np.repeat(rgb[top:top + side, left:left + side], 2, axis=0), 2, axis=1)
    zs = crop.shape[0]
    if zs >= min(h, w):
        return out
    cy, cx = top + side / 2, left + side / 2
    r0 = 0 if cy > h / 2 else h - zs
    c0 = 0 if cx > w / 2 else w - zs
    _outline(out, top, left, side, side)
    out[r0:r0 + zs, c0:c0 + zs] = crop
    _outline(out, r0, c0, zs, zs)
    return out


def _outline(img: np.ndarray, top: int, left: int, hh: int, ww: int) -> None:
    red = np.array([1.0, 0.1, 0.1])
    img[top, left:left + ww] = red
    img[top + hh - 1, left:left + ww] = red
    img[top:top + hh, left] = red
    img[top:top + hh, left + ww - 1] = red


def panels_figure(panels: list[Panel], *, title: str = "", cols: int = 5) -> bytes:
    """A grid of image panels, each labelled above and captioned (e.g. PSNR) below."""
    n = len(panels)
    cols = min(cols, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.6 * rows + (0.3 if title else 0)), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, p in zip(axes.flat, panels):
        ax.imshow(p.image, interpolation="nearest", cmap="gray" if p.image.ndim == 2 else None)
        ax.set_title(p.label, fontsize=9)
        ax.set_xlabel(p.caption, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.3 / height, top=1 - (0.6 if title else 0.3) / height,
                        wspace=0.08, hspace=0.35)
    return _png(fig)


def profiles_figure(rows: np.ndarray | None, series: list[tuple[str, np.ndarray]], *, band: int,
                    noisy: np.ndarray | None = None, cols: int = 4, axis: str = "row") -> bytes:
    """Row-mean (``axis="row"``) or column-mean profiles of one band: one panel per series, the clean
    profile (when known) in black."""
    n = len(series)
    cols = min(cols, n)
    nrows = -(-n // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(2.8 * cols, 2.0 * nrows + 0.6), squeeze=False, sharex=True,
                             sharey=True)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (label, prof) in zip(axes.flat, series):
        x = np.arange(len(prof))
        if noisy is not None and label != "Noisy":
            ax.plot(x, noisy, color="0.8", lw=0.8, label="noisy")
        if rows is not None:
            ax.plot(x, rows, color="black", lw=1.0, label="clean")
        ax.plot(x, prof, color="tab:red", lw=1.0, label=label)
        ax.set_title(label, fontsize=9, pad=3)
        ax.tick_params(labelsize=7, labelbottom=True)
        ax.yaxis.set_major_locator(MaxNLocator(4))
        ax.xaxis.set_major_locator(MaxNLocator(5, integer=True))
    axes.flat[0].legend(fontsize=6, loc="best")
    fig.supxlabel(axis, fontsize=8)
    fig.supylabel(f"mean of band {band} over {'columns' if axis == 'row' else 'rows'}", fontsize=8)
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.8 / fig.get_figwidth(), right=0.98, bottom=0.55 / height, top=1 - 0.3 / height,
                        wspace=0.12, hspace=0.45 * 2.0 / (2.0 - 0.5))
    return _png(fig)


def band_psnr_figure(curves: dict[str, list[tuple[str, np.ndarray]]], *, cols: int = 3) -> bytes:
    """PSNR per band, one subplot per noise model, one line per method."""
    names = list(curves)
    cols = min(cols, len(names))
    nrows = -(-len(names) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(3.6 * cols, 2.6 * nrows), squeeze=False)
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, noise in zip(axes.flat, names):
        for label, psnr in curves[noise]:
            ax.plot(np.arange(len(psnr)), psnr, lw=1.0, label=label,
                    color="0.55" if label == "noisy" else None, ls="--" if label == "noisy" else "-")
        ax.set_title(noise, fontsize=9)
        ax.set_xlabel("band (zero-based)", fontsize=8)
        ax.set_ylabel("PSNR (dB)", fontsize=8)
        ax.tick_params(labelsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return _png(fig)


class Trace(NamedTuple):
    """One solve of the convergence figure: PSNR and relative residual per iteration, and the tolerance."""

    label: str
    psnr: list[float] | None
    residual: list[float] | None
    tol: float | None = None


def convergence_figure(traces: Sequence[Trace | tuple]) -> bytes:
    """PSNR and relative residual per solver iteration (the fixed-point solve of DECSC, the paper's Fig. 12).

    The tolerance is drawn on the residual panel, and the PSNR curve gets a filled marker at the first
    iteration that meets it, so a reader sees whether the PSNR has flattened where the solve stops.
    """
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8.4, 3.0))
    tols: set[float] = set()
    for label, psnr, resid, tol in (Trace(*t) for t in traces):
        met = next((i for i, r in enumerate(resid or []) if tol is not None and r <= tol), None)
        if psnr:
            (line,) = ax1.plot(np.arange(1, len(psnr) + 1), _finite(psnr), marker=".", lw=1.0, label=label)
            if met is not None and met < len(psnr):
                ax1.plot([met + 1], [psnr[met]], marker="o", ms=5, color=line.get_color())
        if resid:
            ax2.semilogy(np.arange(1, len(resid) + 1), _finite(resid), marker=".", lw=1.0, label=label)
        if tol is not None:
            tols.add(tol)
    for tol in sorted(tols):
        ax2.axhline(tol, color="0.3", ls="--", lw=0.8)
    ax1.set(xlabel="iteration", ylabel="PSNR (dB)", title="PSNR of the iterate")
    ax2.set(xlabel="iteration", ylabel="relative residual", title="fixed-point residual")
    for ax in (ax1, ax2):
        ax.title.set_fontsize(9)
        ax.tick_params(labelsize=7)
    handles, labels = (ax1 if ax1.lines else ax2).get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=7, frameon=False)
    rows = -(-len(labels) // 4)
    fig.set_size_inches(8.4, 3.0 + 0.2 * rows)
    fig.tight_layout(rect=(0, 0.07 * rows / (1 + 0.07 * rows) + 0.02, 1, 1))
    return _png(fig)


def _finite(values: list[float]) -> np.ndarray:
    """Non-finite entries (a diverged iterate) become gaps instead of breaking the axis scale."""
    arr = np.asarray(values, dtype=float)
    return np.where(np.isfinite(arr), arr, np.nan)


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    plt.close(fig)
    return buf.getvalue()
