"""EC57-style AF episode and duration statistics, following PhysioNet's ``epicmp``.

Definitions (ANSI/AAMI EC57, as implemented by ``epicmp -A``), per record:

* An **AF episode** is a maximal stretch of AF rhythm: it starts at an AF rhythm note
  (``(AFIB``; afdetect also reads ``(AF``) and ends at the next rhythm note of another rhythm,
  or at the end of the record. Consecutive AF intervals form one episode.
* **Episode sensitivity** (ESe): fraction of reference episodes that overlap test AF by more
  than zero time (TPs / (TPs + FN)).
* **Episode positive predictivity** (E+P): fraction of test episodes that overlap reference AF
  (TPp / (TPp + FP)).
* **Duration sensitivity** (DSe): time in both reference and test AF / reference AF time.
* **Duration positive predictivity** (D+P): the same overlap / test AF time.
* Only the comparison period ``[start_s, end_s)`` counts: episodes are clipped to it, and
  those left empty are dropped. ``epicmp`` starts 5 min in by default (a learning period);
  afdetect compares from ``EC57_START_S`` = 0 (see :mod:`afdetect.config`).

Atrial flutter. Reference ``(AFL`` stretches are never AF episodes: they add no reference
episode and no reference AF time, so test AF there is not needed for sensitivity. By default
(EC57 and EC38:2007, ``epicmp`` without ``-x``) test AF during reference flutter counts against
positive predictivity like any other false AF. With ``exclude_flutter=True`` (``epicmp -x``,
EC38:1998) reference-flutter time is cut out of every test episode before positive
predictivity: it leaves the test AF time, and a test episode lying wholly inside flutter is
not counted at all. Test flutter notes are never AF.

**Gross** statistics pool counts and times over all records (ratio of sums); **average**
statistics are the mean of the per-record values over the records where each is defined
(non-empty denominator). An undefined value is NaN.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from afdetect.config import AF_RHYTHMS, EC57_START_S, FLUTTER_RHYTHMS
from afdetect.io.annotations import RhythmInterval
from afdetect.rhythm.intervals import Span, clip_spans, overlap_each, union_spans

STATISTICS = ("episode_se", "episode_ppv", "duration_se", "duration_ppv")
"""Names of the four EC57 AF statistics (fractions 0-1)."""


@dataclass(frozen=True)
class EpisodeComparison:
    """Episode-by-episode comparison counts and times of one record (``epicmp -A`` fields).

    Attributes
    ----------
    record : str
        Record name.
    ref_episodes, ref_detected : int
        Reference AF episodes, and those overlapped by test AF (TPs; FN = the rest).
    test_episodes, test_true : int
        Test AF episodes counted, and those overlapped by reference AF (TPp; FP = the rest).
    ref_duration_s, test_duration_s : float
        Reference and (counted) test AF time (s).
    overlap_s : float
        Time in both reference and test AF (s).
    """

    record: str
    ref_episodes: int
    ref_detected: int
    test_episodes: int
    test_true: int
    ref_duration_s: float
    test_duration_s: float
    overlap_s: float

    @property
    def episode_se(self) -> float:
        """Episode sensitivity (NaN without reference episodes)."""
        return _ratio(self.ref_detected, self.ref_episodes)

    @property
    def episode_ppv(self) -> float:
        """Episode positive predictivity (NaN without test episodes)."""
        return _ratio(self.test_true, self.test_episodes)

    @property
    def duration_se(self) -> float:
        """Duration sensitivity (NaN without reference AF time)."""
        return _ratio(self.overlap_s, self.ref_duration_s)

    @property
    def duration_ppv(self) -> float:
        """Duration positive predictivity (NaN without test AF time)."""
        return _ratio(self.overlap_s, self.test_duration_s)

    def to_dict(self) -> dict[str, Any]:
        """Counts, times and the four statistics as plain types."""
        row = asdict(self)
        row.update({name: getattr(self, name) for name in STATISTICS})
        return row


def rhythm_spans(intervals: Sequence[RhythmInterval], rhythms: Iterable[str]) -> list[Span]:
    """Maximal stretches of the given rhythms: touching intervals join into one span.

    Example
    -------
    >>> ivs = [RhythmInterval(0, 10, "(AFIB"), RhythmInterval(10, 20, "(AFIB"), RhythmInterval(20, 30, "(N")]
    >>> rhythm_spans(ivs, AF_RHYTHMS)
    [(0.0, 20.0)]
    """
    wanted = frozenset(rhythms)
    spans: list[Span] = []
    for iv in sorted(intervals, key=lambda iv: iv.start_s):
        if iv.rhythm not in wanted or iv.end_s <= iv.start_s:
            continue
        if spans and iv.start_s <= spans[-1][1]:
            spans[-1] = (spans[-1][0], max(spans[-1][1], float(iv.end_s)))
        else:
            spans.append((float(iv.start_s), float(iv.end_s)))
    return spans


def episode_spans(episodes: pd.DataFrame) -> list[Span]:
    """``(onset_s, offset_s)`` spans of an episodes table (see :mod:`afdetect.rhythm.episodes`)."""
    ordered = episodes.sort_values("onset_s", kind="mergesort")
    return [(float(a), float(b)) for a, b in zip(ordered["onset_s"], ordered["offset_s"], strict=True)]


def compare_af_episodes(
    reference: Sequence[RhythmInterval],
    test: Sequence[Span] | Sequence[RhythmInterval],
    record: str = "",
    start_s: float = EC57_START_S,
    end_s: float | None = None,
    exclude_flutter: bool = False,
) -> EpisodeComparison:
    """Compare test AF episodes with reference rhythm intervals of one record (``epicmp -A``).

    Parameters
    ----------
    reference : sequence of RhythmInterval
        Reference rhythms (:func:`afdetect.io.annotations.read_rhythm_intervals`).
    test : sequence of (start_s, end_s) or of RhythmInterval
        Test AF episodes (e.g. :func:`episode_spans` of detected episodes), or test rhythm
        intervals (their AF stretches are the episodes).
    record : str
        Record name for the result.
    start_s, end_s : float
        Comparison period (s); ``end_s`` defaults to the end of the reference (the record end).
    exclude_flutter : bool
        Cut reference flutter out of test episodes for positive predictivity (``epicmp -x``).

    Returns
    -------
    EpisodeComparison

    Example
    -------
    >>> ref = [RhythmInterval(0, 100, "(N"), RhythmInterval(100, 200, "(AFIB"), RhythmInterval(200, 300, "(N")]
    >>> c = compare_af_episodes(ref, [(150.0, 250.0)])
    >>> c.episode_se, c.episode_ppv, c.duration_se, c.duration_ppv
    (1.0, 1.0, 0.5, 0.5)
    """
    if end_s is None:
        end_s = max((iv.end_s for iv in reference), default=0.0)
    ref_af = clip_spans(rhythm_spans(reference, AF_RHYTHMS), start_s, end_s)
    flutter = clip_spans(rhythm_spans(reference, FLUTTER_RHYTHMS), start_s, end_s) if exclude_flutter else []
    if test and isinstance(test[0], RhythmInterval):
        test_spans = rhythm_spans(test, AF_RHYTHMS)  # type: ignore[arg-type]
    else:
        test_spans = union_spans([(float(a), float(b)) for a, b in test])  # type: ignore[misc]
    test_af = clip_spans(test_spans, start_s, end_s)

    ref_detected = int(np.sum(overlap_each(ref_af, test_af) > 0))
    test_length = np.array([b - a for a, b in test_af])
    test_duration = test_length - overlap_each(test_af, flutter)
    counted = test_duration > 0  # a test episode wholly inside reference flutter is not counted
    test_true = int(np.sum((overlap_each(test_af, ref_af) > 0) & counted))
    return EpisodeComparison(
        record=record,
        ref_episodes=len(ref_af),
        ref_detected=ref_detected,
        test_episodes=int(np.sum(counted)),
        test_true=test_true,
        ref_duration_s=round(sum(b - a for a, b in ref_af), 6),
        test_duration_s=round(float(np.sum(test_duration[counted])), 6),
        overlap_s=round(float(np.sum(overlap_each(ref_af, test_af))), 6),
    )


def ec57_statistics(comparisons: Sequence[EpisodeComparison]) -> dict[str, Any]:
    """Gross and average EC57 statistics over records, plus the per-record rows.

    Returns
    -------
    dict
        ``gross``: the four statistics from pooled counts and times, with the totals;
        ``average``: the mean of each per-record statistic over the records where it is
        defined, with ``records`` counts per statistic; ``records``: per-record dicts.

    Example
    -------
    >>> a = EpisodeComparison("a", 2, 1, 1, 1, 100.0, 50.0, 50.0)
    >>> b = EpisodeComparison("b", 0, 0, 1, 0, 0.0, 30.0, 0.0)
    >>> s = ec57_statistics([a, b])
    >>> s["gross"]["episode_se"], s["gross"]["episode_ppv"], s["average"]["episode_ppv"]
    (0.5, 0.5, 0.5)
    """
    totals = {
        name: sum(getattr(c, name) for c in comparisons)
        for name in ("ref_episodes", "ref_detected", "test_episodes", "test_true")
    }
    times = {
        name: sum(getattr(c, name) for c in comparisons) for name in ("ref_duration_s", "test_duration_s", "overlap_s")
    }
    gross = {
        "episode_se": _ratio(totals["ref_detected"], totals["ref_episodes"]),
        "episode_ppv": _ratio(totals["test_true"], totals["test_episodes"]),
        "duration_se": _ratio(times["overlap_s"], times["ref_duration_s"]),
        "duration_ppv": _ratio(times["overlap_s"], times["test_duration_s"]),
        **totals,
        **{name: round(value, 6) for name, value in times.items()},
    }
    average: dict[str, Any] = {}
    defined: dict[str, int] = {}
    for name in STATISTICS:
        values = [v for v in (getattr(c, name) for c in comparisons) if not math.isnan(v)]
        average[name] = float(np.mean(values)) if values else float("nan")
        defined[name] = len(values)
    average["records"] = defined
    return {
        "records_compared": len(comparisons),
        "gross": gross,
        "average": average,
        "records": [c.to_dict() for c in comparisons],
    }


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")
