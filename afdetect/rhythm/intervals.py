"""Interval arithmetic on time spans (s): ownership of overlapping windows, stretches, unions, overlaps.

Shared by AF episodes (:mod:`afdetect.rhythm.episodes`), EC57 statistics
(:mod:`afdetect.evaluate.ec57`) and the figures (:mod:`afdetect.viz.plots`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    pass


EPS_S = 1e-6
"""Tolerance (s) of time comparisons, far below the 1 ms rounding of table times."""


def owned_spans(start_s: np.ndarray, end_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stretch of time each window owns (see module docstring).

    Parameters
    ----------
    start_s, end_s : numpy.ndarray
        Window starts and ends of real signal (s), sorted by start.

    Returns
    -------
    own_start, own_end : numpy.ndarray
        Owned span of each window (s); consecutive spans touch, the first starts at
        ``start_s[0]`` and the last ends at ``max(end_s)``. A span may be empty when windows
        are irregular (never with the regular windows of :mod:`afdetect.signal.windows`).

    Example
    -------
    >>> owned_spans(np.array([0.0, 15.0, 30.0]), np.array([30.0, 45.0, 50.0]))
    (array([ 0. , 22.5, 35. ]), array([22.5, 35. , 50. ]))
    """
    start_s, end_s = np.asarray(start_s, float), np.asarray(end_s, float)
    if len(start_s) == 0:
        return np.zeros(0), np.zeros(0)
    first, last = float(start_s[0]), float(np.max(end_s))
    centres = (start_s + end_s) / 2
    bounds = np.concatenate([[first], (centres[:-1] + centres[1:]) / 2, [last]])
    bounds = np.clip(np.maximum.accumulate(bounds), first, last)
    return bounds[:-1], bounds[1:]


def mask_stretches(mask: np.ndarray, own_start: np.ndarray, own_end: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and offsets of runs of consecutive True windows (owned spans touch)."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    first, stop = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return own_start[first], own_end[stop - 1]


def bridge_gaps(onsets: np.ndarray, offsets: np.ndarray, max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Join stretches whose gap is shorter than ``max_gap_s`` (0: join touching ones only)."""
    if len(onsets) < 2:
        return onsets, offsets
    gaps = onsets[1:] - offsets[:-1]
    split = gaps >= max_gap_s - EPS_S if max_gap_s > 0 else gaps > EPS_S
    first = np.concatenate([[0], np.flatnonzero(split) + 1])
    last = np.concatenate([np.flatnonzero(split), [len(onsets) - 1]])
    return onsets[first], offsets[last]


def overlap_s(a_start: np.ndarray, a_end: np.ndarray, b_start: np.ndarray, b_end: np.ndarray) -> float:
    """Total time (s) where intervals ``a`` (disjoint, sorted) meet intervals ``b`` (disjoint).

    Uses the covered-time function of ``a`` (``O((n + m) log n)``, flat memory at Holter scale).
    """
    if len(a_start) == 0 or len(b_start) == 0:
        return 0.0
    return float(np.sum(covered_time_before(a_start, a_end, b_end) - covered_time_before(a_start, a_end, b_start)))


def covered_time_before(a_start: np.ndarray, a_end: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Time (s) that intervals ``[a_start, a_end)`` (disjoint, sorted) cover before each time ``t``.

    Example
    -------
    >>> covered_time_before(np.array([0.0, 20.0]), np.array([10.0, 30.0]), np.array([5.0, 15.0, 25.0, 40.0]))
    array([ 5., 10., 15., 20.])
    """
    a_start, a_end, t = np.asarray(a_start, float), np.asarray(a_end, float), np.asarray(t, float)
    if len(a_start) == 0:
        return np.zeros(t.shape)
    durations = a_end - a_start
    before = np.concatenate([[0.0], np.cumsum(durations)])
    k = np.searchsorted(a_start, t, side="right") - 1
    inside = np.clip(t - a_start[np.maximum(k, 0)], 0, durations[np.maximum(k, 0)])
    return np.where(k >= 0, before[np.maximum(k, 0)] + inside, 0.0)


Span = tuple[float, float]
"""A time interval ``(start_s, end_s)``, start inclusive, end exclusive (s)."""


def union_spans(spans: list[Span]) -> list[Span]:
    out: list[Span] = []
    for a, b in sorted(spans):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def clip_spans(spans: list[Span], start_s: float, end_s: float) -> list[Span]:
    clipped = [(max(a, start_s), min(b, end_s)) for a, b in spans]
    return [(a, b) for a, b in clipped if b > a]


def overlap_each(spans: list[Span], other: list[Span]) -> np.ndarray:
    """Time (s) each span shares with ``other`` (disjoint, sorted spans)."""
    if not spans:
        return np.zeros(0)
    a = np.array([s[0] for s in spans], dtype=float)
    b = np.array([s[1] for s in spans], dtype=float)
    if not other:
        return np.zeros(len(spans))
    o_start = np.array([s[0] for s in other], dtype=float)
    o_end = np.array([s[1] for s in other], dtype=float)
    return covered_time_before(o_start, o_end, b) - covered_time_before(o_start, o_end, a)


def window_spans(start_s: np.ndarray, end_s: np.ndarray, mask: np.ndarray) -> list[tuple[float, float]]:
    """Union of the time spans ``[start_s, end_s]`` (s) of the windows where ``mask`` holds.

    Overlapping or touching windows merge into one span.

    Example
    -------
    >>> window_spans(np.array([0, 15, 30, 90]), np.array([30, 45, 60, 120]), np.array([1, 1, 0, 1], bool))
    [(0.0, 45.0), (90.0, 120.0)]
    """
    spans: list[tuple[float, float]] = []
    for a, b in zip(np.asarray(start_s)[mask], np.asarray(end_s)[mask], strict=True):
        if spans and a <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], float(b)))
        else:
            spans.append((float(a), float(b)))
    return spans
