"""Reports built from a results store alone: paper-style tables (HTML, Markdown, LaTeX, CSV), per-image
results, false-colour comparisons, row-mean profiles, convergence and complexity, in one self-contained
HTML file.

>>> import reports
>>> reports.build_html("runs/x", "runs/x/report/index.html")  # doctest: +SKIP
>>> print(reports.tables(bench.store.load("runs/x"), "latex"))  # doctest: +SKIP
"""

from __future__ import annotations

from reports.html import build_html
from reports.render import tables

__all__ = ["build_html", "tables"]
