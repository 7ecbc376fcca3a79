"""The ``bench`` command line: run, report, list, export, data, train, check, merge.

Usage errors exit 2, failures exit 1, both with a one-line message on stderr; ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from bench.errors import BenchError, UsageError
from bench.registry import parse_value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message if self.prog == "bench" else f"{self.prog}: {message}")


def _add_run(sub: Any) -> None:
    p = sub.add_parser("run", help="run a methods x noise x datasets grid into a results store")
    p.add_argument("--methods", default=None, help="comma list, 'all', wildcards or a group (default: the profile's)")
    p.add_argument("--noise", default="all", help="noise specs, e.g. 'all', 'paper', 'qrnn3d', 'noniid:smax=95'")
    p.add_argument("--datasets", default=None, help="dataset names (default: the profile's)")
    p.add_argument("--profile", default="standard", help="smoke | standard | paper | real")
    p.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="results folder (default runs/<profile>)")
    p.add_argument("--images", type=int, default=None, help="override the profile's image count")
    p.add_argument("--crop", type=int, default=None, help="override the profile's centre-crop size")
    p.add_argument("--data-root", default=None, help="where external datasets live (or $HSIBENCH_DATA)")
    p.add_argument("--param", action="append", default=[], metavar="METHOD:KEY=VALUE",
                   help="override a method parameter (repeatable), e.g. decsc.small:tile=64")
    p.add_argument("--checkpoint", action="append", default=[], metavar="METHOD=PATH",
                   help="use this checkpoint (a file or a shipped name, e.g. decsc.small) for a trainable "
                        "method (repeatable)")
    p.add_argument("--sigma", choices=("oracle", "estimate"), default="oracle",
                   help="give methods the true per-band sigma (published protocols) or let them estimate it")
    p.add_argument("--clip", action="store_true", help="clip estimates to [0, 1] before scoring (recorded)")
    p.add_argument("--rerun", action="store_true", help="recompute cells already in the store")
    p.add_argument("--keep-failed", action="store_true",
                   help="skip cells stored as failed instead of retrying them (they still count as failed)")
    p.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                   help="one line per finished cell, with the host it ran on")
    ex = p.add_argument_group("executors (see README: Running on more than one machine)")
    ex.add_argument("--executor", choices=("inline", "local", "ray", "slurm"), default="inline",
                    help="where cells run: this process (default), local worker processes, Ray or Slurm")
    ex.add_argument("--workers", type=int, default=None,
                    help="local: worker processes (default: cores); ray: CPUs of a local cluster; slurm: array tasks")
    ex.add_argument("--devices", default=None, help="local: one worker per device, e.g. cuda:0,cuda:1")
    ex.add_argument("--address", default=None, help="ray: auto | ray://host:10001 (default: start a local cluster)")
    ex.add_argument("--slurm-partition", default=None)
    ex.add_argument("--slurm-gpus-per-task", type=int, default=None)
    ex.add_argument("--slurm-time", default=None, help="time limit per array task, as Slurm writes it: M, M:S, H:M:S, D-H, D-H:M or D-H:M:S")
    ex.add_argument("--slurm-array-parallelism", type=int, default=None, help="array tasks running at once")
    ex.add_argument("--slurm-cluster", choices=("slurm", "local", "debug"), default="slurm",
                    help="submitit backend; local/debug run the same array on this machine")
    p.set_defaults(func=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    import methods
    import noise
    from bench import datasets, executors, profiles, runner
    from methods.base import resolve_device

    prof = profiles.get(args.profile)
    method_names = methods.registry.select(args.methods or prof.methods)
    noise_names = noise.registry.select(args.noise)
    dataset_names = datasets.registry.select(args.datasets or prof.datasets)
    params = _method_params(args.param, args.checkpoint, method_names)
    out = args.out or Path("runs") / prof.name
    devices = [d.strip() for d in (args.devices or "").split(",") if d.strip()]
    cfg = runner.RunConfig(methods=method_names, noises=noise_names, datasets=dataset_names, profile=prof, out=out,
                           seed=args.seed, device=args.device, rerun=args.rerun, keep_failed=args.keep_failed,
                           clip=args.clip, sigma=args.sigma, images=args.images, crop=args.crop,
                           data_root=args.data_root, method_params=params,
                           command=" ".join(["bench", *sys.argv[1:]]))
    for dev in devices:
        resolve_device(dev)
    slurm = {"partition": args.slurm_partition, "gpus_per_task": args.slurm_gpus_per_task,
             "time_limit": args.slurm_time, "array_parallelism": args.slurm_array_parallelism,
             "cluster": args.slurm_cluster}
    options = executors.ExecutorOptions(workers=args.workers, devices=devices, address=args.address, slurm=slurm)
    summary = runner.run(cfg, verbose=args.verbose, executor=args.executor, options=options)
    _print_summary(summary, out)
    if summary.interrupted:
        return 143 if summary.signal == 15 else 130
    return 1 if summary.failed else 0


def _print_summary(summary: Any, out: Path) -> None:
    if summary.migration.get("dropped"):
        print(f"store {out} upgraded: {summary.migration['dropped']} row(s) of an older version lost figure data "
              f"that a later run had overwritten (their scores are kept)", file=sys.stderr)
    busy = f", {len(summary.busy)} held by another run" if summary.busy else ""
    retried = f", {summary.retried} retried after a worker died" if summary.retried else ""
    print(f"{summary.done} cell(s) run, {summary.skipped} already in {out}, {len(summary.failed)} failed"
          f"{retried}{busy}" + (" (interrupted)" if summary.interrupted else ""), file=sys.stderr)
    for where, err in summary.failed:
        print(f"  FAILED {where}: {err}", file=sys.stderr)
    for where in summary.busy:
        print(f"  RUNNING ELSEWHERE {where}", file=sys.stderr)
    for text in summary.missing:
        print(f"  SKIPPED {text}", file=sys.stderr)
    if summary.done or summary.skipped or summary.failed:
        print(f"next: bench report --out {out} --html", file=sys.stderr)


def _method_params(items: list[str], ckpts: list[str], names: list[str]) -> dict[str, dict[str, Any]]:
    from methods.trainable import resolve_checkpoint

    out: dict[str, dict[str, Any]] = {}
    for item in items:
        meth, sep, kv = item.partition(":")
        key, eq, value = kv.partition("=")
        if not sep or not eq or not key:
            raise UsageError(f"malformed --param {item!r} (expected METHOD:KEY=VALUE)")
        out.setdefault(meth, {})[key] = parse_value(value)
    for item in ckpts:
        meth, eq, ref = item.partition("=")
        if not eq or not ref:
            raise UsageError(f"malformed --checkpoint {item!r} (expected METHOD=PATH or METHOD=SHIPPED-NAME)")
        resolve_checkpoint(ref, what="--checkpoint")
        out.setdefault(meth, {})["checkpoint"] = ref
    unknown = sorted(set(out) - set(names))
    if unknown:
        raise UsageError(f"--param/--checkpoint names method(s) not in this run: {', '.join(unknown)}")
    return out


def _add_list(sub: Any) -> None:
    p = sub.add_parser("list", help="list registered methods, noise models, datasets or metrics")
    p.add_argument("what", choices=("methods", "noise", "datasets", "metrics", "profiles"))
    p.set_defaults(func=_cmd_list)


def _cmd_list(args: argparse.Namespace) -> int:
    from bench.listing import table

    print(table(args.what))
    return 0


def _add_export(sub: Any) -> None:
    p = sub.add_parser("export", help="export a results store as CSV or Parquet")
    p.add_argument("--out", type=Path, default=Path("runs") / "standard", help="results folder")
    fmt = p.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--csv", type=Path, metavar="FILE")
    fmt.add_argument("--parquet", type=Path, metavar="FILE")
    p.set_defaults(func=_cmd_export)


def _cmd_export(args: argparse.Namespace) -> int:
    from bench import store
    from bench.fileio import atomic_target, write_failure

    df = store.load(args.out).drop(columns=["params", "noise_params", "metrics", "sigma", "info"], errors="ignore")
    dest = args.csv or args.parquet
    try:
        with atomic_target(dest) as tmp:
            if args.csv:
                df.to_csv(tmp, index=False)
            else:
                df.to_parquet(tmp, index=False)
    except OSError as exc:
        raise write_failure(dest, exc) from None
    print(f"wrote {len(df)} row(s) to {dest}", file=sys.stderr)
    return 0


def _wire(sub: Any, module: str, name: str, adder: str, runner_name: str, help_text: str) -> None:
    """Wire a subcommand whose implementation lives in another package of the suite."""
    import importlib

    mod = importlib.import_module(module)
    p = sub.add_parser(name, help=help_text)
    getattr(mod, adder)(p)
    run: Callable[[argparse.Namespace], int] = getattr(mod, runner_name)
    p.set_defaults(func=run)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="bench", description="hsi-bench: hyperspectral denoising benchmark")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per finished cell")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub)
    _add_list(sub)
    _add_export(sub)
    _wire(sub, "reports.cli", "report", "add_report_arguments", "run_report", "tables and the HTML report")
    _wire(sub, "bench.datasets.cli", "data", "add_data_arguments", "run_data", "datasets: list, check, freeze")
    _wire(sub, "bench.training.cli", "train", "add_train_arguments", "run_train", "train a trainable method")
    _wire(sub, "bench.check", "check", "add_check_arguments", "run_check", "regression gate against a baseline")
    _wire(sub, "bench.merge", "merge", "add_merge_arguments", "run_merge", "combine result stores or shards")
    _wire(sub, "bench.weights", "import-weights", "add_import_arguments", "run_import",
          "convert a checkpoint of a method's original code")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = build_parser().parse_args(argv)
        return int(args.func(args) or 0)
    except BenchError as exc:
        if debug:
            raise
        print(f"bench: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        print("bench: interrupted", file=sys.stderr)
        return int(getattr(exc, "exit_code", 130))
    except BrokenPipeError:
        return _closed_pipe()
    except Exception as exc:  # noqa: BLE001 - one line unless --debug
        if debug:
            raise
        print(f"bench: error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", file=sys.stderr)
        return 1


def _closed_pipe() -> int:
    """The reader of stdout went away (``bench list methods | head``): stop quietly with the shell's SIGPIPE
    status, and point stdout at /dev/null so the interpreter's final flush cannot raise again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
