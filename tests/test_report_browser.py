"""The HTML report in headless Chromium: tables have their rows, every image decodes, a screenshot is kept.

Needs Debian's ``chromium`` at /usr/bin/chromium; no browser is downloaded. The test is skipped only when
HSIBENCH_SKIP_BROWSER=1, so a missing browser cannot pass CI silently.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from reports import build_html
from reports.synthetic import write_synthetic_store

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NOISES = ("noniid-15", "noniid-95", "mixture")

pytestmark = pytest.mark.browser


@pytest.fixture()
def page_path(tmp_path: Path) -> Path:
    if os.environ.get("HSIBENCH_SKIP_BROWSER") == "1":
        pytest.skip("HSIBENCH_SKIP_BROWSER=1")
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium or set HSIBENCH_SKIP_BROWSER=1")
    root = write_synthetic_store(tmp_path / "store", images=2, size=24, bands=10, noises=NOISES,
                                 real_dataset="realnoise", failed_cell=True)
    return build_html(root)


def test_report_renders_in_chromium(page_path: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri(), wait_until="load")
            rows = page.eval_on_selector_all(
                "table.results.summary tbody tr.data-row", "rs => rs.map(r => [r.dataset.noise, r.dataset.metric])")
            images = page.eval_on_selector_all("img", "xs => xs.map(i => [i.complete, i.naturalWidth])")
            ranked = page.eval_on_selector_all(
                "table.results.summary td.rank1", "xs => xs.map(x => getComputedStyle(x).fontWeight)")
            failed = page.eval_on_selector_all("table.failed tbody tr", "xs => xs.length")
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert rows == [[n, m] for n in NOISES for m in ("psnr", "ssim", "sam")]
    # 4 figures of the synthetic image (false colour, row means, per-band PSNR, convergence) and 3 of the
    # real-noise one (false colour, row means, column means)
    assert len(images) == 7 and all(done and width > 0 for done, width in images)
    assert len(ranked) == len(rows) and all(int(w) >= 700 for w in ranked)
    assert failed == 2
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert shot.stat().st_size > 10_000
    keep = Path("runs")
    keep.mkdir(exist_ok=True)
    shutil.copyfile(shot, keep / "report-browser.png")
