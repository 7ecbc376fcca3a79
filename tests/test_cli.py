"""CLI error handling: one-line messages, exit codes, no traceback, store untouched."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def _bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize("args, code, message", [
    (["run", "--methods", "nosuch"], 2, "unknown method 'nosuch'"),
    (["run", "--methods", "noisy", "--noise", "noniid-56"], 2, "'noniid-55'"),
    (["run", "--methods", "noisy,,lrmr"], 2, "malformed method list"),
    (["run", "--methods", "noisy", "--noise", "noniid:smax"], 2, "malformed noise parameter"),
    (["run", "--methods", "noisy", "--noise", "noniid:bogus=1"], 2, "unknown parameter"),
    (["run", "--methods", "noisy", "--profile", "huge"], 2, "unknown profile 'huge'"),
    (["run", "--methods", "noisy", "--param", "noisy-no-colon"], 2, "malformed --param"),
    (["run", "--methods", "noisy", "--checkpoint", "noisy=/no/such.pt"], 2, "checkpoint file not found"),
    (["run", "--methods", "noisy", "--datasets", "npy:/no/such/folder"], 2, "/no/such/folder"),
    (["run", "--bogus-flag"], 2, "unrecognized arguments"),
    (["report", "--out", "/no/such/store"], 2, "no results store"),
    (["list", "widgets"], 2, "invalid choice"),
])
def test_usage_errors(args: list[str], code: int, message: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    res = _bench(*args, *(["--out", str(out)] if args[0] == "run" else []))
    assert res.returncode == code, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], res.stderr
    assert "Traceback" not in res.stderr
    assert not out.exists(), "a usage error must leave no store behind"


def test_unwritable_out_is_a_usage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = _bench("run", "--methods", "noisy", "--noise", "corr", "--profile", "smoke", "--out", str(blocker / "o"))
    assert res.returncode == 2 and "cannot write to output folder" in res.stderr


def test_debug_shows_traceback() -> None:
    res = _bench("--debug", "run", "--methods", "nosuch")
    assert res.returncode != 0 and "Traceback" in res.stderr


@pytest.mark.parametrize("what", ["methods", "noise", "datasets", "metrics", "profiles"])
def test_list(what: str) -> None:
    res = _bench("list", what)
    assert res.returncode == 0 and res.stdout.splitlines()[0].startswith("name")
    assert len(res.stdout.splitlines()) > 2


def _verbs(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every sub-command path of the parser, nested ones (``data freeze``) included."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                out += [(*prefix, name), *_verbs(sub, (*prefix, name))]
    return out


@pytest.mark.parametrize("verb", _verbs(build_parser()), ids=" ".join)
def test_every_verb_has_help(verb: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*verb, "--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: bench {' '.join(verb)}")
