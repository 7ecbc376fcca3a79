"""``bench train METHOD``: argument parsing for the training loop in `bench.training.loop`."""

from __future__ import annotations

import argparse
import sys
from typing import Any

import torch

from bench.errors import UsageError
from bench.registry import parse_value
from bench.training.loop import SELECT, train


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``bench train``; unset ones come from the method's training defaults."""
    parser.add_argument("method", help="registered trainable method, e.g. t3sc.small")
    parser.add_argument("--dataset", default="scenes31", help="training dataset (train split; val split validates)")
    parser.add_argument("--bands", type=int, help="band count the training data must have (e.g. 46 for "
                        "houston2018); a network built for fewer trains on its band groups")
    parser.add_argument("--data-root", help="where external datasets live (or $HSIBENCH_DATA)")
    parser.add_argument("--noise", default="blind-mix", help="noise spec or comma list, sampled per patch")
    parser.add_argument("--epochs", type=int, help="total epochs (a rerun continues up to this count)")
    parser.add_argument("--max-minutes", type=float, help="stop at the epoch boundary that keeps within M minutes")
    parser.add_argument("--init", help="fine-tune from this checkpoint (file or shipped name)")
    parser.add_argument("--out", help="state/log folder (default runs/train/<method>/)")
    parser.add_argument("--export", metavar="NAME", help="also write methods/checkpoints/NAME.pt + NAME.json")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda[:i]")
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--patch", type=int, default=64, help="patch side in pixels")
    parser.add_argument("--lr", type=float, help="Adam learning rate")
    parser.add_argument("--milestones", help="comma list of epochs where the learning rate is multiplied by gamma")
    parser.add_argument("--gamma", type=float, help="learning-rate factor at each milestone")
    parser.add_argument("--warmup", type=int, metavar="STEPS", help="optimiser steps over which the learning rate "
                        "rises linearly to --lr, e.g. when a fresh optimiser fine-tunes an --init checkpoint")
    parser.add_argument("--steps-per-epoch", type=int)
    parser.add_argument("--val-images", type=int, help="validation images (val split)")
    parser.add_argument("--val-crop", type=int, help="centre-crop side of validation images")
    parser.add_argument("--val-noise", help="noise spec(s) of the validation inputs (default: --noise)")
    parser.add_argument("--min-converged", type=_fraction, metavar="F",
                        help="best epoch only among those whose validation solves converged in at least this "
                        "fraction (0-1) of cases, for equilibrium models")
    parser.add_argument("--select", choices=SELECT, default="best",
                        help="ship the best-validation epoch (default) or the last one, e.g. to match another "
                        "model's training budget exactly")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                        help="method parameter override (repeatable)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (e.g. 1 on a shared machine)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_train(args: argparse.Namespace) -> int:
    """Run `train` from parsed arguments; prints the checkpoint path."""
    if args.threads:
        torch.set_num_threads(args.threads)
    milestones = None
    if args.milestones:
        try:
            milestones = [int(m) for m in args.milestones.split(",") if m.strip()]
        except ValueError:
            raise UsageError(f"--milestones: expected a comma list of integers, got {args.milestones!r}") from None
    path = train(args.method, dataset=args.dataset, noise=args.noise, epochs=args.epochs,
                 max_minutes=args.max_minutes, init=args.init, out=args.out, seed=args.seed, device=args.device,
                 batch_size=args.batch_size, patch=args.patch, lr=args.lr, steps_per_epoch=args.steps_per_epoch,
                 val_images=args.val_images, val_crop=args.val_crop, val_noise=args.val_noise, milestones=milestones,
                 gamma=args.gamma,
                 params=_params(args.param), export=args.export, progress=not args.no_progress, data_bands=args.bands,
                 data_root=args.data_root, min_converged=args.min_converged, select=args.select,
                 warmup=args.warmup)
    print(path, file=sys.stdout)
    return 0


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction between 0 and 1, got {text!r}")
    return value


def _params(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key.strip():
            raise UsageError(f"--param: expected KEY=VALUE, got {item!r}")
        out[key.strip()] = parse_value(value.strip())
    return out
