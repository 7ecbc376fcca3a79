"""Training of trainable methods (``bench train``): patch sampler, resumable loop, checkpoint export."""

from __future__ import annotations

from bench.training.cli import add_train_arguments, run_train
from bench.training.loop import TRAIN_DEFAULTS, train
from bench.training.sampler import PatchSampler, parse_noise_list

__all__ = ["TRAIN_DEFAULTS", "PatchSampler", "add_train_arguments", "parse_noise_list", "run_train", "train"]
