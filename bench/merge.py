"""``bench merge STORE... --out DIR``: combine result stores (Slurm shards, stores from other machines).

A key found in several stores with the same status and scores is kept once. Keys whose duplicates differ
are an error that names them and leaves the output untouched, unless ``--keep newest`` (latest
``finished_at``) or ``--keep first`` (the first store named; an existing ``--out`` store counts as first)
chooses. Artifacts are copied with their rows, and every source's ``runs`` rows come along, so a merged
report still shows the commit, versions and host each cell ran with.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.errors import DataError, UsageError
from bench.store import DB_NAME, RESULT_COLUMNS, Store

_SAME = ("status", "psnr", "ssim", "sam", "ergas", "metrics_json")


@dataclass
class MergeReport:
    added: int = 0
    identical: int = 0
    resolved: int = 0


def merge(sources: list[Path], out: Path, *, keep: str | None = None) -> MergeReport:
    """Merge the stores at ``sources`` into the store at ``out``; see the module docstring for the rules."""
    out = Path(out)
    if keep not in (None, "newest", "first"):
        raise UsageError(f"--keep must be newest or first, got {keep!r}")
    roots = [Path(s) for s in sources]
    for root in roots:
        if not (root / DB_NAME).is_file():
            raise UsageError(f"no results store at {root / DB_NAME}")
    base = (out / DB_NAME).is_file()
    if base:
        roots = [out, *[r for r in roots if r.resolve() != out.resolve()]]
    candidates: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    runs: list[dict[str, Any]] = []
    for i, root in enumerate(roots):
        rows, run_rows = _read(root)
        runs += run_rows
        for row in rows:
            candidates.setdefault(row["key"], []).append((i, row))
    report, chosen, conflicts = MergeReport(), [], []
    for key, found in candidates.items():
        distinct = {tuple(r[c] for c in _SAME) for _, r in found}
        if len(distinct) > 1:
            if keep is None:
                conflicts.append(f"{key[:12]} ({found[0][1]['method']} x {found[0][1]['noise']} x "
                                 f"{found[0][1]['dataset']}/{found[0][1]['image']}: "
                                 + " vs ".join(str(roots[i]) for i, _ in found) + ")")
                continue
            report.resolved += 1
            pick = found[0] if keep == "first" else max(found, key=lambda f: (str(f[1]["finished_at"] or ""), f[0]))
        else:
            report.identical += len(found) - 1
            pick = found[0]
        if not (base and pick[0] == 0):
            chosen.append(pick)
    if conflicts:
        shown = "; ".join(conflicts[:5]) + (f"; and {len(conflicts) - 5} more" if len(conflicts) > 5 else "")
        raise DataError(f"{len(conflicts)} key(s) differ between stores: {shown}; nothing was written "
                        f"(choose with --keep newest or --keep first)")
    with Store(out) as st:
        for i, row in chosen:
            if row.get("artifact"):
                st.copy_artifacts(roots[i], str(row["artifact"]))
        st.put_many([row for _, row in chosen], replace=True)
        st.put_runs(runs)
    report.added = len(chosen)
    return report


def _read(root: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    db = root / DB_NAME
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            have = {r[1] for r in conn.execute("PRAGMA table_info(results)")}
            cols = [c for c in RESULT_COLUMNS if c in have]
            rows = [dict(zip(cols, r)) for r in conn.execute(f"SELECT {','.join(cols)} FROM results")]
            cur = conn.execute("SELECT * FROM runs")
            names = [d[0] for d in cur.description]
            run_rows = [dict(zip(names, r)) for r in cur.fetchall()]
    except sqlite3.DatabaseError as exc:
        raise DataError(f"cannot read results store {db}: {exc}") from None
    return rows, run_rows


def add_merge_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("stores", nargs="+", type=Path, metavar="STORE", help="result folders (e.g. runs/x/shards/*)")
    p.add_argument("--out", type=Path, required=True, help="the merged results folder (created if needed)")
    p.add_argument("--keep", choices=("newest", "first"), default=None,
                   help="how to resolve a key whose duplicates differ (default: refuse and name them)")


def run_merge(args: argparse.Namespace) -> int:
    rep = merge(args.stores, args.out, keep=args.keep)
    print(f"merged {len(args.stores)} store(s) into {args.out}: {rep.added} row(s) written, {rep.identical} "
          f"identical duplicate(s) kept once, {rep.resolved} differing duplicate(s) resolved"
          + (f" by --keep {args.keep}" if args.keep else ""), file=sys.stderr)
    print(f"next: bench report --out {args.out} --html", file=sys.stderr)
    return 0
