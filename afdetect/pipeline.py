"""Record → windows: the one path from a WFDB record to model-ready windows.

Used by ``preprocess`` (training cache), ``eval`` and ``predict``. Windows are read in
chunks (``wfdb`` ``sampfrom``/``sampto``) and each window is conditioned on its own, so
memory stays flat however long the record is and the result does not depend on the chunk
size.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from afdetect.config import HOP_S, MIN_RECORD_S, WINDOW_S, window_samples
from afdetect.errors import RecordError
from afdetect.records import RecordInfo, read_signal
from afdetect.segment import cut_windows, window_starts
from afdetect.transforms import condition_windows

DEFAULT_CHUNK_WINDOWS = 256
"""Windows read and conditioned per chunk (256 × 15 s hop ≈ 1 h of signal)."""


@dataclass(frozen=True)
class WindowBatch:
    """Consecutive windows of one record.

    Attributes
    ----------
    start_s, end_s : numpy.ndarray
        Window start and end of real signal (s from record start).
    x : numpy.ndarray
        ``(n, window samples at MODEL_FS)`` float32 model input.
    problems : list of str or None
        Per window, why it is unreadable, or ``None``.
    """

    start_s: np.ndarray
    end_s: np.ndarray
    x: np.ndarray
    problems: list[str | None]


def record_windows(
    info: RecordInfo,
    lead_index: int,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
    chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
    span_s: tuple[float, float] | None = None,
) -> Iterator[WindowBatch]:
    """Stream a record's conditioned windows, ``chunk_windows`` at a time.

    ``span_s = (begin, end)`` (s) keeps only the windows that overlap ``[begin, end)``, on
    the record's own window grid (the same windows, with the same values, as a whole pass).

    Raises
    ------
    RecordError
        When the record is shorter than ``MIN_RECORD_S`` or its signal cannot be read.

    Example
    -------
    >>> info = read_header("../shared/data/cinc2017/A00001")  # doctest: +SKIP
    >>> [b.x.shape for b in record_windows(info, 0)]  # doctest: +SKIP
    [(1, 3840)]
    """
    starts = window_starts(info.n_samples, info.fs, window_s, hop_s)
    if len(starts) == 0:
        raise RecordError(
            info.path.with_suffix(".hea"),
            f"record is {info.duration_s:.1f} s long, shorter than the {MIN_RECORD_S:g} s minimum",
        )
    win = window_samples(info.fs, window_s)
    if span_s is not None:
        begin, end = span_s[0] * info.fs, span_s[1] * info.fs
        starts = starts[(starts < end) & (np.minimum(starts + win, info.n_samples) > begin)]
    for i in range(0, len(starts), chunk_windows):
        chunk = starts[i : i + chunk_windows]
        first, stop = int(chunk[0]), min(int(chunk[-1]) + win, info.n_samples)
        signal = read_signal(info, lead_index, first, stop)
        windows, valid = cut_windows(signal, chunk - first, win)
        x, problems = condition_windows(windows, valid, info.fs)
        yield WindowBatch(chunk / info.fs, (chunk + valid) / info.fs, x, problems)


T = TypeVar("T")
_DONE = object()


def prefetch(items: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Produce ``items`` in a background thread, up to ``depth`` ahead of the consumer.

    Reading and conditioning the next chunk (NumPy, which releases the GIL in array operations) then
    overlaps with the model scoring the current one. Items arrive in order; an exception
    raised while producing is re-raised to the consumer at the same point; a consumer
    that stops early stops the producer.

    Example
    -------
    >>> list(prefetch(range(3)))
    [0, 1, 2]
    """
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        slots.put((item, None), timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put((_DONE, exc))

    worker = threading.Thread(target=produce, name="afdetect-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, error = slots.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
