"""bench train --warmup: the learning rate rises linearly over the first optimiser steps, then follows the
milestone schedule; the setting is recorded in the manifest and a resume with another one is refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from bench.datasets.base import Dataset, HSImage
from bench.errors import UsageError
from bench.training import train

BANDS = 6
TINY = {"bands": BANDS, "codes0": 6, "steps0": 2, "codes1": 8, "steps1": 2, "tile": 16, "overlap": 4}
FAST = dict(noise="noniid-55", epochs=3, batch_size=2, patch=16, steps_per_epoch=2, val_crop=16, lr=1e-2,
            params=TINY, progress=False)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def tiny_set() -> Dataset:
    rng = np.random.default_rng(0)
    cubes = {f"img{i}": rng.uniform(0.2, 0.8, (24, 24, BANDS)).astype(np.float32) for i in range(2)}
    return Dataset("tinyset", list(cubes), lambda i: HSImage(id=i, clean=cubes[i]))


def _step_lrs(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The learning rate of every Adam step taken from now on."""
    seen: list[float] = []
    real_step = torch.optim.Adam.step

    def step(self: torch.optim.Adam, *args: Any, **kwargs: Any) -> Any:
        seen.append(self.param_groups[0]["lr"])
        return real_step(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    return seen


def test_warmup_ramps_the_first_steps_then_follows_the_milestones(tiny_set: Dataset, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _step_lrs(monkeypatch)
    path = train("t3sc.small", dataset=tiny_set, out=tmp_path / "run", warmup=4, milestones=[2], gamma=0.5, **FAST)
    assert seen == pytest.approx([2.5e-3, 5e-3, 7.5e-3, 1e-2, 5e-3, 5e-3])
    state = torch.load(tmp_path / "run" / "state.pt", weights_only=False)
    assert [row["lr"] for row in state["log"]] == pytest.approx([1e-2, 1e-2, 5e-3])
    assert json.loads(path.with_suffix(".json").read_text())["training"]["warmup"] == 4


def test_no_warmup_keeps_the_scheduled_rate(tiny_set: Dataset, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _step_lrs(monkeypatch)
    train("t3sc.small", dataset=tiny_set, out=tmp_path / "run", **{**FAST, "epochs": 2})
    assert seen == pytest.approx([1e-2] * 4)


def test_resume_with_another_warmup_is_refused(tiny_set: Dataset, tmp_path: Path) -> None:
    out = tmp_path / "run"
    train("t3sc.small", dataset=tiny_set, out=out, warmup=3, **{**FAST, "epochs": 1})
    with pytest.raises(UsageError, match="different training setup.*warmup: 3 -> 0"):
        train("t3sc.small", dataset=tiny_set, out=out, **FAST)
    with pytest.raises(UsageError, match="warmup must be >= 0 steps, got -1"):
        train("t3sc.small", dataset=tiny_set, out=tmp_path / "bad", warmup=-1, **FAST)
