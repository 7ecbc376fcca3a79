"""The regression gate: thresholds, directions, version changes, missing and failing cells."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.check import Threshold, compare
from bench.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def _cell(**kw: object) -> dict:
    base = dict(method="m", noise="corr", dataset="d", image="i", seed=0, method_version="1", params_hash="p",
                status="ok", psnr=30.0, ssim=0.9, sam=0.1, ergas=5.0, error=None, profile="smoke")
    base.update(kw)
    return base


TH = [Threshold.parse(t) for t in ("psnr:0.1", "ssim:0.002", "sam:2%")]


@pytest.mark.parametrize("text, metric, value, rel", [("psnr:0.1", "psnr", 0.1, False), ("sam:2%", "sam", 0.02, True)])
def test_threshold_parse(text: str, metric: str, value: float, rel: bool) -> None:
    th = Threshold.parse(text)
    assert (th.metric, th.relative) == (metric, rel) and th.value == pytest.approx(value)


@pytest.mark.parametrize("text", ["psnr", "psnr:", "psnr:x", ":0.1", "psnr:-1"])
def test_threshold_rejects_malformed(text: str) -> None:
    with pytest.raises(UsageError):
        Threshold.parse(text)


@pytest.mark.parametrize("text, hint", [("PSNR:0.1", "did you mean 'psnr'"), ("foo:0.1", "compares psnr"),
                                        ("ssmi:0.01", "did you mean 'ssim'"), ("psnr@sert:0.1", "")])
def test_threshold_on_an_unknown_metric_is_a_usage_error(text: str, hint: str) -> None:
    # a threshold on a name the rows have no column for never fires, so a regression would pass
    with pytest.raises(UsageError, match=f"unknown metric.*{hint}"):
        Threshold.parse(text)


@pytest.mark.parametrize("change, verdict, failed", [
    ({"psnr": 29.95}, "same", False),
    ({"psnr": 29.8}, "worse", True),
    ({"psnr": 30.5}, "better", False),
    ({"sam": 0.1015}, "same", False),       # 1.5 % worse: within sam:2%
    ({"sam": 0.103}, "worse", True),        # lower is better for SAM
    ({"sam": 0.09}, "better", False),
    ({"ssim": 0.897}, "worse", True),
    ({"status": "failed", "psnr": None}, "newly failing", True),
    ({"method_version": "2"}, "not comparable", True),
])
def test_compare_verdicts(change: dict, verdict: str, failed: bool) -> None:
    report = compare({"cells": [_cell()]}, [_cell(**change)], TH)
    assert verdict in {ln.verdict for ln in report.lines}
    assert report.failed is failed


def test_missing_cell_fails() -> None:
    report = compare({"cells": [_cell(), _cell(image="j")]}, [_cell()], TH)
    assert report.failed and any(ln.verdict == "missing" for ln in report.lines)


_SIZE = dict(height=32, width=32, bands=31, clip=0, sigma_mode="oracle")


@pytest.mark.parametrize("other", [{"height": 16, "width": 16}, {"clip": 1}, {"sigma_mode": "estimate"},
                                   {"profile": "standard"}])
def test_a_row_of_another_crop_clip_sigma_or_profile_is_never_compared(other: dict) -> None:
    """A store that also holds a worse cell at another size (or clipped, or with estimated sigma) still
    compares the baseline's own cell, and without that cell it is missing, not the other one."""
    base = _cell(**_SIZE)
    worse = _cell(**{**_SIZE, **other, "psnr": 20.0})
    assert not compare({"cells": [base]}, [worse, _cell(**_SIZE)], TH).failed
    report = compare({"cells": [base]}, [worse], TH)
    assert report.failed and [ln.verdict for ln in report.lines] == ["missing"]


def test_a_baseline_without_the_identity_fields_is_ambiguous_on_a_mixed_store() -> None:
    report = compare({"cells": [_cell()]}, [_cell(**_SIZE), _cell(**{**_SIZE, "height": 16, "psnr": 20.0})], TH)
    assert report.failed and [ln.verdict for ln in report.lines] == ["ambiguous"]


def test_means_per_method_and_noise_are_compared() -> None:
    base = [_cell(image=str(i), psnr=30.0) for i in range(4)]
    now = [_cell(image=str(i), psnr=29.0) for i in range(4)]
    report = compare({"cells": base}, now, TH)
    mean = [ln for ln in report.lines if ln.cell == "mean m x corr" and ln.metric == "psnr"]
    assert len(mean) == 1 and mean[0].verdict == "worse" and mean[0].now == pytest.approx(29.0)


def _bench(*args: str, worsen: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests" / "plugins")]),
           "HSIBENCH_PLUGINS": "bench_test_methods", "HSIBENCH_TEST_WORSEN": "1" if worsen else "0"}
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=300)


def test_gate_catches_a_deliberately_worsened_method(tmp_path: Path) -> None:
    folder = tmp_path / "cubes"
    folder.mkdir()
    yy, xx = np.mgrid[0:20, 0:20] / 20.0
    np.save(folder / "a.npy", (0.5 + 0.3 * np.sin(4 * xx)[..., None] * np.linspace(0.5, 1, 6)).astype(np.float32)
            + 0 * yy[..., None])
    baseline = tmp_path / "baseline.json"
    grid = ["--methods", "test.shrink,noisy", "--noise", "noniid-55", "--datasets", f"npy:{folder}",
            "--profile", "smoke"]
    assert _bench("run", *grid, "--out", str(tmp_path / "a")).returncode == 0
    res = _bench("check", "--baseline", str(baseline), "--store", str(tmp_path / "a"), "--update")
    assert res.returncode == 0, res.stderr
    data = json.loads(baseline.read_text())
    assert {c["method"] for c in data["cells"]} == {"test.shrink", "noisy"} and data["versions"]["numpy"]

    assert _bench("check", "--baseline", str(baseline), "--store", str(tmp_path / "a")).returncode == 0
    assert _bench("run", *grid, "--out", str(tmp_path / "b"), worsen=True).returncode == 0
    res = _bench("check", "--baseline", str(baseline), "--store", str(tmp_path / "b"))
    assert res.returncode == 1
    assert "worse" in res.stdout and "test.shrink" in res.stdout and "check FAILED" in res.stderr
