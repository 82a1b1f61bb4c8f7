"""Many records at once: predict records in parallel worker processes, results in input order.

:func:`iter_record_tables` is the one loop over records that ``predict`` uses, whatever the
number of jobs. With one job it hands out :meth:`Predictor.iter_record` streams (chunk by
chunk, flat memory); with more, a :class:`~concurrent.futures.ProcessPoolExecutor` runs one
record per task. Each worker receives the predictor once, when it starts (by ``fork`` on
Linux, so the model is shared copy-on-write and loaded once; pickled elsewhere), and runs
torch on one thread, so ``N`` jobs use ``N`` cores without oversubscription. A record's
tables come back whole and are replayed in input order, so the output is the same as with
one job; a record that fails in a worker raises the same :class:`RecordError` when its
tables are replayed, so one bad record never stops the others.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TextIO, TypeVar

import pandas as pd

from afdetect.detect.predictor import WINDOW_COLUMNS, Predictor
from afdetect.errors import (
    EXIT_OK,
    EXIT_RECORD_FAILED,
    AfdetectError,
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
    on_record: Callable[[Path, pd.DataFrame], None] | None = None,
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
    ``on_record``, when given, receives each record's path and whole per-window table once
    the record is done (e.g. :meth:`afdetect.rhythm.burden.BurdenReport.add`); a ``RecordError`` it
    raises fails that record.

    Each input is resolved on its own, so a missing path or an empty folder fails only
    itself. Rows of a record that fails midway are taken back out of a file output (on
    stdout they cannot be; header, lead and length problems fail before any row).
    ``jobs`` > 1 predicts that many records at a time in worker processes
    (:func:`afdetect.detect.runs.iter_record_tables`); the output is the same, in input order.

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
        for done, (record, record_tables) in enumerate(
            iter_record_tables(predictor, records, lead=lead, jobs=jobs, span_s=span_s), start=1
        ):
            error = _write_record(handle, output, record, record_tables, on_record, can_rewind, output_format)
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
    record_tables: Iterator[pd.DataFrame],
    on_record: Callable[[Path, pd.DataFrame], None] | None,
    can_rewind: bool,
    output_format: str = "csv",
) -> RecordError | None:
    """Write one record's rows; return its error (its rows taken back out where possible), or ``None``.

    Any exception of the record (not only afdetect's own) fails that record alone; a
    :class:`UsageError` (a write error is an :class:`OutputError`) or a broken pipe stops the run.
    """
    mark = handle.tell() if can_rewind else None
    try:
        tables = []
        for table in record_tables:
            _write(handle, output, rows_text(table, output_format))
            if on_record is not None:
                tables.append(table)
        _write(handle, output, "")
        if on_record is not None:
            on_record(record, pd.concat(tables, ignore_index=True))
    except (UsageError, BrokenPipeError):  # the whole run is impossible (or its reader has gone)
        raise
    except Exception as exc:
        if mark is not None:
            handle.seek(mark)
            handle.truncate()
        return exc if isinstance(exc, RecordError) else internal_error(record, exc)
    return None


def rows_text(table: pd.DataFrame, output_format: str = "csv") -> str:
    """A per-window table's rows as text: CSV lines without header, or JSON lines (``jsonl``).

    Example
    -------
    >>> t = pd.DataFrame({"record": ["r"], "start_s": [0.0], "end_s": [30.0], "label": ["unreadable"],
    ...                   "p_af": [float("nan")], "problem": ["flat"]})
    >>> rows_text(t, "jsonl")
    '{"record":"r","start_s":0.0,"end_s":30.0,"label":"unreadable","p_af":null,"problem":"flat"}\\n'
    """
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


_worker: dict[str, object] = {}
"""The work of this worker process (set by :func:`_init_worker`)."""


T = TypeVar("T")


WorkerResult = tuple[list[pd.DataFrame], tuple[str | None, str] | None]
"""A record's tables and, when it failed, ``(path, problem)`` of its :class:`RecordError`."""


def resolve_jobs(jobs: int) -> int:
    """Worker processes for ``--jobs``: ``0`` means one per CPU core.

    Raises
    ------
    UsageError
        For a negative number.

    Example
    -------
    >>> resolve_jobs(2)
    2
    """
    if jobs < 0:
        raise ParameterError(f"{{jobs}} must be 0 (one per CPU core) or more, got {jobs}")
    return jobs or os.cpu_count() or 1


def iter_record_tables(
    predictor: Predictor,
    records: Sequence[Path],
    *,
    lead: str | int | None = None,
    jobs: int = 1,
    span_s: tuple[float, float] | None = None,
) -> Iterator[tuple[Path, Iterator[pd.DataFrame]]]:
    """Yield ``(record, tables)`` for every record, in input order.

    Parameters
    ----------
    predictor : Predictor
        The window scorer and threshold.
    records : sequence of Path
        Records (paths without extension), as :func:`afdetect.io.find.find_records` gives.
    lead : str or int or None
        Lead of every record (default: its first ECG lead).
    jobs : int
        Worker processes; 1 (or a single record) predicts in this process.
    span_s : (float, float), optional
        Only the windows overlapping this part of each record (s from its start).

    Yields
    ------
    record : Path
        The record.
    tables : iterator of pandas.DataFrame
        Its per-window tables, chunk by chunk; iterating raises :class:`RecordError` where
        the record fails, after the tables of the chunks before the failure.

    Example
    -------
    >>> for record, tables in iter_record_tables(predictor, records, jobs=4):  # doctest: +SKIP
    ...     rows = sum(len(t) for t in tables)
    """
    if jobs <= 1 or len(records) <= 1:
        for record in records:
            yield record, _record_tables(predictor, record, lead, span_s)
        return
    work = partial(_predict_tables, predictor, lead, span_s=span_s)
    for record, (tables, error) in map_records(work, records, jobs=jobs, died=_died):
        yield record, _replay(tables, error)


def map_records(
    work: Callable[[Path], T], records: Sequence[Path], *, jobs: int, died: Callable[[Path], T]
) -> Iterator[tuple[Path, T]]:
    """``work(record)`` of every record, in input order, ``jobs`` records at a time in worker processes.

    ``work`` reaches each worker once, when it starts (by ``fork`` on Linux: shared, not
    pickled); workers score on one thread and leave Ctrl-C to this process. ``work`` should
    return failures as data (exceptions of the package do not survive pickling); ``died``
    stands in for the result of a record whose worker process died.
    """
    # A forked child flushes the stdio buffers it inherits when it exits: empty them first.
    sys.stdout.flush()
    sys.stderr.flush()
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(records)),
        mp_context=_start_context(),
        initializer=_init_worker,
        initargs=(work,),
    )
    finished = False
    try:
        futures: list[Future[T]] = [pool.submit(_work_in_worker, record) for record in records]
        for record, future in zip(records, futures, strict=True):
            try:
                result = future.result()
            except BrokenProcessPool:
                result = died(record)
            yield record, result
        finished = True
    finally:
        if finished:
            pool.shutdown(wait=True)
        else:  # stopped early (interrupt, --debug raise): do not wait for the queued records
            processes = _worker_processes(pool)
            pool.shutdown(wait=False, cancel_futures=True)
            for process in processes:
                if process.is_alive():
                    process.terminate()


def _start_context() -> multiprocessing.context.BaseContext:
    """``fork`` on Linux (the model is shared, nothing is imported again), else ``spawn``."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _init_worker(work: Callable[[Path], object]) -> None:
    """Worker start: one scoring thread (torch on one thread, where the parent scores with torch),
    Ctrl-C left to the parent, the work kept."""
    if "torch" in sys.modules:  # the CNN; the trees and the RR baseline import no torch
        from afdetect.detect.inference import set_inference_threads

        set_inference_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker["work"] = work


def _work_in_worker(record: Path) -> object:
    return _worker["work"](record)  # type: ignore[operator]


def _predict_tables(
    predictor: Predictor, lead: str | int | None, record: Path, span_s: tuple[float, float] | None = None
) -> WorkerResult:
    """One record's tables; a :class:`RecordError` is sent back as data."""
    tables: list[pd.DataFrame] = []
    try:
        for table in _record_tables(predictor, record, lead, span_s):
            tables.append(table)
    except AfdetectError as exc:
        return tables, (exc.path, exc.problem)
    except Exception as exc:  # any failure fails this record alone
        error = internal_error(record, exc)
        return tables, (error.path, error.problem)
    return tables, None


def _record_tables(
    predictor: Predictor, record: Path, lead: str | int | None, span_s: tuple[float, float] | None
) -> Iterator[pd.DataFrame]:
    """``predictor.iter_record``; ``span_s`` is passed only when given (a subclass may not take it)."""
    if span_s is None:
        return predictor.iter_record(record, lead)
    return predictor.iter_record(record, lead, span_s=span_s)


def _died(record: Path) -> WorkerResult:
    return [], (str(record), "worker process died (killed, or out of memory?)")


def _replay(tables: list[pd.DataFrame], error: tuple[str | None, str] | None) -> Iterator[pd.DataFrame]:
    yield from tables
    if error is not None:
        raise RecordError(*error)


def _worker_processes(pool: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The pool's worker processes (no public API: its ``_processes`` table, stable since Python 3.8)."""
    processes = getattr(pool, "_processes", None) or {}
    return list(processes.values())
