"""Paper-style result grids (DECSC paper Tables II-V) as plain data, rendered later to HTML/Markdown/LaTeX/CSV.

A `Grid` has method columns grouped by family and rows keyed by labels (noise, image ...) plus a metric.
Each row marks its best three methods (rank 1-3, ties share a rank); the Noisy reference column is shown
but never ranked, as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import pandas as pd

from reports.data import ABLATIONS, Results


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    higher_better: bool
    decimals: int
    unit: str = ""

    @property
    def arrow(self) -> str:
        return "↑" if self.higher_better else "↓"

    def fmt(self, value: float | None) -> str:
        """Paper style: PSNR with 2 decimals, SSIM/SAM with 4 and no leading zero."""
        if value is None or math.isnan(value):
            return "–"
        text = f"{value:.{self.decimals}f}"
        if self.key in ("ssim", "sam") and abs(value) < 1:
            text = text.replace("0.", ".", 1)
        return text


METRICS = {
    "psnr": Metric("psnr", "PSNR", True, 2, "dB"),
    "ssim": Metric("ssim", "SSIM", True, 4),
    "sam": Metric("sam", "SAM", False, 4, "rad"),
}

#: No-reference scores (`bench.metrics.noref`), labelled as such wherever they are shown.
NO_REFERENCE = {
    "nr_sigma": Metric("nr_sigma", "residual σ (no-ref.)", False, 4),
    "nr_stripe": Metric("nr_stripe", "stripe index (no-ref.)", False, 4),
}

#: Marks a mean that includes band-split cells (more bands than the network was trained for).
SPLIT_MARK = "†"


@dataclass
class Row:
    keys: tuple[str, ...]
    metric: Metric
    values: list[float | None]
    counts: list[int]
    ranks: list[int | None] = field(default_factory=list)
    split: list[bool] = field(default_factory=list)

    def notes(self) -> list[str]:
        """'*' where a mean covers fewer images than the most complete column of the row, SPLIT_MARK where
        it includes band-split cells."""
        full = max(self.counts, default=0)
        split = self.split or [False] * len(self.counts)
        return [("*" if 0 < n < full else "") + (SPLIT_MARK if b else "") for n, b in zip(self.counts, split)]


@dataclass
class Grid:
    title: str
    dataset: str
    key_names: tuple[str, ...]
    columns: list[str]
    families: list[str]
    rows: list[Row]
    caption: str = ""

    def family_spans(self) -> list[tuple[str, int]]:
        """Consecutive (family, width) groups for a two-level header."""
        spans: list[tuple[str, int]] = []
        for fam in self.families:
            if spans and spans[-1][0] == fam:
                spans[-1] = (fam, spans[-1][1] + 1)
            else:
                spans.append((fam, 1))
        return spans


def rank_row(values: list[float | None], families: list[str], metric: Metric) -> list[int | None]:
    """Competition ranks 1-3 of the displayed (rounded) values; reference columns and gaps get None."""
    shown = [None if v is None or math.isnan(v) or fam == "reference" else round(v, metric.decimals)
             for v, fam in zip(values, families)]
    pool = [v for v in shown if v is not None]
    ranks: list[int | None] = []
    for v in shown:
        if v is None:
            ranks.append(None)
            continue
        better = sum(1 for o in pool if (o > v if metric.higher_better else o < v))
        ranks.append(better + 1 if better < 3 else None)
    return ranks


def _scored_datasets(res: Results) -> Iterator[tuple[str, Any, list[str], list[str]]]:
    """Per dataset with ground truth: its scored rows, the main method columns and their families."""
    for ds in res.datasets():
        ok = res.ok[(res.ok["dataset"] == ds) & res.ok["psnr"].notna()]
        if not ok.empty:
            cols = _main_columns(res, ok)
            yield ds, ok, cols, [res.family_of(c) for c in cols]


def summary_grids(res: Results, *, noises: list[str] | None = None,
                  metrics: tuple[str, ...] = ("psnr", "ssim", "sam")) -> list[Grid]:
    """Tables II/III: per dataset with ground truth, rows noise x metric, mean over images per method."""
    grids = []
    for ds, ok, cols, fams in _scored_datasets(res):
        rows = []
        for noise in [n for n in _unique(ok["noise"]) if noises is None or n in noises]:
            sub = ok[ok["noise"] == noise]
            for mk in metrics:
                rows.append(_mean_row((noise,), sub, cols, fams, METRICS[mk]))
        n_img = ok["image"].nunique()
        grids.append(Grid(f"{ds}: mean over {n_img} image{'s' if n_img != 1 else ''} of {_sizes(ok)}", ds,
                          ("Noise",), cols, fams, rows, caption=_caption(ok)))
    return grids


def per_image_grids(res: Results, *, metrics: tuple[str, ...] = ("psnr", "ssim", "sam")) -> list[Grid]:
    """Per-image results: per dataset with ground truth, rows noise x image x metric."""
    grids = []
    for ds, ok, cols, fams in _scored_datasets(res):
        rows = []
        for noise in _unique(ok["noise"]):
            for image in _unique(ok["image"]):
                sub = ok[(ok["noise"] == noise) & (ok["image"] == image)]
                if sub.empty:
                    continue
                for mk in metrics:
                    rows.append(_mean_row((noise, image), sub, cols, fams, METRICS[mk]))
        grids.append(Grid(f"{ds}: per image", ds, ("Noise", "Image"), cols, fams, rows,
                          caption="Means over seeds where a cell ran with several."))
    return grids


def noref_grids(res: Results) -> list[Grid]:
    """No-reference scores per dataset without ground truth (real noise): rows noise x image x score."""
    grids = []
    for ds in res.datasets():
        ok = res.ok[res.ok["dataset"] == ds]
        if ok.empty or res.has_ground_truth(ds) or not any(k in ok for k in NO_REFERENCE):
            continue
        cols = _main_columns(res, ok)
        fams = [res.family_of(c) for c in cols]
        rows = [_mean_row((noise, image), ok[(ok["noise"] == noise) & (ok["image"] == image)], cols, fams, metric)
                for noise in _unique(ok["noise"]) for image in _unique(ok["image"])
                for key, metric in NO_REFERENCE.items() if key in ok]
        grids.append(Grid(f"{ds}: no-reference scores (real noise, no ground truth)", ds, ("Noise", "Image"), cols,
                          fams,
                          rows, caption=f"Images {_sizes(ok)}. NO-REFERENCE scores of the output alone, lower = "
                                        "less residual noise / striping, but over-smoothing also lowers them: "
                                        "read them with the images and profiles. residual σ: wavelet-MAD noise "
                                        "level per band, mean over bands; stripe index: RMS step of each band's "
                                        f"column-mean profile over √2, mean over bands (0-1 scale). {SPLIT_MARK} = "
                                        "band-split."))
    return grids


def ablation_grid(res: Results, dataset: str) -> Grid | None:
    """Table V: DECSC with each module removed beside the full model(s), when such rows exist."""
    ok = res.ok[(res.ok["dataset"] == dataset) & res.ok["psnr"].notna()]
    cols = [c for c in res.columns(ok) if c.split("#")[0].startswith("decsc")]
    if not any(c.split("#")[0] in ABLATIONS for c in cols):
        return None
    full = [c for c in cols if c.split("#")[0] not in ABLATIONS]
    cols = full + [c for c in cols if c not in full]
    fams = ["hybrid"] * len(cols)
    rows = []
    for noise in _unique(ok["noise"]):
        sub = ok[ok["noise"] == noise]
        if not set(sub["column"]) & {c for c in cols if c.split("#")[0] in ABLATIONS}:
            continue
        for mk in ("psnr", "ssim", "sam"):
            rows.append(_mean_row((noise,), sub, cols, fams, METRICS[mk]))
    caption = ("Module switched off (✗) per column: " + "; ".join(
        f"{c}: {ABLATIONS.get(c.split('#')[0], 'none (full model)')}" for c in cols))
    return Grid(f"{dataset}: ablation", dataset, ("Noise",), cols, fams, rows, caption=caption)


def complexity_table(res: Results, dataset: str) -> list[dict[str, Any]]:
    """Table IV: per method its parameters, FLOPs (mean per cell; DECSC also per f-evaluation), wall and CPU
    time per image, its own peak memory and device (from the rows)."""
    ok = res.ok[res.ok["dataset"] == dataset]
    out = []
    for col in res.columns(ok):
        sub = ok[ok["column"] == col]
        infos = [i for i in sub["info"] if isinstance(i, dict)]
        params = _first(i.get("params_count") for i in infos)
        iters = [float(i["iterations"]) for i in infos if isinstance(i.get("iterations"), (int, float))]
        evals = [float(i["f_evals"]) for i in infos if isinstance(i.get("f_evals"), (int, float))]
        conv = [bool(i["converged"]) for i in infos if "converged" in i]
        budget = _first((i.get("checkpoint") or {}).get("budget") for i in infos)
        mem = sub["peak_mem_bytes"].dropna()
        kinds = sorted({str(k) for k in sub["mem_kind"].dropna()})
        cpu = _mean(i.get("cpu_s") for i in infos)
        out.append({
            "method": col, "family": res.family_of(col),
            "params": _si(params, "") if params is not None else "–",
            "flops": _flops(infos),
            "time_s": f"{sub['time_s'].mean():.3g}" if sub["time_s"].notna().any() else "–",
            "time_n": int(sub["time_s"].notna().sum()),
            "cpu_s": f"{cpu:.3g}" if cpu is not None else "–",
            "peak_mem": f"{mem.max() / 2**20:.1f} ({'/'.join(kinds)})" if len(mem) else "–",
            "iterations": f"{sum(iters) / len(iters):.1f}" if iters else "–",
            "f_evals": f"{sum(evals) / len(evals):.1f}" if evals else "–",
            "converged": f"{sum(conv)}/{len(conv)} ({100.0 * sum(conv) / len(conv):.0f} %)" if conv else "–",
            "training": _budget_text(budget),
            "device": ", ".join(sorted({str(d) for d in sub["device"].dropna()})) or "–",
            "size": _sizes(sub),
        })
    return out


def _budget_text(budget: Any) -> str:
    """A checkpoint's training budget (manifest ``budget``) as one cell: steps, patches, wall time, device."""
    if not isinstance(budget, dict) or "steps" not in budget:
        return "–"
    seconds = budget.get("seconds")
    wall = f", {seconds / 3600:.1f} h" if isinstance(seconds, (int, float)) else ""
    return f"{int(budget['steps']):,} steps, {int(budget['patches']):,} patches{wall}, {budget.get('device', '?')}"


def memory_kinds(res: Results, dataset: str) -> list[tuple[str, str]]:
    """The peak-memory methods used by a dataset's rows, for the complexity table's header."""
    from bench.memory import KINDS

    used = sorted({str(k) for k in res.ok.loc[res.ok["dataset"] == dataset, "mem_kind"].dropna()})
    return [(k, KINDS.get(k, k)) for k in used]


def _flops(infos: list[dict[str, Any]]) -> str:
    """Mean counted FLOPs per cell, plus the mean per call of the method's unit (DECSC: per f-evaluation)."""
    total = _mean(i.get("flops") for i in infos)
    if total is None:
        return "–"
    per = _mean(i.get("flops_per_unit") for i in infos)
    if per is None:
        return _si(total, "")
    calls = _mean(i.get("flops_unit_calls") for i in infos) or 0.0
    unit = _first(i.get("flops_unit") for i in infos)
    return f"{_si(total, '')} ({_si(per, '')} per {unit} call, {calls:.3g} calls)"


def _mean(values: Any) -> float | None:
    vals = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    return sum(vals) / len(vals) if vals else None


def _main_columns(res: Results, ok: pd.DataFrame) -> list[str]:
    """Every method but the DECSC ablation variants, which have their own table (Table V)."""
    cols = res.columns(ok)
    main = [c for c in cols if c.split("#")[0] not in ABLATIONS]
    return main or cols


def _mean_row(keys: tuple[str, ...], sub: pd.DataFrame, cols: list[str], fams: list[str], metric: Metric) -> Row:
    values: list[float | None] = []
    counts: list[int] = []
    split: list[bool] = []
    for col in cols:
        cells = sub[sub["column"] == col]
        vals = cells[metric.key].dropna()
        values.append(float(vals.mean()) if len(vals) else None)
        counts.append(int(cells["image"].nunique()) if len(vals) else 0)
        split.append(bool(len(vals)) and _band_split(cells))
    return Row(keys, metric, values, counts, rank_row(values, fams, metric), split)


def _caption(ok: pd.DataFrame) -> str:
    sizes = _sizes(ok)
    clip = sorted({int(c) for c in ok["clip"].dropna()})
    clip_txt = {(): "not recorded", (0,): "estimates not clipped", (1,): "estimates clipped to [0, 1]"}.get(
        tuple(clip), "mixed clipping")
    seeds = sorted({int(v) for v in ok["seed"].dropna()})
    seed_txt = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}" if seeds else "seed not recorded"
    modes = sorted({str(i["sigma_mode"]) for i in ok["info"] if isinstance(i, dict) and i.get("sigma_mode")})
    sigma_txt = f"sigma {' and '.join(modes)}" if modes else "sigma mode not recorded"
    return (f"Images {sizes}; {seed_txt}; {sigma_txt}; SAM in radians; {clip_txt}; "
            "* = mean over fewer images than other methods"
            + (f"; {SPLIT_MARK} = band-split: the cube has more bands than the network was trained for, so it ran "
               "on overlapping band groups (group count in each cell's info)." if _band_split(ok) else "."))


def _band_split(frame: pd.DataFrame) -> bool:
    """Whether any cell of ``frame`` ran band-split (recorded by the trainable-method base in its info)."""
    infos = frame["info"] if "info" in frame else []
    return any(isinstance(i, dict) and bool(i.get("band_split")) for i in infos)


def _sizes(sub: pd.DataFrame) -> str:
    dims = {(int(h), int(w), int(b)) for h, w, b in zip(sub["height"], sub["width"], sub["bands"])
            if not any(pd.isna(x) for x in (h, w, b))}
    return ", ".join(f"{h}×{w}×{b}" for h, w, b in sorted(dims)) or "of unrecorded size"


def _first(values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _si(value: Any, unit: str) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    for factor, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= factor:
            return f"{v / factor:.2f} {prefix}{unit}".strip()
    return f"{v:.0f} {unit}".strip()


def _unique(series: pd.Series) -> list[str]:
    return [str(v) for v in dict.fromkeys(series.tolist())]
