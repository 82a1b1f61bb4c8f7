"""Records in order, one process or several: the loop over records that ``predict`` runs.

:func:`iter_records` is that loop, whatever the number of jobs. With one job it streams
:func:`afdetect.detect.stream.iter_record_rows` (windows of consecutive records scored in
shared batches, chunk by chunk, flat memory). With more, a
:class:`~concurrent.futures.ProcessPoolExecutor` runs contiguous groups of records, each group
through the same batched stream in a worker. Each worker receives the predictor once, when it
starts (by ``fork`` on Linux, so the model is shared copy-on-write and loaded once; pickled
elsewhere), and runs torch on one thread, so ``N`` jobs use ``N`` cores without
oversubscription. A group's rows come back whole and are replayed record by record in input
order, so the output is the same as with one job; a record that fails in a worker raises the
same :class:`RecordError` when its rows are replayed, so one bad record never stops the others.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path
from typing import TypeVar

import pandas as pd

from afdetect.detect.predictor import Predictor
from afdetect.detect.rows import WindowRows
from afdetect.detect.stream import iter_record_rows
from afdetect.errors import AfdetectError, ParameterError, RecordError, internal_error

GROUPS_PER_JOB = 4
"""Groups of records each worker gets, about (smaller groups balance the load, larger ones batch better)."""

MAX_GROUP = 64
"""Most records a worker predicts as one task."""

STOP_TIMEOUT_S = 10.0
"""Longest wait (s) for a stopped pool's manager thread once its workers are terminated."""


_worker: dict[str, object] = {}
"""The work of this worker process (set by :func:`_init_worker`)."""


T = TypeVar("T")
Item = TypeVar("Item")


WorkerResult = tuple[list[WindowRows], tuple[str | None, str] | None]
"""A record's rows and, when it failed, ``(path, problem)`` of its :class:`RecordError`."""


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


def iter_records(
    predictor: Predictor,
    records: Sequence[Path],
    *,
    lead: str | int | None = None,
    jobs: int = 1,
    span_s: tuple[float, float] | None = None,
) -> Iterator[tuple[Path, Iterator[WindowRows]]]:
    """Yield ``(record, rows)`` for every record, in input order.

    Parameters
    ----------
    predictor : Predictor
        The window scorer and threshold.
    records : sequence of Path
        Records (paths without extension), as :func:`afdetect.io.find.find_records` gives.
    lead : str or int or None
        Lead of every record (default: lead II, else its first ECG lead; :func:`~afdetect.io.signals.select_lead`).
    jobs : int
        Worker processes; 1 (or a single record) predicts in this process.
    span_s : (float, float), optional
        Only the windows overlapping this part of each record (s from its start).

    Yields
    ------
    record : Path
        The record.
    rows : iterator of WindowRows
        Its per-window rows, chunk by chunk; iterating raises :class:`RecordError` (or the
        exception that failed the record) where the record fails, after the rows before it.
    """
    if jobs <= 1 or len(records) <= 1:
        yield from iter_record_rows(predictor, records, lead=lead, span_s=span_s)
        return
    size = max(1, min(MAX_GROUP, math.ceil(len(records) / (jobs * GROUPS_PER_JOB))))
    groups = [list(records[i : i + size]) for i in range(0, len(records), size)]
    work = partial(_predict_group, predictor, lead, span_s)
    for group, results in map_records(work, groups, jobs=jobs, died=_died):
        for record, (rows, error) in zip(group, results, strict=True):
            yield record, _replay(rows, error)


def iter_record_tables(
    predictor: Predictor,
    records: Sequence[Path],
    *,
    lead: str | int | None = None,
    jobs: int = 1,
    span_s: tuple[float, float] | None = None,
) -> Iterator[tuple[Path, Iterator[pd.DataFrame]]]:
    """:func:`iter_records` with each chunk's rows as a per-window DataFrame.

    Example
    -------
    >>> for record, tables in iter_record_tables(predictor, records, jobs=4):  # doctest: +SKIP
    ...     rows = sum(len(t) for t in tables)
    """
    for record, rows in iter_records(predictor, records, lead=lead, jobs=jobs, span_s=span_s):
        yield record, (chunk.to_frame() for chunk in rows)


def map_records(
    work: Callable[[Item], T], records: Sequence[Item], *, jobs: int, died: Callable[[Item], T]
) -> Iterator[tuple[Item, T]]:
    """``work(record)`` of every record (or group of records), in input order, ``jobs`` at a time in worker processes.

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
        else:  # stopped early (interrupt, --debug raise, a write error): do not wait for the queued records
            _stop(pool)


def _stop(pool: ProcessPoolExecutor) -> None:
    """Stop a pool at once: cancel the queued records, terminate the workers, then join the pool's
    manager thread (it sees the workers gone and closes its wake-up pipe). Left running, that
    thread races Python's exit hook, which writes to the same pipe as the thread closes it
    (``OSError: Bad file descriptor`` printed at exit, CPython gh-125451, fixed after 3.11)."""
    processes = _worker_processes(pool)
    manager = getattr(pool, "_executor_manager_thread", None)
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    if manager is not None:
        manager.join(timeout=STOP_TIMEOUT_S)


def _start_context() -> multiprocessing.context.BaseContext:
    """``fork`` on Linux (the model is shared, nothing is imported again), else ``spawn``."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _init_worker(work: Callable[[object], object]) -> None:
    """Worker start: one scoring thread (torch on one thread, where the parent scores with torch),
    Ctrl-C left to the parent, the work kept."""
    if "torch" in sys.modules:  # the CNN; the trees and the RR baseline import no torch
        from afdetect.detect.inference import set_inference_threads

        set_inference_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker["work"] = work


def _work_in_worker(record: object) -> object:
    return _worker["work"](record)  # type: ignore[operator]


def _predict_group(
    predictor: Predictor, lead: str | int | None, span_s: tuple[float, float] | None, group: list[Path]
) -> list[WorkerResult]:
    """The rows of each record of a group; a record's error is sent back as data."""
    results: list[WorkerResult] = []
    for record, record_rows in iter_record_rows(predictor, group, lead=lead, span_s=span_s):
        rows: list[WindowRows] = []
        try:
            rows.extend(record_rows)
        except AfdetectError as exc:
            results.append((rows, (exc.path, exc.problem)))
            continue
        except Exception as exc:  # any failure fails this record alone
            error = internal_error(record, exc)
            results.append((rows, (error.path, error.problem)))
            continue
        results.append((rows, None))
    return results


def _died(group: list[Path]) -> list[WorkerResult]:
    return [([], (str(record), "worker process died (killed, or out of memory?)")) for record in group]


def _replay(rows: list[WindowRows], error: tuple[str | None, str] | None) -> Iterator[WindowRows]:
    yield from rows
    if error is not None:
        raise RecordError(*error)


def _worker_processes(pool: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The pool's worker processes (no public API: its ``_processes`` table, stable since Python 3.8)."""
    processes = getattr(pool, "_processes", None) or {}
    return list(processes.values())
