"""Text renderings of result grids: Markdown (stdout), LaTeX (booktabs, ready to paste) and tidy CSV.

The best three values of a row are told apart by colour AND by type style, so a black-and-white print
still shows them: 1st red bold, 2nd blue underlined, 3rd green italic.
"""

from __future__ import annotations

import csv
import io

import pandas as pd

from bench.errors import UsageError
from reports.data import Results, from_frame
from reports.grid import SPLIT_MARK, Grid, ablation_grid, noref_grids, per_image_grids, summary_grids

FORMATS = ("md", "latex", "csv", "html")

LEGEND = "Best three per row: 1st **bold** (red), 2nd <u>underlined</u> (blue), 3rd *italic* (green)."


def tables(df: pd.DataFrame | Results, fmt: str = "md", *, per_image: bool = False) -> str:
    """Tables II/III (mean PSNR/SSIM/SAM per method x noise, per dataset) from a store frame, as ``fmt``.

    ``df`` is what ``bench.store.load`` returns; only each method's newest version and status-ok rows
    are scored (Markdown and LaTeX say which rows were left out). ``per_image`` adds per-image tables.
    """
    fmt = {"markdown": "md", "tex": "latex"}.get(fmt, fmt)
    if fmt not in FORMATS:
        raise UsageError(f"unknown table format {fmt!r}; choose from {', '.join(FORMATS)}")
    res = df if isinstance(df, Results) else from_frame(df)
    grids = summary_grids(res)
    grids += [g for g in (ablation_grid(res, ds) for ds in res.datasets()) if g is not None]
    grids += noref_grids(res)
    grids += per_image_grids(res) if per_image else []
    if fmt == "csv":
        return csv_text(grids)
    if fmt == "html":
        from reports.html import grid_html

        return "\n".join(grid_html(g) for g in grids)
    render = markdown if fmt == "md" else latex
    comment = "" if fmt == "md" else "% "
    parts = [render(g) for g in grids] or [f"{comment}No cell with ground-truth scores finished yet.\n"]
    notes = _notes(res)
    if notes:
        parts.append("\n".join(comment + n for n in notes) + "\n")
    return "\n".join(parts)


def _notes(res: Results) -> list[str]:
    notes = []
    if res.hidden_versions:
        notes.append("Only each method's newest version is reported; hidden: " + "; ".join(
            f"{m} version {', '.join(v)}" for m, v in res.hidden_versions.items()) + ".")
    failed = res.failed
    if len(failed):
        notes.append(f"{len(failed)} failed cell(s), not in the tables:")
        notes += [f"- {r.dataset}/{r.image} {r.noise} {r.column}: {r.error}" for r in failed.itertuples()]
    no_gt = [d for d in res.datasets() if not res.has_ground_truth(d) and len(res.ok[res.ok['dataset'] == d])]
    if no_gt:
        notes.append(f"No ground truth (real noise): no-reference scores only here, images and row/column-mean "
                     f"profiles in the HTML report: {', '.join(no_gt)}.")
    return notes


def markdown(grid: Grid) -> str:
    """A GitHub-flavoured Markdown table with a family legend under it."""
    head = [*grid.key_names, "Metric", *grid.columns]
    lines = [f"### {grid.title}", "", "| " + " | ".join(head) + " |",
             "|" + "|".join(["---"] * (len(grid.key_names) + 1) + ["---:"] * len(grid.columns)) + "|"]
    for row in grid.rows:
        cells = [_md_cell(row.metric.fmt(v), r) + n for v, r, n in zip(row.values, row.ranks, row.notes())]
        lines.append("| " + " | ".join([*row.keys, f"{row.metric.label} {row.metric.arrow}", *cells]) + " |")
    fams = "; ".join(f"{fam}: {', '.join(c for c, f in zip(grid.columns, grid.families) if f == fam)}"
                     for fam, _ in grid.family_spans())
    lines += ["", f"Families: {fams}.", LEGEND]
    if grid.caption:
        lines.append(grid.caption)
    return "\n".join(lines) + "\n"


def latex(grid: Grid) -> str:
    """A booktabs table: family header with cmidrules, metric arrows, ranked cells coloured and styled."""
    n_keys = len(grid.key_names) + 1
    spec = "l" * n_keys + "c" * len(grid.columns)
    fam_cells, rules, start = [], [], n_keys + 1
    for fam, width in grid.family_spans():
        if fam == "reference":
            fam_cells += [""] * width
        else:
            fam_cells.append(rf"\multicolumn{{{width}}}{{c}}{{{_tex(_family_title(fam))}}}")
            rules.append(rf"\cmidrule(lr){{{start}-{start + width - 1}}}")
        start += width
    out = [
        "% requires \\usepackage{booktabs,xcolor}",
        r"\begin{table*}[t]", r"\centering",
        rf"\caption{{{_tex(grid.title)}. {_tex(grid.caption)} Best three per row: 1st red bold, 2nd blue "
        rf"underlined, 3rd green italic.}}",
        r"\setlength{\tabcolsep}{3pt}",
        rf"\begin{{tabular}}{{{spec}}}", r"\toprule",
        " & ".join([""] * n_keys + fam_cells) + r" \\",
        " ".join(rules),
        " & ".join([*(_tex(k) for k in grid.key_names), "Index", *(_tex(c) for c in grid.columns)]) + r" \\",
        r"\midrule",
    ]
    prev: tuple[str, ...] | None = None
    for row in grid.rows:
        if prev is not None and row.keys != prev:
            out.append(r"\midrule" if row.keys[0] != prev[0] else rf"\cmidrule(lr){{2-{n_keys + len(grid.columns)}}}")
        keys = [_tex(k) if prev is None or k != p else "" for k, p in zip(row.keys, prev or ("",) * len(row.keys))]
        arrow = r"$\uparrow$" if row.metric.higher_better else r"$\downarrow$"
        cells = [_tex_cell(row.metric.fmt(v), r) + "".join(_TEX_NOTES.get(ch, "") for ch in n)
                 for v, r, n in zip(row.values, row.ranks, row.notes())]
        out.append(" & ".join([*keys, f"{row.metric.label}{arrow}", *cells]) + r" \\")
        prev = row.keys
    out += [r"\bottomrule", r"\end{tabular}", r"\end{table*}"]
    return "\n".join(out) + "\n"


def csv_text(grids: list[Grid]) -> str:
    """Tidy CSV: one line per (row, method) with the full-precision value, image count and rank."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["dataset", "noise", "image", "metric", "better", "method", "family", "value", "n_images",
                     "rank"])
    for grid in grids:
        for row in grid.rows:
            noise = row.keys[0]
            image = row.keys[1] if len(row.keys) > 1 else "mean"
            for col, fam, v, n, r in zip(grid.columns, grid.families, row.values, row.counts, row.ranks):
                if v is None:
                    continue
                writer.writerow([grid.dataset, noise, image, row.metric.key,
                                 "higher" if row.metric.higher_better else "lower", col, fam, repr(v), n,
                                 r if r is not None else ""])
    return buf.getvalue()


def _md_cell(text: str, rank: int | None) -> str:
    return {1: f"**{text}**", 2: f"<u>{text}</u>", 3: f"*{text}*"}.get(rank or 0, text)


def _tex_cell(text: str, rank: int | None) -> str:
    if rank == 1:
        return rf"\textcolor{{red}}{{\textbf{{{text}}}}}"
    if rank == 2:
        return rf"\textcolor{{blue}}{{\underline{{{text}}}}}"
    if rank == 3:
        return rf"\textcolor{{green!50!black}}{{\textit{{{text}}}}}"
    return text.replace("–", "--")


def _family_title(family: str) -> str:
    return {"hybrid": "Hybrid-driven"}.get(family, family.capitalize())


_TEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                "×": r"$\times$", "–": "--", "✗": "x", "σ": r"$\sigma$", "√": r"$\surd$", "†": r"$^{\dagger}$"}
_TEX_NOTES = {"*": r"$^{*}$", SPLIT_MARK: r"$^{\dagger}$"}


def _tex(text: str) -> str:
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in str(text))
