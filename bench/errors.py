"""Error types that map to the CLI's exit codes.

A `UsageError` is the caller's mistake (unknown name, malformed list, missing path): exit 2.
A `BenchError` is a failure while doing valid work (corrupt file, NaN cube, diverged solver): exit 1.
Both carry a one-line message naming the problem and the thing.
"""

from __future__ import annotations


class BenchError(Exception):
    """A failure of valid work; the CLI exits with status 1."""

    exit_code = 1


class UsageError(BenchError, ValueError):
    """A mistake in what the caller asked for; the CLI exits with status 2."""

    exit_code = 2


class DataError(BenchError, ValueError):
    """Input data that cannot be used: NaN/Inf, wrong shape or dtype, corrupt or incomplete file."""


class MissingDataError(UsageError):
    """An external dataset's folder or files are not where they are expected; names the expected place."""
