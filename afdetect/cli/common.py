"""Shared pieces of the command line: options used by several commands, error and progress output.

Library errors name parameters (:class:`~afdetect.errors.ParameterError`); :func:`error_message`
shows them as the flags that set them.
"""

from __future__ import annotations

import dataclasses
import inspect
import io
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar, get_type_hints

import click
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from afdetect.cli.tables import fmt_duration
from afdetect.config import RR_THRESHOLD
from afdetect.errors import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_RECORD_FAILED,
    AfdetectError,
    ParameterError,
    UsageError,
    check_range,
    internal_error,
)

err = Console(stderr=True)


T = TypeVar("T")


METHOD_HELP = (
    "Default: trees, or cnn when --variant or .pt --weights are given."
    " cnn: CNN weights (ECGCNN or the signal ResNet); rr: the classical RR-irregularity baseline"
    f" (R peaks + COSEn/turning points/heart rate; no weights, default threshold {RR_THRESHOLD};"
    " --weights then only gives eval's --split records);"
    " trees: gradient-boosted trees on rhythm and atrial-activity features (--weights: a trees file,"
    " default the shipped one);"
    " blend: the shipped trees and a four-class CNN averaged in log-odds relative to their own thresholds"
    " (--weights: the CNN, default the shipped signal ResNet)."
)


# Options shared by several commands (one definition each).
WeightsOption = Annotated[
    Path | None,
    typer.Option(help="Weights (.pt: the CNN) or trees (.json) file (default: the shipped one of the method)."),
]


VariantOption = Annotated[
    str | None,
    typer.Option(
        help="CNN variant se, l, se-rhythm, se-rhythm-head or resnet (implies --method cnn): the shipped weights to"
        " use (se when --method cnn names none), or the one --weights must hold."
    ),
]


LeadOption = Annotated[
    str | None,
    typer.Option(help="Lead name or 0-based index (default: lead II when the record has it, else its first ECG lead)."),
]


ThresholdOption = Annotated[float | None, typer.Option(help="AF threshold on p_af (default: the weights' own).")]


ThreadsOption = Annotated[int | None, typer.Option(help="CPU threads to use (default: one per core).")]


MethodOption = Annotated[str | None, typer.Option(metavar="cnn|rr|trees|blend", help=METHOD_HELP)]


JobsOption = Annotated[
    int,
    typer.Option(
        "--jobs", "-j", help="Worker processes for many records (0: one per core; a single record runs in one)."
    ),
]


state = {"debug": False}


ERRORS_SHOWN = 20
"""Failed or skipped records named one by one on stderr; the rest are counted."""


FLAGS: dict[str, str] = {
    "start_s": "--start",
    "duration_s": "--duration",
    "extension": "--annotate",
    "out_dir": "--annotate-dir",
    "output_format": "--format",  # only the annotation writer names it in an error
}
"""Library parameter names whose flag is not ``--`` plus the name with ``-`` for ``_``."""


def flag_of(parameter: str) -> str:
    """The CLI flag of a library parameter (``batch_size`` → ``--batch-size``)."""
    return FLAGS.get(parameter, "--" + parameter.replace("_", "-"))


def error_message(exc: Exception) -> str:
    """An error's message, with library parameter names shown as the flags that set them."""
    return exc.reworded(flag_of) if isinstance(exc, ParameterError) else str(exc)


def run_action(action: Callable[[], T]) -> T:
    """Run ``action``; turn afdetect errors into a one-line message and an exit code."""
    try:
        return action()
    except AfdetectError as exc:
        if state["debug"]:
            raise
        err.print(f"[red]error:[/red] {escape(error_message(exc))}", highlight=False, soft_wrap=True, emoji=False)
        raise typer.Exit(exc.exit_code) from None
    except KeyboardInterrupt:
        err.print("[red]interrupted[/red]")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except BrokenPipeError:  # `... -o - | head`: the reader has gone; end quietly, as on SIGPIPE
        silence_stdout()
        raise typer.Exit(EXIT_BROKEN_PIPE) from None
    except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
        raise
    except Exception as exc:  # not afdetect's own: one line and a hint, not a traceback
        if state["debug"]:
            raise
        print_error(internal_error(None, exc))
        raise typer.Exit(EXIT_RECORD_FAILED) from None


def silence_stdout() -> None:
    """Point standard output at /dev/null, so flushing it at exit raises no second broken pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, io.UnsupportedOperation):  # not a real file (a test runner's stream)
        pass


def print_error(exc: AfdetectError) -> None:
    """One ``error:`` line on stderr; with ``--debug`` the error is raised instead."""
    if state["debug"]:
        raise exc
    err.print(f"[red]error:[/red] {escape(error_message(exc))}", highlight=False, soft_wrap=True, emoji=False)


class ErrorLines:
    """:func:`print_error` for the first ``limit`` failed records of a run, then a count of the rest.

    Example
    -------
    >>> errors = ErrorLines(limit=20)  # doctest: +SKIP
    >>> predict_to_csv(predictor, records, "out.csv", on_error=errors)  # doctest: +SKIP
    >>> errors.finish()  # "... and 9980 more errors"  # doctest: +SKIP
    """

    def __init__(self, limit: int = ERRORS_SHOWN) -> None:
        self.limit, self.count = limit, 0

    def __call__(self, exc: AfdetectError) -> None:
        self.count += 1
        if self.count <= self.limit or state["debug"]:
            print_error(exc)

    def finish(self) -> None:
        """Say how many errors were not shown."""
        if self.count > self.limit:
            err.print(f"[red]... and {self.count - self.limit} more errors[/red]", highlight=False)


def progress_bar(console: Console | None = None) -> Progress:
    """A transient rich progress bar on stderr (``console``)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console or err,
        transient=True,
    )


PROGRESS_INTERVAL_S = 10.0
"""Seconds between plain progress lines when stderr is not a terminal."""


FromOption = Annotated[
    str | None,
    typer.Option(
        "--from",
        "-f",
        metavar="TIME",
        help="Analyse from this time (s, m:ss or h:mm:ss from the record start), as rdsamp -f.",
    ),
]


ToOption = Annotated[
    str | None,
    typer.Option("--to", "-t", metavar="TIME", help="Analyse up to this time (s, m:ss or h:mm:ss), as rdsamp -t."),
]


QuietOption = Annotated[bool, typer.Option("--quiet/--no-quiet", "-q", help="No progress output on stderr.")]


class RunProgress:
    """Records done / total on stderr: a rich bar on a terminal, else a plain line every ``interval_s``.

    Call it as ``progress(done, total)``; off a terminal the first call (``done`` 0) prints
    nothing, and the last (``done == total``) always prints its line. ``quiet`` prints nothing.

    Example
    -------
    >>> with RunProgress("predict") as progress:  # doctest: +SKIP
    ...     predict_to_csv(predictor, records, "out.csv", on_progress=progress)
    """

    def __init__(self, label: str, *, quiet: bool = False, console: Console | None = None) -> None:
        self.label, self.quiet, self.console = label, quiet, console or err
        self.start = self.last = time.monotonic()
        self.bar: Progress | None = None
        self.task: int | None = None
        self.done = self.total = 0

    def __enter__(self) -> RunProgress:
        if not self.quiet and self.console.is_terminal:
            self.bar = progress_bar(self.console)
            self.bar.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def advance(self) -> None:
        """One more record done (of the last ``total`` given)."""
        self(self.done + 1, self.total)

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self.quiet:
            return
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task(self.label, total=total)
            self.bar.update(self.task, completed=done, total=total)
            return
        now = time.monotonic()
        if done > 0 and (done == total or now - self.last >= PROGRESS_INTERVAL_S):
            self.last = now
            elapsed = fmt_duration(now - self.start)
            self.console.print(
                f"{self.label}: {done}/{total} records, {elapsed} elapsed", highlight=False, soft_wrap=True
            )


def parse_time(text: str, flag: str) -> float:
    """Seconds from ``90``, ``90.5``, ``1:30`` (m:ss) or ``1:02:07.5`` (h:mm:ss), as ``rdsamp -f/-t`` take them.

    Example
    -------
    >>> parse_time("1:02:07.5", "--from"), parse_time("90", "--to")
    (3727.5, 90.0)
    """
    parts = text.strip().split(":")
    try:
        if len(parts) > 3 or any(not part.strip() for part in parts):
            raise ValueError(text)
        seconds = 0.0
        for part in parts:
            seconds = seconds * 60 + float(part)
    except ValueError:
        raise UsageError(None, f"{flag}: expected seconds, m:ss or h:mm:ss, got {text!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise UsageError(None, f"{flag}: expected a time from the record start (>= 0), got {text!r}")
    return seconds


def parse_span(begin: str | None, end: str | None) -> tuple[float, float] | None:
    """``(--from, --to)`` in s (``None`` when neither is given; open end: infinity)."""
    if begin is None and end is None:
        return None
    span = (0.0 if begin is None else parse_time(begin, "--from"), math.inf if end is None else parse_time(end, "--to"))
    if span[1] <= span[0]:
        raise UsageError(None, f"--to ({end}) must come after --from ({begin})")
    return span


def config_options(config_class: type) -> list[inspect.Parameter]:
    """Typer options of a config dataclass: one per field with a ``help``, its default the field's."""
    hints = get_type_hints(config_class)
    options = []
    for f in dataclasses.fields(config_class):
        if "help" not in f.metadata:
            continue
        option = typer.Option(*f.metadata["flags"], help=f.metadata["help"])
        default = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        options.append(
            inspect.Parameter(
                f.name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=Annotated[hints[f.name], option]
            )
        )
    return options


def with_config_options(command: Callable[..., None], config_class: type) -> Callable[..., None]:
    """``command(*, <its own options>, **options)`` with one option per config field in place of ``**options``."""
    hints = get_type_hints(command, include_extras=True)
    own = [
        p.replace(annotation=hints[p.name])
        for p in inspect.signature(command).parameters.values()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    command.__signature__ = inspect.Signature([*config_options(config_class), *own])  # type: ignore[attr-defined]
    return command


def report_skipped(failures: list[str], total: int, limit: int = ERRORS_SHOWN) -> None:
    """One stderr line per skipped record (the first ``limit``), then the count."""
    for line in failures[:limit]:
        err.print(f"[yellow]skipped:[/yellow] {escape(line)}", highlight=False, soft_wrap=True, emoji=False)
    if len(failures) > limit:
        err.print(f"[yellow]... and {len(failures) - limit} more skipped records[/yellow]")
    if failures:
        err.print(f"{len(failures)} of {total} records skipped", highlight=False)


def report_left_out(left_out: list[dict[str, str]], limit: int = ERRORS_SHOWN) -> None:
    """One stderr line per record read but left out of the metrics (the first ``limit``), with the reason."""
    for item in left_out[:limit]:
        line = f"left out of the metrics: {item['record']}: {item['reason']}"
        err.print(escape(line), highlight=False, soft_wrap=True, emoji=False)
    if len(left_out) > limit:
        err.print(f"... and {len(left_out) - limit} more left out (metrics.json lists all)", highlight=False)


def use_threads(method: str, threads: int | None) -> None:
    """Set the CNN's scoring threads (``--threads``) for the methods that run one (``cnn``, ``blend``);
    the others import no torch, the value is only checked."""
    if method in ("cnn", "blend"):
        from afdetect.detect.inference import set_inference_threads

        set_inference_threads(threads)
    elif threads is not None:
        check_range("threads", threads, 1)
