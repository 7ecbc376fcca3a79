"""The grid runner: plan -> execute -> record, one committed store row per cell.

`run` plans the grid (`bench.plan`, every option checked before the first cell), hands the cells still to do
to an executor (`bench.executors`: inline, local workers, Ray, Slurm), and records each result as it comes
back (`bench.record`); only this driver writes the store. A cell is claimed just before it is submitted, so
concurrent runs on one store compute each cell once; a killed run resumes where it stopped.
"""

from __future__ import annotations

import os
import platform
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import executors
from bench.plan import Cell, RunConfig, make_plan
from bench.progress import Progress
from bench.record import Heartbeat, record
from bench.store import Store


@dataclass
class RunSummary:
    """What a run did; the failed and already-in counts come from the store's rows, not from claims."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    retried: int = 0
    busy: list[str] = field(default_factory=list)
    interrupted: bool = False
    signal: int = 0
    migration: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


class _Interrupt:
    """Ctrl-C or SIGTERM sets a flag; the runner stops after the cells in flight (a second one aborts)."""

    def __init__(self) -> None:
        self.requested = False
        self.signum = 0
        self._old: dict[int, Any] = {}

    def __enter__(self) -> "_Interrupt":
        if threading.current_thread() is threading.main_thread():
            self._old = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise Interrupted(signum)
        self.requested, self.signum = True, signum
        name = "interrupt" if signum == signal.SIGINT else "SIGTERM"
        print(f"\n{name}: stopping after the current cell (again to abort)", file=sys.stderr)

    def __exit__(self, *exc: object) -> None:
        for s, old in self._old.items():
            signal.signal(s, old)


class Interrupted(KeyboardInterrupt):
    """A second Ctrl-C or SIGTERM: abort now; ``exit_code`` is 130 or 143."""

    def __init__(self, signum: int) -> None:
        super().__init__()
        self.exit_code = 128 + signum


def run(cfg: RunConfig, *, verbose: bool = False, executor: str = "inline",
        options: executors.ExecutorOptions | None = None) -> RunSummary:
    """Run the grid described by ``cfg`` into ``cfg.out`` with ``executor``; returns what happened."""
    executors.check(executor, options or executors.ExecutorOptions())
    with _Interrupt() as stop:
        missing: list[str] = []
        plan = make_plan(cfg, missing)
        for text in missing:
            print(f"skipping dataset: {text}", file=sys.stderr)
        store = Store(cfg.out)
        try:
            summary = _drive(cfg, plan, store, stop, verbose, executor, options or executors.ExecutorOptions())
            summary.missing = missing
            return summary
        finally:
            store.close()


def _drive(cfg: RunConfig, plan: list[Cell], store: Store, stop: _Interrupt, verbose: bool, name: str,
           options: executors.ExecutorOptions) -> RunSummary:
    summary = RunSummary(total=len(plan), migration=store.migration)
    run_id = uuid.uuid4().hex[:12]
    stored = store.statuses([c.key for c in plan])
    done_before = {k for k, s in stored.items() if s == "ok" or cfg.keep_failed} if not cfg.rerun else set()
    todo = deque(c for c in plan if c.key not in done_before)
    options.out, options.run_id = Path(cfg.out), run_id
    ex = executors.create(name, options) if todo else None
    progress = Progress(len(plan), already=len(plan) - len(todo), verbose=verbose)
    started = False
    inflight: dict[str, Cell] = {}
    ran: set[str] = set()
    try:
        with Heartbeat(store.path, store.lease_s):
            while True:
                while not stop.requested and todo and len(inflight) < ex.capacity:
                    cell = todo.popleft()
                    if not store.claim(cell.key, keep_failed=cfg.keep_failed, rerun=cfg.rerun):
                        progress.skip()
                        continue
                    if not started:
                        _start_run(store, run_id, cfg, name)
                        started = True
                    ex.submit(cell)
                    inflight[cell.key] = cell
                if not inflight:
                    break
                for event in ex.poll(timeout=1.0):
                    if event.kind == "retried":
                        summary.retried += 1
                        progress.retry(f"{event.cell.label}: {event.note}")
                        if stop.requested and hasattr(ex, "drop"):
                            ex.drop(event.cell)
                            inflight.pop(event.cell.key)
                            store.release(event.cell.key)
                        continue
                    assert event.result is not None
                    record(store, event.result, run_id=run_id, source=event.note or None)
                    inflight.pop(event.cell.key)
                    ran.add(event.cell.key)
                    summary.done += 1
                    progress.cell(event.result.row)
                progress.tick()
        if ex is not None:
            ex.close()
    except BaseException:
        if ex is not None:
            ex.close(abort=True)
        raise
    finally:
        progress.close()
        store.release()
        if started:
            store.finish_run(run_id)
    summary.interrupted, summary.signal = stop.requested, stop.signum
    _count(store, plan, ran, summary)
    return summary


def _count(store: Store, plan: list[Cell], ran: set[str], summary: RunSummary) -> None:
    """Already-in and failed from the rows the store holds for this plan; busy from live claims."""
    rows = store.statuses([c.key for c in plan])
    summary.skipped = sum(1 for k, s in rows.items() if s == "ok" and k not in ran)
    errors = store.errors([k for k, s in rows.items() if s == "failed"])
    summary.failed = [(c.label, errors.get(c.key, "")) for c in plan if rows.get(c.key) == "failed"]
    summary.busy = [f"{c.label} ({who})" for c in plan if c.key not in rows and (who := store.holder(c.key))]


def _start_run(store: Store, run_id: str, cfg: RunConfig, executor: str) -> None:
    store.start_run(run_id, command=cfg.command, profile=cfg.profile.name, seed=cfg.seed, device=str(cfg.device),
                    clip=cfg.clip, env_json={**environment(), "executor": executor})


def environment() -> dict[str, Any]:
    """What a result depends on besides its inputs: versions, commit, machine."""
    import torch

    versions = {"python": platform.python_version()}
    for dist in ("hsi-bench", "numpy", "torch", "scipy", "scikit-image", "timm", "bm4d"):
        try:
            versions[dist] = version(dist)
        except PackageNotFoundError:
            versions[dist] = None
    return {"versions": versions, "commit": _git_commit(), "platform": platform.platform(),
            "host": socket.gethostname(), "cpu_count": os.cpu_count(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "torch_threads": torch.get_num_threads()}


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parent)
        return (out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")) or None
    except (OSError, subprocess.SubprocessError):
        return None
