"""Predict many records into one per-window output: CSV or JSON lines, atomic, failures kept apart.

:func:`predict_to_csv` resolves the inputs, checks outputs against them, and writes each
record's rows as one unit from :func:`afdetect.detect.jobs.iter_records` (windows of many
records scored in shared batches; ``jobs`` worker processes when asked): a record that fails
has its rows taken back out and is reported alone.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import pandas as pd

from afdetect.detect.jobs import iter_records
from afdetect.detect.predictor import WINDOW_COLUMNS, Predictor
from afdetect.detect.rows import WindowRows
from afdetect.errors import (
    EXIT_OK,
    EXIT_RECORD_FAILED,
    ParameterError,
    RecordError,
    UsageError,
    internal_error,
)
from afdetect.io.atomic import atomic_open, check_outputs_apart, check_writable, is_special_file, write_error
from afdetect.io.find import find_records
from afdetect.io.record import input_files

OUTPUT_FORMATS = ("csv", "jsonl")
"""Per-window output formats: CSV under a header line, or one JSON object per line."""


@dataclass(frozen=True)
class PredictionRun:
    """What :func:`predict_to_csv` did: records attempted (found or not) and records failed."""

    records: int
    failed: int

    @property
    def succeeded(self) -> int:
        """Records written."""
        return self.records - self.failed

    @property
    def exit_code(self) -> int:
        """0 when every record succeeded, 1 when some failed."""
        return EXIT_RECORD_FAILED if self.failed else EXIT_OK


def predict_to_csv(
    predictor: Predictor,
    inputs: Sequence[str],
    output: str,
    *,
    lead: str | int | None = None,
    recursive: bool = False,
    jobs: int = 1,
    on_record: Callable[[Path, WindowRows], None] | None = None,
    on_error: Callable[[RecordError], None] | None = None,
    also_writes: Sequence[str | Path | None] = (),
    record_outputs: Callable[[Path], Path | None] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    output_format: str = "csv",
    span_s: tuple[float, float] | None = None,
) -> PredictionRun:
    """Predict every record of ``inputs`` into one CSV (``-`` = stdout).

    A record that fails is handed to ``on_error`` and skipped; the others are still
    written. ``on_error`` may raise (the CLI's ``--debug`` re-raises the first failure).
    A file output is written atomically: it appears under its name only once complete.
    ``on_record``, when given, receives each record's path and all its rows
    (:class:`~afdetect.detect.rows.WindowRows`; ``.to_frame()`` gives the per-window table) once
    the record is done (e.g. :meth:`afdetect.rhythm.burden.BurdenReport.add`); a ``RecordError`` it
    raises fails that record.

    Each input is resolved on its own, so a missing path or an empty folder fails only
    itself. Rows of a record that fails midway are taken back out of a file output (on
    stdout they cannot be; header, lead and length problems fail before any row).
    Windows of consecutive records are scored in shared batches
    (:func:`afdetect.detect.stream.iter_record_rows`); ``jobs`` > 1 predicts groups of records in
    that many worker processes (:func:`afdetect.detect.jobs.iter_records`); the output is the
    same, in input order.

    Before any record is read, ``output``, the other files the caller will write
    (``also_writes``) and each record's own output (``record_outputs(record)``, e.g. its
    annotation file) are checked against the records' files: one that would replace an input
    raises :class:`UsageError`. No output file is left when no record succeeds.

    ``output_format`` ``"jsonl"`` writes one JSON object per window (keys ``WINDOW_COLUMNS``,
    ``p_af`` ``null`` for unreadable windows) instead of CSV rows under a header line.

    ``span_s = (begin, end)`` predicts only the windows that overlap that part of each record
    (s from its start; see :meth:`Predictor.iter_record`).

    ``on_progress(done, total)``, when given, is called once the records are found
    (``done`` 0) and after each record, failed or not.

    Example
    -------
    >>> run = predict_to_csv(predictor, ["rec"], "out.csv", on_error=print)  # doctest: +SKIP
    >>> run.exit_code  # doctest: +SKIP
    0
    """
    if output_format not in OUTPUT_FORMATS:
        raise ParameterError(f"{{output_format}} must be one of {', '.join(OUTPUT_FORMATS)}, got {output_format!r}")
    if output != "-":
        check_writable(output)
    found: dict[Path, None] = {}
    unresolved = 0
    for item in inputs:
        try:
            found.update(dict.fromkeys(find_records([item], recursive)))
        except RecordError as exc:
            unresolved += 1
            if on_error is not None:
                on_error(exc)
    records, failed = list(found), unresolved
    per_record = [record_outputs(record) for record in records] if record_outputs is not None else []
    check_outputs_apart([output, *also_writes, *per_record], input_files(records))
    # A failed record's rows are taken back out of a regular output file (written to a
    # temporary file first); stdout and special files (/dev/null, a FIFO) cannot be rewound.
    can_rewind = output != "-" and not is_special_file(output)
    with contextlib.suppress(_NothingWrittenError), _csv_sink(output) as handle:
        if output_format == "csv":
            _write(handle, output, ",".join(WINDOW_COLUMNS) + "\n")
        progress = on_progress or (lambda done, total: None)
        progress(0, len(records))
        for done, (record, record_rows) in enumerate(
            iter_records(predictor, records, lead=lead, jobs=jobs, span_s=span_s), start=1
        ):
            error = _write_record(handle, output, record, record_rows, on_record, can_rewind, output_format)
            if error is not None:
                failed += 1
                if on_error is not None:
                    on_error(error)
            progress(done, len(records))
        if can_rewind and failed == len(records) + unresolved:
            raise _NothingWrittenError  # no record succeeded: leave no header-only file behind
    return PredictionRun(len(records) + unresolved, failed)


class _NothingWrittenError(Exception):
    """Raised inside the output's ``with`` block to discard its temporary file."""


def _write_record(
    handle: TextIO,
    output: str,
    record: Path,
    record_rows: Iterator[WindowRows],
    on_record: Callable[[Path, WindowRows], None] | None,
    can_rewind: bool,
    output_format: str = "csv",
) -> RecordError | None:
    """Write one record's rows; return its error (its rows taken back out where possible), or ``None``.

    Any exception of the record (not only afdetect's own) fails that record alone; a
    :class:`UsageError` (a write error is an :class:`OutputError`) or a broken pipe stops the run.
    """
    mark = handle.tell() if can_rewind else None
    try:
        chunks = []
        for rows in record_rows:
            _write(handle, output, rows.text(output_format))
            if on_record is not None:
                chunks.append(rows)
        _write(handle, output, "")
        if on_record is not None and chunks:
            on_record(record, WindowRows.concat(chunks))
    except (UsageError, BrokenPipeError):  # the whole run is impossible (or its reader has gone)
        raise
    except Exception as exc:
        if mark is not None:
            handle.seek(mark)
            handle.truncate()
        return exc if isinstance(exc, RecordError) else internal_error(record, exc)
    return None


def rows_text(table: pd.DataFrame | WindowRows, output_format: str = "csv") -> str:
    """A per-window table's rows as text: CSV lines without header, or JSON lines (``jsonl``).

    Example
    -------
    >>> t = pd.DataFrame({"record": ["r"], "start_s": [0.0], "end_s": [30.0], "label": ["unreadable"],
    ...                   "p_af": [float("nan")], "problem": ["flat"]})
    >>> rows_text(t, "jsonl")
    '{"record":"r","start_s":0.0,"end_s":30.0,"label":"unreadable","p_af":null,"problem":"flat"}\\n'
    """
    if isinstance(table, WindowRows):
        return table.text(output_format)
    if output_format == "jsonl":
        rows = table.astype(object).where(table.notna(), None).to_dict("records")
        return "".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows)
    return table.to_csv(header=False, index=False, lineterminator="\n")


def _write(handle: TextIO, output: str, text: str) -> None:
    """Write and flush ``text``; a write error becomes :class:`OutputError` (a broken pipe stays one)."""
    try:
        if text:
            handle.write(text)
        handle.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise write_error(output, exc) from None


@contextlib.contextmanager
def _csv_sink(output: str) -> Iterator[TextIO]:
    if output == "-":
        yield sys.stdout
    else:
        with atomic_open(output, newline="") as handle:
            yield handle
