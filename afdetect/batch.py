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

import multiprocessing
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from afdetect.errors import RecordError, UsageError

if TYPE_CHECKING:
    from afdetect.predict import Predictor

_worker: dict[str, object] = {}
"""The predictor and lead of this worker process (set by :func:`_init_worker`)."""

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
        raise UsageError(None, f"--jobs must be 0 (one per CPU core) or more, got {jobs}")
    return jobs or os.cpu_count() or 1


def iter_record_tables(
    predictor: Predictor, records: Sequence[Path], lead: str | int | None = None, jobs: int = 1
) -> Iterator[tuple[Path, Iterator[pd.DataFrame]]]:
    """Yield ``(record, tables)`` for every record, in input order.

    Parameters
    ----------
    predictor : Predictor
        The window scorer and threshold.
    records : sequence of Path
        Records (paths without extension), as :func:`afdetect.records.find_records` gives.
    lead : str or int or None
        Lead of every record (default: its first ECG lead).
    jobs : int
        Worker processes; 1 (or a single record) predicts in this process.

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
            yield record, predictor.iter_record(record, lead)
        return
    # A forked child flushes the stdio buffers it inherits when it exits: empty them first.
    sys.stdout.flush()
    sys.stderr.flush()
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(records)),
        mp_context=_start_context(),
        initializer=_init_worker,
        initargs=(predictor, lead),
    )
    finished = False
    try:
        futures: list[Future[WorkerResult]] = [pool.submit(_predict_in_worker, record) for record in records]
        for record, future in zip(records, futures, strict=True):
            try:
                tables, error = future.result()
            except BrokenProcessPool:
                tables, error = [], (str(record), "worker process died (killed, or out of memory?)")
            yield record, _replay(tables, error)
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


def _init_worker(predictor: Predictor, lead: str | int | None) -> None:
    """Worker start: one scoring thread (torch on one thread), Ctrl-C left to the parent, the predictor kept."""
    from afdetect.inference import set_inference_threads

    set_inference_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker["predictor"], _worker["lead"] = predictor, lead


def _predict_in_worker(record: Path) -> WorkerResult:
    """One record's tables in a worker; a :class:`RecordError` is sent back as data."""
    predictor: Predictor = _worker["predictor"]  # type: ignore[assignment]
    tables: list[pd.DataFrame] = []
    try:
        for table in predictor.iter_record(record, _worker["lead"]):  # type: ignore[arg-type]
            tables.append(table)
    except RecordError as exc:
        return tables, (exc.path, exc.problem)
    return tables, None


def _replay(tables: list[pd.DataFrame], error: tuple[str | None, str] | None) -> Iterator[pd.DataFrame]:
    yield from tables
    if error is not None:
        raise RecordError(*error)


def _worker_processes(pool: ProcessPoolExecutor) -> list[multiprocessing.process.BaseProcess]:
    """The pool's worker processes (no public API: its ``_processes`` table, stable since Python 3.8)."""
    processes = getattr(pool, "_processes", None) or {}
    return list(processes.values())
