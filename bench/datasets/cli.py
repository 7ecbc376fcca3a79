"""``bench data list | check | freeze``: argument parsing and table printing for `bench.datasets.commands`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``data`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="data_command", required=True)
    for name, text in (("list", "which data sets are present under the data root"),
                       ("check", "read every present data set and verify checksums")):
        p = sub.add_parser(name, help=text)
        p.add_argument("--data-root", default=None, help="where external datasets live (or $HSIBENCH_DATA)")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = sub.add_parser("freeze", help="write a fixed noisy test set (.mat per image + manifest.json)")
    p.add_argument("dataset", help="dataset name, e.g. scenes31 or icvl")
    p.add_argument("noise", help="noise spec, e.g. noniid-95 or noniid:smax=95")
    p.add_argument("out", type=Path, help="output folder")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--images", default=None, help="a count, or comma-separated image ids (default: all)")
    p.add_argument("--crop", type=int, default=None, help="centre crop size (default: full images)")
    p.add_argument("--data-root", default=None, help="where external datasets live (or $HSIBENCH_DATA)")


def _images(text: str | None) -> int | list[str] | None:
    if text is None:
        return None
    return int(text) if text.isdigit() else [t.strip() for t in text.split(",") if t.strip()]


def _print_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def run_data(args: argparse.Namespace) -> int:
    """Run one ``data`` sub-command; exit status 1 when ``check`` finds a problem."""
    from bench.datasets import commands

    if args.data_command == "freeze":
        out = commands.freeze(args.dataset, args.noise, args.out, seed=args.seed, images=_images(args.images),
                              crop=args.crop, data_root=args.data_root)
        print(f"frozen test set written to {out}")
        return 0
    if args.data_command == "list":
        rows = commands.list_present(args.data_root)
        if args.json:
            json.dump(rows, sys.stdout, indent=1)
            print()
            return 0
        _print_table(["dataset", "present", "files", "expected location"],
                     [[r["name"], "yes" if r["present"] else "no", len(r["files"]), r["expected"]] for r in rows])
        return 0
    rows = commands.check(args.data_root)
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        print()
    else:
        _print_table(["dataset", "image", "ok", "detail"],
                     [[r["dataset"], r.get("image") or r.get("file") or "", "ok" if r["ok"] else "FAIL", r["detail"]]
                      for r in rows])
    return 0 if all(r["ok"] for r in rows) else 1
