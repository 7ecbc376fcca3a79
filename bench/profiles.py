"""Run profiles: image count, crop size and method presets that make a grid fit a budget.

``smoke`` is what the tests and the CI gate run (under 2 minutes on 2 CPU cores); ``standard`` is what
``./run_all.sh`` runs (every method within 15 minutes on 2 CPU cores); ``paper`` is the DECSC paper's
protocol (full 512 x 512 x 31 test images) for a GPU machine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.errors import UsageError


@dataclass(frozen=True)
class Profile:
    name: str
    datasets: str
    images: int | None
    crop: int | None
    description: str
    methods: str = "all"
    method_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    artifact_max_voxels: int = 4_200_000
    trace: bool = True

    def params_for(self, method: str) -> dict[str, Any]:
        """Preset overrides this profile applies to ``method`` (exact name, else its family prefix)."""
        return dict(self.method_params.get(method, self.method_params.get(method.split(".")[0], {})))


PROFILES: dict[str, Profile] = {
    "smoke": Profile("smoke", "scenes31", images=1, crop=32,
                     description="1 test image, 32 x 32 centre crop; the CI regression gate"),
    "standard": Profile("standard", "scenes31", images=3, crop=64,
                        description="3 test images, 64 x 64 centre crops; what ./run_all.sh runs on a CPU"),
    "paper": Profile("paper", "icvl", images=None, crop=512,
                     description="the DECSC paper's ICVL protocol: every test image at 512 x 512 x 31",
                     artifact_max_voxels=0),
}


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown profile {name!r}; choose from {', '.join(PROFILES)}") from None
