"""Windows: cut a record into fixed, overlapping windows and stream them in batches.

Windows start every ``hop_s`` seconds and last ``window_s`` seconds. The record's tail
that no full window reaches gets one last zero-padded window, starting one hop after the
last full window, when it holds at least ``MIN_RECORD_S`` seconds of signal; a record
shorter than one window therefore yields exactly one padded window.

:func:`record_windows` streams a record as :class:`WindowBatch` chunks of conditioned windows
(record → windows), so memory stays flat on day-long records; labels for the windows come from
:mod:`afdetect.io.reference`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from afdetect.config import (
    DEFAULT_PREPROCESSING,
    HOP_S,
    MIN_RECORD_S,
    WINDOW_S,
    Preprocessing,
    window_samples,
)
from afdetect.errors import RecordError
from afdetect.io.header import RecordInfo
from afdetect.io.signals import read_signal
from afdetect.signal.conditioning import condition_windows


def window_starts(
    n_samples: int,
    fs: float,
    window_s: float = WINDOW_S,
    hop_s: float = HOP_S,
    min_record_s: float = MIN_RECORD_S,
) -> np.ndarray:
    """Start samples of the windows that cover a record.

    Parameters
    ----------
    n_samples : int
        Record length (samples).
    fs : float
        Sampling rate (Hz).
    window_s, hop_s : float
        Window length and hop (s).
    min_record_s : float
        Least signal (s) a padded window must hold.

    Returns
    -------
    numpy.ndarray
        int64 start samples, ascending; empty when the record is shorter than
        ``min_record_s``.

    Example
    -------
    >>> window_starts(300 * 70, fs=300).tolist()  # 70 s at 300 Hz
    [0, 4500, 9000, 13500]
    """
    if fs <= 0 or window_s <= 0 or hop_s <= 0:
        raise ValueError(f"fs, window_s and hop_s must be positive, got {fs}, {window_s}, {hop_s}")
    win = window_samples(fs, window_s)
    hop = max(int(round(hop_s * fs)), 1)
    min_len = int(round(min_record_s * fs))
    if n_samples < max(min_len, 1):
        return np.zeros(0, dtype=np.int64)
    n_full = (n_samples - win) // hop + 1 if n_samples >= win else 0
    starts = list(range(0, n_full * hop, hop))
    covered = starts[-1] + win if starts else 0
    tail_start = n_full * hop
    if covered < n_samples and n_samples - tail_start >= min_len:
        starts.append(tail_start)
    return np.asarray(starts, dtype=np.int64)


def cut_windows(signal: np.ndarray, starts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut ``signal`` into windows of ``length`` samples at ``starts``, zero-padding the tail.

    Returns
    -------
    windows : numpy.ndarray
        ``(len(starts), length)`` float32.
    valid : numpy.ndarray
        Number of real (unpadded) samples in each window.
    """
    signal = np.asarray(signal, dtype=np.float32)
    windows = np.zeros((len(starts), length), dtype=np.float32)
    valid = np.minimum(length, len(signal) - starts).astype(np.int64)
    for i, (start, n) in enumerate(zip(starts, valid, strict=True)):
        windows[i, :n] = signal[start : start + n]
    return windows, valid


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


@dataclass(frozen=True)
class RawChunk:
    """Consecutive windows of one record as read, before conditioning.

    Attributes
    ----------
    fs : float
        Sampling rate of the record (Hz).
    starts : numpy.ndarray
        Window start samples (from the record start).
    windows : numpy.ndarray
        ``(n, window samples at fs)`` float32 mV, the tail zero-padded (:func:`cut_windows`).
    valid : numpy.ndarray
        Real (unpadded) samples in each window.
    """

    fs: float
    starts: np.ndarray
    windows: np.ndarray
    valid: np.ndarray


def record_windows(
    info: RecordInfo,
    lead_index: int,
    *,
    preprocessing: Preprocessing = DEFAULT_PREPROCESSING,
    chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
    span_s: tuple[float, float] | None = None,
) -> Iterator[WindowBatch]:
    """Stream a record's conditioned windows, ``chunk_windows`` at a time.

    Windows, rate and band-pass are those of ``preprocessing`` (a model's: see
    :attr:`afdetect.detect.predictor.Predictor.preprocessing`).

    ``span_s = (begin, end)`` (s) keeps only the windows that overlap ``[begin, end)``, on
    the record's own window grid (the same windows, with the same values, as a whole pass).

    Raises
    ------
    RecordError
        When the record is shorter than ``MIN_RECORD_S``, no window overlaps ``span_s``, or
        its signal cannot be read.

    Example
    -------
    >>> info = read_header("../shared/data/cinc2017/A00001")  # doctest: +SKIP
    >>> [b.x.shape for b in record_windows(info, 0)]  # doctest: +SKIP
    [(1, 3840)]
    """
    for chunk in record_chunks(
        info, lead_index, preprocessing=preprocessing, chunk_windows=chunk_windows, span_s=span_s
    ):
        yield condition_chunks([chunk], preprocessing)[0]


def record_chunks(
    info: RecordInfo,
    lead_index: int,
    *,
    preprocessing: Preprocessing = DEFAULT_PREPROCESSING,
    chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
    span_s: tuple[float, float] | None = None,
) -> Iterator[RawChunk]:
    """A record's windows as read, ``chunk_windows`` at a time: :func:`record_windows` before conditioning.

    Raises
    ------
    RecordError
        As :func:`record_windows`.
    """
    window_s = preprocessing.window_s
    starts = window_starts(info.n_samples, info.fs, window_s, preprocessing.hop_s)
    if len(starts) == 0:
        raise RecordError(
            info.path.with_suffix(".hea"),
            f"record is {info.duration_s:.1f} s long, shorter than the {MIN_RECORD_S:g} s minimum",
        )
    win = window_samples(info.fs, window_s)
    if span_s is not None:
        begin, end = span_s[0] * info.fs, span_s[1] * info.fs
        starts = starts[(starts < end) & (np.minimum(starts + win, info.n_samples) > begin)]
        if len(starts) == 0:
            raise RecordError(
                info.path.with_suffix(".hea"),
                f"no window overlaps {span_s[0]:g} s to {'the end' if np.isinf(span_s[1]) else f'{span_s[1]:g} s'}"
                f" (the record is {info.duration_s:.1f} s long)",
            )
    for i in range(0, len(starts), chunk_windows):
        chunk = starts[i : i + chunk_windows]
        first, stop = int(chunk[0]), min(int(chunk[-1]) + win, info.n_samples)
        signal = read_signal(info, lead_index, first, stop)
        windows, valid = cut_windows(signal, chunk - first, win)
        yield RawChunk(info.fs, chunk, windows, valid)


def condition_chunks(
    chunks: Sequence[RawChunk], preprocessing: Preprocessing = DEFAULT_PREPROCESSING
) -> list[WindowBatch]:
    """Condition chunks of any records together (one call per sampling rate): a batch per chunk.

    Every window is conditioned on its own, so the values are those of conditioning each chunk
    alone; many short records then pay the conditioning's per-call cost once.
    """
    batches: list[WindowBatch | None] = [None] * len(chunks)
    groups: dict[tuple[float, int], list[int]] = {}
    for index, chunk in enumerate(chunks):
        groups.setdefault((chunk.fs, chunk.windows.shape[1]), []).append(index)
    for (fs, _), members in groups.items():
        windows = (
            np.concatenate([chunks[i].windows for i in members]) if len(members) > 1 else chunks[members[0]].windows
        )
        valid = np.concatenate([chunks[i].valid for i in members]) if len(members) > 1 else chunks[members[0]].valid
        x, problems = condition_windows(
            windows, valid, fs, fs_out=preprocessing.model_fs, band=preprocessing.bandpass_hz
        )
        at = 0
        for i in members:
            chunk, n = chunks[i], len(chunks[i].starts)
            batches[i] = WindowBatch(
                chunk.starts / fs, (chunk.starts + chunk.valid) / fs, x[at : at + n], problems[at : at + n]
            )
            at += n
    return batches  # type: ignore[return-value]


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

    def hand_over(entry: tuple[object, BaseException | None]) -> bool:
        """Put ``entry`` in the queue unless the consumer has stopped (never blocks for good)."""
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not hand_over((item, None)):
                    return
            hand_over((_DONE, None))
        except BaseException as exc:  # handed to the consumer, raised there
            hand_over((_DONE, exc))

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
