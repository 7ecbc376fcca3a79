"""The noisy input of a cell: a pure function of (dataset, image, noise model and its params, seed)."""

from __future__ import annotations

from noise.base import NoiseModel, NoiseSample

from bench.datasets.base import HSImage
from bench.seeding import cell_rng


def noisy_input(dataset: str, image: HSImage, model: NoiseModel, seed: int) -> NoiseSample:
    """Corrupt ``image.clean`` with ``model`` using a generator keyed by the cell identity.

    Every method, in any order and any process, sees byte-identical input for the same key; the runner,
    ``bench data freeze`` and the training code's validation sets all draw their noise here.
    """
    if image.clean is None:
        raise ValueError(f"{dataset}/{image.id}: no ground truth to add synthetic noise to")
    rng = cell_rng(dataset, image.id, model.name, model.params, seed=seed)
    return model.sample(image.clean, rng)
