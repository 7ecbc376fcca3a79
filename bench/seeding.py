"""Seeds derived from a cell's identity, so the noisy input never depends on run order or process."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np


def stable_hash(obj: Any, length: int = 16) -> str:
    """Hex digest of a JSON-canonical form of ``obj`` (sorted keys, no whitespace)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def cell_rng(*parts: Any, seed: int) -> np.random.Generator:
    """A generator seeded by ``seed`` and the identity ``parts`` (dataset, image, noise spec ...)."""
    digest = hashlib.sha256(json.dumps([seed, *parts], sort_keys=True, default=str).encode()).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 32, 4)]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words)))
