"""Errors the user sees, and the exit codes the CLI maps them to.

Exit codes
----------
0  success: every record was processed
1  some records (or the only record) failed; the others were still written
2  usage error: bad option, missing or unwritable output, bad weights file
130 interrupted (Ctrl-C)
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_RECORD_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class AfdetectError(Exception):
    """An error with a one-line message that names the file and the problem.

    Parameters
    ----------
    path : str or Path or None
        The file or record the problem is about.
    problem : str
        What is wrong, written for the user.
    exit_code : int
        Exit code the CLI uses for it.
    """

    exit_code = EXIT_RECORD_FAILED

    def __init__(self, path: str | Path | None, problem: str) -> None:
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


class RecordError(AfdetectError):
    """A record cannot be read or analysed."""


class UsageError(AfdetectError):
    """Options, outputs or weights that make the whole command impossible."""

    exit_code = EXIT_USAGE
