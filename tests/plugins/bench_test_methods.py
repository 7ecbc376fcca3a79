"""Methods only the runner tests register (via HSIBENCH_PLUGINS): slow, failing, shrinking, dying ones."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import numpy as np

from methods import register
from methods.base import Method


@register("test.slow")
class Slow(Method):
    """Sleeps, then returns a mildly smoothed input: slow enough to be killed mid-grid."""

    family = "reference"
    description = "runner test: slow identity-like method"
    defaults = {"seconds": float(os.environ.get("HSIBENCH_TEST_SLOW", "0.3"))}

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        time.sleep(self.params["seconds"])
        return 0.5 * noisy + 0.5 * np.roll(noisy, 1, axis=0)


@register("test.broken")
class Broken(Method):
    """Always raises: checks that one failing cell does not stop the grid."""

    family = "reference"
    description = "runner test: always fails"

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        if os.environ.get("HSIBENCH_TEST_FIXED") == "1":
            return noisy
        raise RuntimeError("deliberate failure for the runner test")


@register("test.shrink")
class Shrink(Method):
    """Pulls the input towards its local mean; HSIBENCH_TEST_WORSEN=1 breaks it on purpose (gate test)."""

    family = "reference"
    description = "regression-gate test: a method that can be made worse without a version bump"

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        smooth = (noisy + np.roll(noisy, 1, 0) + np.roll(noisy, -1, 0) + np.roll(noisy, 1, 1)
                  + np.roll(noisy, -1, 1)) / 5
        if os.environ.get("HSIBENCH_TEST_WORSEN") == "1":
            smooth = smooth + 0.05
        return smooth


@register("test.die")
class Die(Method):
    """SIGKILLs the process running it: once per marker file (HSIBENCH_TEST_DIE_MARKER), or always
    (HSIBENCH_TEST_DIE=always); checks that a dead worker loses only its cell."""

    family = "reference"
    description = "executor test: kills its own worker process"

    def _denoise(self, noisy: np.ndarray, *, sigma: np.ndarray | None, device: Any) -> np.ndarray:
        marker = os.environ.get("HSIBENCH_TEST_DIE_MARKER")
        if os.environ.get("HSIBENCH_TEST_DIE") == "always" or (marker and _first_time(marker)):
            os.kill(os.getpid(), signal.SIGKILL)
        return 0.5 * noisy + 0.5 * np.roll(noisy, 1, axis=1)


def _first_time(marker: str) -> bool:
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
