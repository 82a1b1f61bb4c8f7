"""Segmenter: window tiling, the padded tail window, cutting, and labels from rhythm intervals."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afdetect.config import (
    AF_MIN_FRACTION,
    HOP_S,
    IGNORE_LABEL,
    MIN_RECORD_S,
    NON_AF_MAX_FRACTION,
    WINDOW_S,
    window_samples,
)
from afdetect.io.annotations import RhythmInterval
from afdetect.io.reference import af_fractions, label_windows
from afdetect.signal.windows import cut_windows, window_starts


@pytest.mark.parametrize(
    ("duration_s", "expected_s"),
    [
        (30, [0]),  # exactly one window
        (45, [0, 15]),  # two full windows reach the end: no tail
        (46, [0, 15, 30]),  # 1 s past the last full window: padded tail one hop later
        (70, [0, 15, 30, 45]),  # the docstring example
        (31, [0, 15]),
        (20, [0]),  # shorter than a window: one padded window
        (MIN_RECORD_S, [0]),  # exactly the minimum
        (7.9, []),  # shorter than the minimum: nothing
        (0, []),
    ],
)
def test_window_starts_examples(duration_s: float, expected_s: list[float]) -> None:
    fs = 300
    starts = window_starts(int(round(duration_s * fs)), fs)
    assert starts.dtype == np.int64
    assert starts.tolist() == [int(s * fs) for s in expected_s]


@settings(max_examples=200, deadline=None)
@given(
    n_samples=st.integers(0, 200_000),
    fs=st.sampled_from([128, 200, 250, 300, 360, 500, 257.3]),
)
def test_window_starts_tile_the_record(n_samples: int, fs: float) -> None:
    starts = window_starts(n_samples, fs)
    win = window_samples(fs, WINDOW_S)
    hop = int(round(HOP_S * fs))
    if n_samples < int(round(MIN_RECORD_S * fs)) or n_samples == 0:
        assert len(starts) == 0
        return
    assert starts[0] == 0
    assert np.all(np.diff(starts) == hop)  # one hop apart, padded tail included
    assert starts[-1] < n_samples
    assert starts[-1] + win >= n_samples  # the last window reaches the end of the record
    padded = starts + win > n_samples
    assert padded.sum() <= 1 and (not padded.any() or padded[-1])  # at most one padded window, the last
    if len(starts) > 1:
        assert starts[-2] + win < n_samples  # no window is redundant


def test_window_starts_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="positive"):
        window_starts(1000, 0)
    with pytest.raises(ValueError, match="positive"):
        window_starts(1000, 100, hop_s=0)


def test_cut_windows_pads_the_tail_with_zeros() -> None:
    signal = np.arange(1, 11, dtype=np.float64)
    windows, valid = cut_windows(signal, np.array([0, 3, 6]), 6)
    assert windows.dtype == np.float32 and windows.shape == (3, 6)
    assert valid.tolist() == [6, 6, 4]
    np.testing.assert_array_equal(windows[1], [4, 5, 6, 7, 8, 9])
    np.testing.assert_array_equal(windows[2], [7, 8, 9, 10, 0, 0])


def test_af_fractions() -> None:
    intervals = [RhythmInterval(0, 10, "(N"), RhythmInterval(10, 25, "(AFIB"), RhythmInterval(25, 40, "(AFL")]
    af, flutter = af_fractions(np.array([0.0, 5, 20]), np.array([20.0, 25, 40]), intervals)
    np.testing.assert_allclose(af, [0.5, 0.75, 0.25])
    np.testing.assert_allclose(flutter, [0.0, 0.0, 0.75])


def test_label_windows_docstring_example() -> None:
    ivs = [RhythmInterval(0, 40, "(N"), RhythmInterval(40, 100, "(AFIB")]
    labels = label_windows(np.array([0, 15, 30, 45]), np.array([30, 45, 60, 75]), ivs)
    assert labels.tolist() == [0, IGNORE_LABEL, IGNORE_LABEL, 1]


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        ([(0, 30, "(AFIB")], 1),
        ([(0, 30, "(AF")], 1),  # the short AF note some databases use
        ([(0, 30, "(N")], 0),
        ([(0, 30, "(SBR")], 0),  # other non-AF rhythms are non-AF
        ([(0, 27, "(AFIB"), (27, 30, "(N")], 1),  # 90 % AF: AF
        ([(0, 26.9, "(AFIB"), (26.9, 30, "(N")], IGNORE_LABEL),  # just under 90 %: mixed
        ([(0, 3, "(AFIB"), (3, 30, "(N")], 0),  # 10 % AF: still non-AF
        ([(0, 3.1, "(AFIB"), (3.1, 30, "(N")], IGNORE_LABEL),
        ([(0, 30, "(AFL")], IGNORE_LABEL),  # flutter is neither AF nor non-AF
        ([(0, 1, "(AFL"), (1, 30, "(N")], IGNORE_LABEL),  # any flutter spoils a non-AF window
        ([(0, 1, "(AFL"), (1, 30, "(AFIB")], 1),  # 97 % AF with a flutter second: AF
    ],
)
def test_label_windows_rules(intervals: list[tuple[float, float, str]], expected: int) -> None:
    ivs = [RhythmInterval(*iv) for iv in intervals]
    assert label_windows(np.array([0.0]), np.array([30.0]), ivs).tolist() == [expected]


def test_label_windows_uses_real_signal_of_padded_window() -> None:
    # A padded tail window covers [15, 35): its label counts only that real signal.
    ivs = [RhythmInterval(0, 15, "(N"), RhythmInterval(15, 35, "(AFIB")]
    assert label_windows(np.array([0.0, 15.0]), np.array([30.0, 35.0]), ivs).tolist() == [IGNORE_LABEL, 1]


@settings(max_examples=150, deadline=None)
@given(
    rhythms=st.lists(st.sampled_from(["(N", "(AFIB", "(AFL", "(J"]), min_size=1, max_size=8),
    lengths=st.lists(st.integers(1, 120), min_size=8, max_size=8),
)
def test_window_labels_match_the_reference_intervals(rhythms: list[str], lengths: list[int]) -> None:
    """Each window's label follows from the time it spends in AF and flutter, counted second by second."""
    bounds = np.concatenate([[0], np.cumsum(lengths[: len(rhythms)])]).astype(float)
    intervals = [RhythmInterval(a, b, r) for a, b, r in zip(bounds[:-1], bounds[1:], rhythms, strict=True)]
    duration = bounds[-1]
    starts = window_starts(int(duration), 1.0, min_record_s=1.0).astype(float)
    ends = np.minimum(starts + WINDOW_S, duration)
    labels = label_windows(starts, ends, intervals)
    rhythm_at = np.repeat(rhythms, np.diff(bounds).astype(int))  # one entry per second
    for start, end, label in zip(starts, ends, labels, strict=True):
        seconds = rhythm_at[int(start) : int(end)]
        af = np.isin(seconds, ["(AFIB"]).mean()
        flutter = np.isin(seconds, ["(AFL"]).mean()
        if af >= AF_MIN_FRACTION:
            assert label == 1
        elif af <= NON_AF_MAX_FRACTION and flutter == 0:
            assert label == 0
        else:
            assert label == IGNORE_LABEL
