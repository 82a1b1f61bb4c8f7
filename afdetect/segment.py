"""Segmenters: cut a record into fixed windows and label each window.

Windows start every ``hop_s`` seconds and last ``window_s`` seconds. The record's tail
that no full window reaches gets one last zero-padded window, starting one hop after the
last full window, when it holds at least ``MIN_RECORD_S`` seconds of signal; a record
shorter than one window therefore yields exactly one padded window. Window labels from
rhythm intervals:

* AF (1) when at least ``AF_MIN_FRACTION`` of the window's signal lies in AF;
* non-AF (0) when at most ``NON_AF_MAX_FRACTION`` lies in AF and none in atrial flutter;
* ``IGNORE_LABEL`` (-1) otherwise: the window straddles a rhythm change or touches
  flutter (flutter is neither AF nor clean non-AF, and EC57 leaves it out of AF
  statistics). Such windows are kept out of training and window-level metrics.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from afdetect.config import (
    AF_MIN_FRACTION,
    AF_RHYTHMS,
    FLUTTER_RHYTHMS,
    HOP_S,
    IGNORE_LABEL,
    MIN_RECORD_S,
    NON_AF_MAX_FRACTION,
    WINDOW_S,
    window_samples,
)
from afdetect.records import RhythmInterval


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


def af_fractions(
    start_s: np.ndarray, end_s: np.ndarray, intervals: Sequence[RhythmInterval]
) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of each window ``[start_s, end_s)`` spent in AF and in atrial flutter."""
    start_s, end_s = np.asarray(start_s, float), np.asarray(end_s, float)
    duration = np.maximum(end_s - start_s, 1e-9)
    af = np.zeros(len(start_s))
    flutter = np.zeros(len(start_s))
    for iv in intervals:
        overlap = np.clip(np.minimum(end_s, iv.end_s) - np.maximum(start_s, iv.start_s), 0, None)
        if iv.rhythm in AF_RHYTHMS:
            af += overlap
        elif iv.rhythm in FLUTTER_RHYTHMS:
            flutter += overlap
    return af / duration, flutter / duration


def label_windows(start_s: np.ndarray, end_s: np.ndarray, intervals: Sequence[RhythmInterval]) -> np.ndarray:
    """Label windows from rhythm intervals: 1 AF, 0 non-AF, ``IGNORE_LABEL`` mixed/flutter.

    Example
    -------
    >>> from afdetect.records import RhythmInterval
    >>> ivs = [RhythmInterval(0, 40, "(N"), RhythmInterval(40, 100, "(AFIB")]
    >>> label_windows(np.array([0, 15, 30, 45]), np.array([30, 45, 60, 75]), ivs).tolist()
    [0, -1, -1, 1]
    """
    af, flutter = af_fractions(start_s, end_s, intervals)
    labels = np.full(len(af), IGNORE_LABEL, dtype=np.int64)
    labels[(af >= AF_MIN_FRACTION)] = 1
    labels[(af <= NON_AF_MAX_FRACTION) & (flutter == 0)] = 0
    return labels
