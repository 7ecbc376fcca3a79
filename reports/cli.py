"""``bench report``: tables on stdout (Markdown by default, or LaTeX / CSV) and the self-contained HTML report.

Everything comes from the results store; no method is rerun.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path



def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bench report`` (the CLI's subparser)."""
    parser.add_argument("--out", type=Path, default=Path("runs") / "standard",
                        help="results store folder (default runs/standard)")
    parser.add_argument("--html", action="store_true",
                        help="write the self-contained HTML report (default <out>/report/index.html)")
    parser.add_argument("--format", choices=("md", "latex", "csv"), default=None,
                        help="print the paper-style tables in this format (default md unless --html)")
    parser.add_argument("--per-image", action="store_true", help="also print per-image tables")
    parser.add_argument("--dataset", default=None, help="report only this dataset")
    parser.add_argument("--image", default=None,
                        help="image the figures show (default: the first); in text tables, only this image")
    parser.add_argument("--noise", default=None,
                        help="noise model the figures show (default: the one with most methods); "
                             "in text tables, only this noise")
    parser.add_argument("--band", type=int, default=None, help="zero-based band of the row-mean profiles "
                                                               "(default: the middle band)")
    parser.add_argument("--bands", type=_triplet, default=None, metavar="R,G,B",
                        help="zero-based false-colour bands (default: the dataset's, ICVL 30,16,1)")
    parser.add_argument("--report-dir", type=Path, default=None,
                        help="folder of the HTML report (default <out>/report)")


def run_report(args: argparse.Namespace) -> int:
    """Print tables and/or write the HTML report; returns the exit status."""
    from reports.data import Results, load_results, pick
    from reports.html import build_html
    from reports.render import tables

    res = load_results(args.out, dataset=args.dataset)
    if args.html:
        dest = build_html(args.out, args.report_dir, dataset=args.dataset, image=args.image, noise=args.noise,
                          band=args.band, bands=args.bands)
        print(f"wrote {dest}", file=sys.stderr)
    if args.format or not args.html:
        rows = res.rows
        if args.image is not None:
            pick(args.image, sorted(set(rows["image"].astype(str))), "image")
            rows = rows[rows["image"] == args.image]
        if args.noise is not None:
            pick(args.noise, sorted(set(rows["noise"].astype(str))), "noise")
            rows = rows[rows["noise"] == args.noise]
        res = Results(res.root, rows.reset_index(drop=True), res.runs, res.hidden_versions)
        sys.stdout.write(tables(res, args.format or "md", per_image=args.per_image))
    return 0


def _triplet(text: str) -> tuple[int, int, int]:
    try:
        bands = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected three zero-based band numbers like 30,16,1") from None
    if len(bands) != 3 or min(bands) < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected three non-negative band numbers like 30,16,1")
    return bands  # type: ignore[return-value]
