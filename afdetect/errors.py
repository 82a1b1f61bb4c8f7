"""Errors the user sees, and the exit codes the CLI maps them to.

Exit codes
----------
0  success: every record was processed
1  some records (or the only record) failed; the others were still written
2  usage error: bad option, missing or unwritable output, bad weights file
130 interrupted (Ctrl-C)
141 the reader of standard output went away (``... -o - | head``): ended quietly, as on SIGPIPE
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

EXIT_OK = 0
EXIT_RECORD_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE: what a shell reports for a Unix tool ended by a closed pipe."""


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


def internal_error(path: str | Path | None, exc: BaseException) -> RecordError:
    """A :class:`RecordError` standing for an unexpected exception (a bug, or input nobody foresaw).

    The original exception is kept as ``__cause__``, so ``--debug`` shows its traceback.

    Example
    -------
    >>> str(internal_error("rec", ValueError("up and down must be positive integers")))
    'rec: internal error: ValueError: up and down must be positive integers (run with --debug for the traceback)'
    """
    lines = str(exc).strip().splitlines()
    what = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    error = RecordError(path, f"internal error: {what} (run with --debug for the traceback)")
    error.__cause__ = exc
    return error


class UsageError(AfdetectError):
    """Options, outputs or weights that make the whole command impossible."""

    exit_code = EXIT_USAGE


class OutputError(UsageError):
    """An output that cannot be written (disk full, I/O error): the run stops, nothing is left under its name."""


_PARAMETER_FIELD = re.compile(r"\{([a-z_]+)\}")


class ParameterError(UsageError):
    """A bad argument of a library call, worded with its parameter name.

    ``message`` names parameters as ``{name}`` fields: ``str(error)`` shows the names
    themselves (``threshold must lie in (0, 1), got 2``), :meth:`reworded` another name for
    each (the CLI shows its flags: ``--threshold must lie in (0, 1), got 2``).

    Example
    -------
    >>> error = ParameterError("{threshold} must lie in (0, 1), got 2")
    >>> str(error), error.parameter
    ('threshold must lie in (0, 1), got 2', 'threshold')
    >>> error.reworded(lambda name: "--" + name)
    '--threshold must lie in (0, 1), got 2'
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.template = message
        names = _PARAMETER_FIELD.findall(message)
        self.parameter = names[0] if names else None
        super().__init__(path, _PARAMETER_FIELD.sub(r"\1", message))

    def reworded(self, name: Callable[[str], str]) -> str:
        """The message with each ``{parameter}`` replaced by ``name(parameter)``."""
        problem = _PARAMETER_FIELD.sub(lambda m: name(m.group(1)), self.template)
        return f"{self.path}: {problem}" if self.path else problem


def check_range(
    name: str,
    value: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    detail: str = "",
) -> None:
    """Raise :class:`ParameterError` naming ``name`` unless ``low ≤ value ≤ high`` (``<`` where open).

    Example
    -------
    >>> check_range("threshold", 0.5, 0, 1, low_open=True, high_open=True)
    >>> check_range("threshold", 2, 0, 1, low_open=True, high_open=True)
    Traceback (most recent call last):
    ...
    afdetect.errors.ParameterError: threshold must lie in (0, 1), got 2
    >>> check_range("epochs", 0, 1)
    Traceback (most recent call last):
    ...
    afdetect.errors.ParameterError: epochs must be at least 1, got 0
    """
    below = low is not None and (value <= low if low_open else value < low)
    above = high is not None and (value >= high if high_open else value > high)
    if not (below or above):
        return
    if high is None:
        bound = f"more than {low:g}" if low_open else f"at least {low:g}"
        message = f"{{{name}}} must be {bound}, got {value}"
    else:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        message = f"{{{name}}} must lie in {interval}, got {value}"
    raise ParameterError(message + detail)
