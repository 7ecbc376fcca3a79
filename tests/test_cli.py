"""CLI error handling: one-line messages, exit codes, no traceback, store untouched."""

from __future__ import annotations

import argparse
import errno
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cli import build_parser, main
from bench.errors import UsageError

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
    (["run", "--methods", "noisy", "--checkpoint", "noisy=/no/such.pt"], 2, "--checkpoint '/no/such.pt' not found"),
    (["run", "--methods", "noisy", "--datasets", "npy:/no/such/folder"], 2, "/no/such/folder"),
    (["run", "--bogus-flag"], 2, "unrecognized arguments"),
    (["report", "--out", "/no/such/store"], 2, "no results store"),
    (["list", "widgets"], 2, "invalid choice"),
    (["run", "--methods", "noisy", "--devices", "cpu"], 2, "--devices needs --executor local"),
    (["run", "--methods", "noisy", "--executor", "local", "--address", "auto"], 2, "--address needs --executor ray"),
    (["run", "--methods", "noisy", "--slurm-time", "60"], 2, "--slurm-* options need --executor slurm"),
    (["run", "--methods", "noisy", "--executor", "slurm", "--slurm-time", "1h"], 2, "--slurm-time must be"),
    (["run", "--methods", "noisy", "--workers", "2"], 2, "--workers needs --executor local"),
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


def test_export_onto_a_directory_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench.store import Store

    store_dir = tmp_path / "store"
    with Store(store_dir) as st:
        st.put({"key": "k", "method": "noisy", "method_version": "1", "params_json": {}, "params_hash": "h",
                "noise": "corr", "noise_params_json": {}, "dataset": "scenes31", "image": "a", "seed": 0,
                "profile": "smoke", "status": "ok"})
    (tmp_path / "dir").mkdir()
    assert main(["export", "--out", str(store_dir), "--csv", str(tmp_path / "dir")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"bench: error: cannot write {tmp_path / 'dir'}: it is a directory; give a file name"]
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize("exists", [False, True])
def test_freeze_onto_a_read_only_filesystem_is_a_usage_error(exists: bool, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "frozen"
    if exists:
        out.mkdir()
        monkeypatch.setattr(os, "access", lambda *a, **k: False)
    else:
        def read_only(self: Path, *a: object, **k: object) -> None:
            raise OSError(errno.EROFS, "Read-only file system", str(self))

        monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["data", "freeze", "scenes31", "corr", str(out), "--images", "1", "--crop", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"bench: error: cannot ") and str(out) in err[0], err


def test_corrupt_tiff_first_stderr_line_is_ours(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.tif"
    bad.write_bytes(b"II*\x00" + b"\xff" * 200)  # a TIFF header whose first-page offset points nowhere
    code = main(["run", "--methods", "noisy", "--noise", "corr", "--profile", "smoke", "--datasets", f"tiff:{bad}",
                 "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(lines) == 1, lines
    assert lines[0].startswith(f"bench: error: tiff: cannot read {bad} (corrupt TIFF:"), lines


def test_checkpoint_accepts_shipped_names(tmp_path: Path, one_thread: None) -> None:
    from bench import store
    from methods.trainable import CHECKPOINT_DIR, resolve_checkpoint

    assert resolve_checkpoint("decsc.small") == CHECKPOINT_DIR / "decsc.small.pt"
    with pytest.raises(UsageError, match=r"'nosuch' not found: neither a file nor a shipped name \(.*t3sc.small"):
        resolve_checkpoint("nosuch")
    assert main(["run", "--methods", "t3sc.small", "--noise", "corr", "--profile", "smoke", "--crop", "16",
                 "--checkpoint", "t3sc.small=t3sc.small", "--out", str(tmp_path / "out")]) == 0
    row = store.load(tmp_path / "out").iloc[0]
    assert row["status"] == "ok" and row["params"]["checkpoint"] == "t3sc.small"
    assert row["info"]["checkpoint"]["name"] == "t3sc.small"


@pytest.mark.parametrize("width", [80, 100, 160])
def test_list_methods_fits_the_width_and_tells_variants_apart(width: int) -> None:
    from bench.listing import table

    text = table("methods", width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    head, dashes, *rows = text.splitlines()
    spans = [(m.start(), m.end()) for m in re.finditer(r"-+", dashes)]
    cols = [head[a:b].strip() for a, b in spans]
    assert cols[:2] == ["name", "family"] and {"size", "weights", "variant"} <= set(cols)
    decsc = {r.split()[0]: {c: r[a:b].strip() for c, (a, b) in zip(cols, spans)} for r in rows if r.startswith("decsc")}
    assert len(decsc) >= 5 and len({(r["variant"], r["size"]) for r in decsc.values()}) == len(decsc), "variants read the same"
    assert decsc["decsc.small"]["weights"] == "shipped" and decsc["decsc.noswin"]["weights"] == "shipped"
    assert decsc["decsc.mamba.small"]["weights"] == "shipped"
    assert decsc["decsc.noswin"]["variant"].startswith("decsc.small with swin=False")
    assert not any(r["variant"].startswith("decsc.mamba ") for n, r in decsc.items() if "mamba" not in n)
    assert decsc["decsc"]["size"] == "4.04M"


def test_closed_stdout_stops_quietly() -> None:
    """``bench list methods | head`` must not print an error when the reader has gone away."""
    child = ("import os, sys\n"
             "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
             "from bench.cli import main\n"
             "sys.exit(main(['list', 'methods']))\n")
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == ""
