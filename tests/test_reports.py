"""Reports from a small synthetic store: tables and ranks, formats, HTML contents, fallbacks and errors."""

from __future__ import annotations

import argparse
import csv
import io
import re
from pathlib import Path

import pandas as pd
import pytest

from bench import store
from bench.errors import UsageError
from reports import build_html, tables
from reports.cli import add_report_arguments, run_report
from reports.data import load_results
from reports.grid import METRICS, rank_row, summary_grids
from reports.sections import Choice, build_sections
from reports.synthetic import write_synthetic_store

METHODS = (
    ("noisy", "reference", "1", 1.0),
    ("bm4d", "model-driven", "1", 0.30),
    ("lrmr", "model-driven", "1", 0.45),
    ("sert", "data-driven", "1", 0.16),
    ("decsc", "hybrid", "2", 0.10),
    ("decsc.noatt", "hybrid", "1", 0.13),
)
NOISES = ("noniid-95", "corr")


@pytest.fixture(scope="module")
def store_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("store")
    return write_synthetic_store(root, images=2, size=16, bands=8, noises=NOISES, methods=METHODS,
                                 real_dataset="realnoise", failed_cell=True, old_version_of="sert")


@pytest.fixture(scope="module")
def report(store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("html") / "report"
    path = build_html(store_dir, out)
    assert path == out / "index.html"
    return path.read_text(encoding="utf-8")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    add_report_arguments(p)
    return p


def test_rank_row_marks_best_three_with_ties_and_direction() -> None:
    fams = ["reference", "model-driven", "model-driven", "hybrid", "hybrid", "data-driven"]
    ranks = rank_row([50.0, 30.0, 40.0, 40.001, None, 20.0], fams, METRICS["psnr"])
    assert ranks == [None, 3, 1, 1, None, None]  # 40.00 ties at two decimals; the Noisy column is never ranked
    ranks = rank_row([0.9, 0.05, 0.02, 0.03, 0.5], fams[:5], METRICS["sam"])
    assert ranks == [None, 3, 1, 2, None]


def test_summary_means_match_the_rows(store_dir: Path) -> None:
    df = store.load(store_dir)
    grid = next(g for g in summary_grids(load_results(store_dir)) if g.dataset == "scenes31")
    assert grid.columns == ["noisy", "bm4d", "lrmr", "sert", "decsc"]  # family order; ablation has its own table
    assert [(r.keys[0], r.metric.key) for r in grid.rows] == [(n, m) for n in NOISES for m in ("psnr", "ssim", "sam")]
    ok = df[(df.status == "ok") & (df.method == "sert") & (df.method_version == "1") & (df.noise == "corr")]
    row = next(r for r in grid.rows if r.keys == ("corr",) and r.metric.key == "psnr")
    assert row.values[grid.columns.index("sert")] == pytest.approx(ok.psnr.mean())
    assert row.ranks[grid.columns.index("decsc")] == 1 and row.ranks[grid.columns.index("noisy")] is None


def test_markdown_table_marks_ranks_and_notes_hidden_versions_and_failures(store_dir: Path) -> None:
    text = tables(store.load(store_dir), "md")
    lines = [ln for ln in text.splitlines() if ln.startswith("| ")]
    assert lines[0] == "| Noise | Metric | noisy | bm4d | lrmr | sert | decsc |"
    psnr = next(ln for ln in lines if ln.startswith("| noniid-95 | PSNR ↑"))
    noisy, bm4d, lrmr, sert, decsc = [c.strip() for c in psnr.strip(" |").split("|")][2:]
    assert decsc.startswith("**") and sert.startswith("<u>") and re.fullmatch(r"\*[0-9.]+\*", bm4d)
    assert re.fullmatch(r"[0-9.]+", lrmr) and re.fullmatch(r"[0-9.]+", noisy)
    assert "SAM ↓" in text and "SSIM ↑" in text
    assert "sert version 0" in text and "GoDec did not converge" in text
    assert "realnoise" in text and "### scenes31: ablation" in text


def test_latex_is_booktabs_with_colour_and_print_safe_marks(store_dir: Path) -> None:
    text = tables(store.load(store_dir), "latex")
    for token in [r"\toprule", r"\midrule", r"\bottomrule", r"\cmidrule(lr)", r"\textcolor{red}{\textbf{",
                  r"\textcolor{blue}{\underline{", r"\textcolor{green!50!black}{\textit{", r"PSNR$\uparrow$",
                  r"SAM$\downarrow$", r"decsc.noatt"]:
        assert token in text
    body = text.split(r"\begin{tabular}")[1].split(r"\end{tabular}")[0]
    assert body.count("{") == body.count("}")
    assert all(ln.endswith(r"\\") for ln in body.splitlines()[1:] if "&" in ln)


def test_csv_is_tidy_and_full_precision(store_dir: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(tables(store.load(store_dir), "csv"))))
    df = store.load(store_dir)
    ok = df[(df.status == "ok") & (df.method == "bm4d") & (df.noise == "noniid-95")]
    got = next(r for r in rows if r["method"] == "bm4d" and r["noise"] == "noniid-95" and r["metric"] == "ssim"
               and r["dataset"] == "scenes31")
    assert float(got["value"]) == pytest.approx(ok.ssim.mean(), rel=1e-12)
    assert got["n_images"] == "2" and got["better"] == "higher"
    assert {r["rank"] for r in rows if r["method"] == "noisy"} == {""}


@pytest.mark.parametrize("fmt", ["md", "latex", "csv", "html"])
def test_every_format_names_every_reported_method(store_dir: Path, fmt: str) -> None:
    text = tables(store.load(store_dir), fmt)
    for name in ("noisy", "bm4d", "lrmr", "sert", "decsc", "decsc.noatt"):
        assert name in text


def test_unknown_format_is_a_usage_error(store_dir: Path) -> None:
    with pytest.raises(UsageError, match="unknown table format 'xlsx'"):
        tables(store.load(store_dir), "xlsx")


def test_html_is_self_contained_with_tables_figures_and_metadata(report: str) -> None:
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", report)
    imgs = re.findall(r'<img src="([^"]+)"', report)
    assert imgs and all(src.startswith("data:image/png;base64,") for src in imgs)
    # scenes31: false colour, profiles, per-band PSNR, convergence; realnoise: false colour, row and column profiles
    assert len(imgs) == 7
    assert report.count('class="results summary"') == 1 and report.count('class="results ablation"') == 1
    summary = report.split('class="results summary"')[1].split("</table>")[0]
    assert summary.count('class="data-row') == len(NOISES) * 3
    assert 'class="num rank1"' in summary and 'class="num rank2"' in summary and 'class="num rank3"' in summary
    for text in ("Complexity and cost", "4.29 M", "Failed cells", "GoDec did not converge", "sert (version 0)",
                 "No ground truth", "Run metadata", "python", "not clipped", "radians", "4/4 (100 %)"):
        assert text in report
    per_image = report.split('class="results per-image"')[1].split("</table>")[0]
    assert per_image.count('class="data-row') == len(NOISES) * 2 * 3


def test_runs_table_says_where_the_cells_ran(report: str) -> None:
    """A merged or cluster run shows the host it was started on and the hosts its cells ran on."""
    runs = report.split('class="plain runs"')[1].split("</table>")[0]
    assert re.search(r"<td>synthetic-0</td><td>driver-host</td><td>\d+ on node-a, node-b</td>", runs), runs[-600:]


def test_convergence_figure_tolerates_a_diverged_iterate() -> None:
    from reports.figures import _finite, convergence_figure

    assert [str(v) for v in _finite([0.5, float("inf"), -float("inf"), 2.0])] == ["0.5", "nan", "nan", "2.0"]
    png = convergence_figure([("decsc · corr", [30.0, 31.0, float("nan")], [0.5, float("inf"), 1e-3])])
    assert png.startswith(b"\x89PNG") and len(png) > 5_000


def test_figures_default_to_first_image_and_noise_with_most_methods(store_dir: Path) -> None:
    res = load_results(store_dir, dataset="scenes31")
    sec = build_sections(res, Choice())[0]
    assert (sec.image, sec.noise) == ("scene00", "noniid-95")
    sec = build_sections(res, Choice(image="scene01", noise="corr", band=3, bands=(7, 4, 0)))[0]
    assert (sec.image, sec.noise) == ("scene01", "corr")
    assert "bands (R, G, B) = (7, 4, 0)" in sec.figures[0].caption and "band 3" in sec.figures[1].caption


def test_large_images_fall_back_to_profiles(tmp_path: Path) -> None:
    root = write_synthetic_store(tmp_path / "s", images=1, size=12, bands=6, noises=("corr",),
                                 methods=METHODS[:3], max_voxels=0)
    sec = build_sections(load_results(root), Choice())[0]
    assert [f.title for f in sec.figures] == ["Row-mean profiles", "PSNR per band"]
    assert any("row-mean profiles only" in n for n in sec.notes)


def test_report_writes_atomically_with_text_tables_beside(store_dir: Path, tmp_path: Path) -> None:
    dest = build_html(store_dir, tmp_path / "r" / "page.html")
    assert dest.name == "page.html"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["page.html", "tables.csv", "tables.md", "tables.tex"]
    assert (dest.parent / "tables.tex").read_text().startswith("% requires")
    per_image = [r for r in csv.DictReader(io.StringIO((dest.parent / "tables.csv").read_text())) if r["image"] != "mean"]
    assert {r["image"] for r in per_image} == {"scene00", "scene01"}
    assert 'href="tables.tex"' in dest.read_text()


@pytest.mark.parametrize("kwargs, message", [
    ({"dataset": "scenes3"}, "did you mean 'scenes31'"),
    ({"image": "scene0"}, "did you mean 'scene01', 'scene00'"),
    ({"noise": "noniid-90"}, "did you mean 'noniid-95'"),
    ({"bands": (31, 2, 1)}, "outside 0..7"),
    ({"band": 8}, "outside 0..7"),
])
def test_bad_selection_is_a_usage_error(store_dir: Path, tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        build_html(store_dir, tmp_path, **kwargs)


def test_missing_empty_and_unwritable(tmp_path: Path, store_dir: Path) -> None:
    with pytest.raises(UsageError, match="no results store at"):
        build_html(tmp_path / "nothing", tmp_path / "out")
    store.Store(tmp_path / "empty").close()
    with pytest.raises(UsageError, match="holds no results yet"):
        build_html(tmp_path / "empty", tmp_path / "out")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UsageError, match="cannot create report folder"):
        build_html(store_dir, blocker / "report")


def test_profiles_are_never_averaged_together(store_dir: Path) -> None:
    df = store.load(store_dir)
    smoke = df[df.dataset == "scenes31"].copy()
    smoke["profile"] = "smoke"
    smoke["psnr"] = 99.0
    text = tables(pd.concat([df, smoke], ignore_index=True), "md")
    assert "### scenes31@smoke: mean over 2 images" in text and "### scenes31@standard: mean over 2 images" in text
    standard = text.split("### scenes31@standard")[1].split("###")[0]
    assert "99.00" not in standard


def test_store_with_only_failures_lists_them(tmp_path: Path) -> None:
    with store.Store(tmp_path) as st:
        st.put({"key": "k1", "method": "lrmr", "method_version": "1", "family": "model-driven", "params_json": {},
                "params_hash": "h", "noise": "corr", "noise_params_json": {}, "dataset": "scenes31", "image": "a",
                "seed": 0, "profile": "smoke", "status": "failed", "error": "MemoryError: out of memory"})
    text = tables(store.load(tmp_path), "md")
    assert "No cell with ground-truth scores finished yet." in text and "MemoryError: out of memory" in text
    assert "MemoryError: out of memory" in build_html(tmp_path).read_text()


def test_cli_prints_markdown_by_default_and_writes_html(store_dir: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run_report(_parser().parse_args(["--out", str(store_dir)])) == 0
    out = capsys.readouterr().out
    assert "| noniid-95 | PSNR ↑ |" in out and "| corr | SAM ↓ |" in out
    args = _parser().parse_args(["--out", str(store_dir), "--html", "--report-dir", str(tmp_path / "rep"),
                                 "--format", "csv", "--noise", "corr", "--image", "scene01"])
    assert run_report(args) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "rep" / "index.html").is_file()
    lines = out.splitlines()
    assert lines[0].startswith("dataset,noise") and all(",corr," in ln for ln in lines[1:])


def test_cli_wiring_reports_usage_errors(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import main

    assert main(["report", "--out", str(store_dir), "--dataset", "realnois"]) == 2
    assert "did you mean 'realnoise'" in capsys.readouterr().err
    assert main(["report", "--out", str(store_dir), "--bands", "1,2"]) == 2


def test_training_budget_cell_reads_the_manifest_budget() -> None:
    from reports.grid import _budget_text

    budget = {"steps": 2140, "patches": 8560, "seconds": 9000.0, "device": "cpu"}
    assert _budget_text(budget) == "2,140 steps, 8,560 patches, 2.5 h, cpu"
    assert _budget_text({"steps": 740, "patches": 2960, "seconds": None, "device": "cpu"}) == \
        "740 steps, 2,960 patches, cpu"
    assert _budget_text(None) == "–"


def test_convergence_figure_draws_the_tolerance() -> None:
    import matplotlib.pyplot as plt

    from reports import figures

    drawn: list[float] = []
    real = plt.Axes.axhline

    def spy(self, y=0, *args, **kwargs):
        drawn.append(y)
        return real(self, y, *args, **kwargs)

    plt.Axes.axhline = spy
    try:
        png = figures.convergence_figure([figures.Trace("decsc · noniid-95", [30.0, 31.0, 31.1], [0.1, 0.01, 5e-4],
                                                        1e-3)])
    finally:
        plt.Axes.axhline = real
    assert png.startswith(b"\x89PNG") and drawn == [1e-3]


def _with_info(info: object, **kw: object) -> dict:
    return {**(info if isinstance(info, dict) else {}), **kw}


@pytest.mark.parametrize("change, label", [
    ({"height": 8, "width": 8}, "scenes31@8×8×8"),
    ({"clip": 1}, "scenes31@clipped"),
    ({"info": "estimate"}, "scenes31@sigma estimate"),
    ({"seed": 1}, "scenes31@seeds 0,1"),  # only decsc ran seed 1 too: its mean covers other inputs
])
def test_rows_differing_in_identity_are_never_averaged_together(store_dir: Path, change: dict, label: str) -> None:
    df = store.load(store_dir)
    df = df[df.status == "ok"]
    other = df[(df.dataset == "scenes31") & ((df.method == "decsc") if "seed" in change else True)].copy()
    for key, value in change.items():
        if key == "info":
            other["info"] = [_with_info(i, sigma_mode=value) for i in other["info"]]
            df = df.assign(info=[_with_info(i, sigma_mode="oracle") for i in df["info"]])
        else:
            other[key] = value
    other["psnr"] = 999.0
    text = tables(pd.concat([df, other], ignore_index=True), "md")
    titles = [ln for ln in text.splitlines() if ln.startswith("### scenes31") and ": mean over" in ln]
    assert len(titles) == 2 and any(t.startswith(f"### {label}: mean over 2 images") for t in titles), titles
    for block in text.split("### ")[1:]:
        if block.startswith("scenes31@seeds 0,1"):
            continue  # decsc's own mean over both of its seeds
        for line in (ln for ln in block.splitlines() if "| PSNR ↑ |" in ln):
            values = [float(v.strip(" *<u>/")) for v in line.split("|")[3:-1] if v.strip() not in ("", "–")]
            assert all(v == 999.0 or v < 100 for v in values), line


def test_summary_titles_state_the_image_size(store_dir: Path) -> None:
    assert "### scenes31: mean over 2 images of 16×16×8" in tables(store.load(store_dir), "md")
