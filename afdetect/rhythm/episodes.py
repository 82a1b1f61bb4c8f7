"""AF episodes and burden of one record, from its per-window prediction table.

Windows overlap (30 s windows every 15 s), so time is shared out before it is counted: each
window *owns* the stretch from the midpoint between its centre and the previous window's
centre to the midpoint with the next window's centre. The first window owns from its start
(the record start), the last to its end (the record end). With regular windows each owns its
middle 15 s; the owned spans tile the analysed record without gap or overlap, so AF,
non-AF and unreadable time add up exactly to the record duration.

Episodes (``merge_episodes``):

1. AF time is the union of the spans owned by AF windows; an unreadable window is never AF;
2. AF stretches separated by less than ``max_gap_s`` (non-AF or unreadable) join into one
   episode, which spans the gap too;
3. episodes shorter than ``min_duration_s`` are dropped, unless AF fills the whole record
   (a strip shorter than ``min_duration_s`` that is entirely AF stays one episode).

Burden (``summarise_record``): AF time is the time inside episodes minus the unreadable time
inside them (a bridged artefact is not counted as AF), as a percentage of the readable
analysed time. Defaults of both rules are in :mod:`afdetect.config`.
"""

from __future__ import annotations

import datetime
from typing import Any

import numpy as np
import pandas as pd

from afdetect.config import AF_EPISODE_MAX_GAP_S, AF_EPISODE_MIN_S, LABEL_NAMES, UNREADABLE
from afdetect.rhythm.intervals import EPS_S, bridge_gaps, mask_stretches, overlap_s, owned_spans

EPISODE_COLUMNS = ("record", "onset_s", "offset_s", "duration_s")
"""Columns of an episodes table (times in s from the record start)."""


TIME_COLUMNS = ("onset_hms", "offset_hms", "duration_hms", "onset_clock", "offset_clock")
"""Columns :func:`with_times` adds: times as ``H:MM:SS.mmm`` from the record start, and clock
times (``HH:MM:SS.mmm``, with the date ``YYYY-MM-DD`` before it when the header has one)."""


def fmt_hms(seconds: float) -> str:
    """``H:MM:SS.mmm`` of a time in s (as ``rdsamp``/``rdann`` print elapsed time).

    Example
    -------
    >>> fmt_hms(3727.5)
    '1:02:07.500'
    """
    ms = int(round(seconds * 1000))
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


def fmt_clock(seconds: float, base_time: datetime.time | None, base_date: datetime.date | None = None) -> str:
    """Clock time ``seconds`` after ``base_time`` (``""`` without one); with the date when ``base_date`` is known.

    Example
    -------
    >>> fmt_clock(90.25, datetime.time(23, 59), datetime.date(2000, 1, 31))
    '2000-02-01 00:00:30.250'
    >>> fmt_clock(90.25, datetime.time(23, 59))
    '00:00:30.250'
    """
    if base_time is None:
        return ""
    start = datetime.datetime.combine(base_date or datetime.date(2000, 1, 1), base_time)
    moment = start + datetime.timedelta(seconds=round(seconds, 3))
    clock = f"{moment:%H:%M:%S}.{moment.microsecond // 1000:03d}"
    return f"{moment:%Y-%m-%d} {clock}" if base_date is not None else clock


def with_times(
    episodes: pd.DataFrame, base_time: datetime.time | None = None, base_date: datetime.date | None = None
) -> pd.DataFrame:
    """``episodes`` with ``TIME_COLUMNS`` added (clock columns empty without ``base_time``)."""
    onsets, offsets = episodes["onset_s"].astype(float), episodes["offset_s"].astype(float)
    return episodes.assign(
        onset_hms=[fmt_hms(t) for t in onsets],
        offset_hms=[fmt_hms(t) for t in offsets],
        duration_hms=[fmt_hms(t) for t in episodes["duration_s"].astype(float)],
        onset_clock=[fmt_clock(t, base_time, base_date) for t in onsets],
        offset_clock=[fmt_clock(t, base_time, base_date) for t in offsets],
    )


SUMMARY_KEYS = (
    "record",
    "analysed_s",
    "unreadable_s",
    "af_s",
    "af_burden_pct",
    "episodes",
    "longest_episode_s",
    "af_windows",
    "af_window_s",
)
"""Keys of a per-record summary (see :func:`summarise_record`)."""


def merge_episodes(
    table: pd.DataFrame,
    min_duration_s: float = AF_EPISODE_MIN_S,
    max_gap_s: float = AF_EPISODE_MAX_GAP_S,
) -> pd.DataFrame:
    """AF episodes of one record from its per-window table.

    Parameters
    ----------
    table : pandas.DataFrame
        One record's rows of the predict table (columns ``record, start_s, end_s, label``;
        ``p_af`` and ``problem`` are not needed), in any order.
    min_duration_s : float
        Episodes shorter than this (s) are dropped, unless AF fills the whole record.
    max_gap_s : float
        AF stretches separated by less than this (s) form one episode; 0 joins only
        touching stretches.

    Returns
    -------
    pandas.DataFrame
        Columns ``record, onset_s, offset_s, duration_s`` (s, rounded to 1 ms), one row per
        episode, sorted by onset; episodes do not overlap and lie within the record.

    Raises
    ------
    ValueError
        When the table misses a column, holds several records, or a limit is negative.

    Example
    -------
    >>> t = pd.DataFrame({"record": "r", "start_s": [0.0, 15.0, 30.0, 45.0], "end_s": [30.0, 45.0, 60.0, 75.0],
    ...                   "label": ["non-AF", "AF", "AF", "non-AF"]})
    >>> merge_episodes(t).values.tolist()
    [['r', 22.5, 52.5, 30.0]]
    """
    _check_limits(min_duration_s, max_gap_s)
    table = _one_record(table)
    if table.empty:
        return _episodes_frame("", [], [])
    onsets, offsets = episode_bounds(
        table["start_s"].to_numpy(float),
        table["end_s"].to_numpy(float),
        (table["label"] == LABEL_NAMES[1]).to_numpy(),
        min_duration_s,
        max_gap_s,
    )
    return _episodes_frame(str(table["record"].iloc[0]), onsets, offsets)


def episode_bounds(
    start_s: np.ndarray,
    end_s: np.ndarray,
    is_af: np.ndarray,
    min_duration_s: float = AF_EPISODE_MIN_S,
    max_gap_s: float = AF_EPISODE_MAX_GAP_S,
) -> tuple[np.ndarray, np.ndarray]:
    """Onsets and offsets (s, not rounded) of the AF episodes of one record's windows, sorted by start.

    The array core of :func:`merge_episodes` (same rules and parameters), for callers that hold
    the windows as arrays.

    Example
    -------
    >>> episode_bounds(np.array([0.0, 15.0, 30.0, 45.0]), np.array([30.0, 45.0, 60.0, 75.0]),
    ...                np.array([False, True, True, False]))
    (array([22.5]), array([52.5]))
    """
    _check_limits(min_duration_s, max_gap_s)
    if len(start_s) == 0:
        return np.zeros(0), np.zeros(0)
    own_start, own_end = owned_spans(start_s, end_s)
    onsets, offsets = mask_stretches(np.asarray(is_af, bool) & (own_end > own_start), own_start, own_end)
    onsets, offsets = bridge_gaps(onsets, offsets, max_gap_s)
    whole = (onsets <= own_start[0] + EPS_S) & (offsets >= own_end[-1] - EPS_S)
    keep = (offsets - onsets >= min_duration_s - EPS_S) | whole
    return onsets[keep], offsets[keep]


def _check_limits(min_duration_s: float, max_gap_s: float) -> None:
    if min_duration_s < 0 or max_gap_s < 0:
        raise ValueError(f"min_duration_s and max_gap_s must be >= 0, got {min_duration_s}, {max_gap_s}")


def summarise_record(table: pd.DataFrame, episodes: pd.DataFrame) -> dict[str, Any]:
    """Analysed time, unreadable time, AF time, burden and episode counts of one record.

    Parameters
    ----------
    table : pandas.DataFrame
        One record's per-window table (see :func:`merge_episodes`).
    episodes : pandas.DataFrame
        That record's episodes (from :func:`merge_episodes`).

    Returns
    -------
    dict
        ``record``; ``analysed_s`` record time covered by windows (s); ``unreadable_s`` time
        owned by unreadable windows (s); ``af_s`` time inside episodes that is readable (s);
        ``af_burden_pct`` ``af_s`` as a percentage of readable analysed time (``None`` when
        nothing is readable); ``episodes`` count; ``longest_episode_s`` (s, 0 without
        episodes); ``af_windows`` number of windows labelled AF and ``af_window_s`` the time
        they own (s), so a lone AF window too short for an episode shows beside a 0 % burden.
        Times are rounded to 1 ms, the burden to 0.01 %.

    Example
    -------
    >>> t = pd.DataFrame({"record": "r", "start_s": [0.0, 15.0, 30.0], "end_s": [30.0, 45.0, 60.0],
    ...                   "label": ["AF", "AF", "unreadable"]})
    >>> s = summarise_record(t, merge_episodes(t))
    >>> s["analysed_s"], s["unreadable_s"], s["af_s"], s["af_burden_pct"], s["af_windows"], s["af_window_s"]
    (60.0, 22.5, 37.5, 100.0, 2, 37.5)
    """
    table = _one_record(table)
    episodes = episodes.sort_values("onset_s", kind="mergesort")
    return summarise_windows(
        str(table["record"].iloc[0]) if not table.empty else "",
        table["start_s"].to_numpy(float),
        table["end_s"].to_numpy(float),
        table["label"].to_numpy(),
        episodes["onset_s"].to_numpy(float),
        episodes["offset_s"].to_numpy(float),
    )


def summarise_windows(
    record: str,
    start_s: np.ndarray,
    end_s: np.ndarray,
    labels: np.ndarray,
    onsets: np.ndarray,
    offsets: np.ndarray,
) -> dict[str, Any]:
    """The summary of :func:`summarise_record` from arrays: one record's windows sorted by start,
    their labels, and its episodes sorted by onset (:func:`episode_bounds`)."""
    own_start, own_end = owned_spans(start_s, end_s)
    analysed = float(own_end[-1] - own_start[0]) if len(own_start) else 0.0
    owned = own_end - own_start
    unreadable = labels == UNREADABLE
    unreadable_s = float(np.sum(owned[unreadable]))
    is_af = labels == LABEL_NAMES[1]
    af_window_s = float(np.sum(owned[is_af]))
    in_episodes = float(np.sum(offsets - onsets))
    unreadable_in_episodes = overlap_s(onsets, offsets, own_start[unreadable], own_end[unreadable])
    af_s = max(in_episodes - unreadable_in_episodes, 0.0)
    readable = analysed - unreadable_s
    burden = round(100.0 * min(af_s / readable, 1.0), 2) if readable > EPS_S else None
    return {
        "record": record,
        "analysed_s": round(analysed, 3),
        "unreadable_s": round(unreadable_s, 3),
        "af_s": round(af_s, 3),
        "af_burden_pct": burden,
        "episodes": len(onsets),
        "longest_episode_s": round(float(np.max(offsets - onsets)), 3) if len(onsets) else 0.0,
        "af_windows": int(np.sum(is_af)),
        "af_window_s": round(af_window_s, 3),
    }


def _one_record(table: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in ("record", "start_s", "end_s", "label") if c not in table.columns]
    if missing:
        raise ValueError(f"per-window table lacks column(s) {', '.join(missing)}")
    records = table["record"].unique()
    if len(records) > 1:
        raise ValueError(f"per-window table holds {len(records)} records ({records[0]}, ...); pass one record's rows")
    return table.sort_values("start_s", kind="mergesort").reset_index(drop=True)


def _episodes_frame(record: str, onsets: np.ndarray | list, offsets: np.ndarray | list) -> pd.DataFrame:
    onsets, offsets = np.asarray(onsets, float), np.asarray(offsets, float)
    return pd.DataFrame(
        {
            "record": [record] * len(onsets),
            "onset_s": np.round(onsets, 3),
            "offset_s": np.round(offsets, 3),
            "duration_s": np.round(offsets - onsets, 3),
        },
        columns=list(EPISODE_COLUMNS),
    )
