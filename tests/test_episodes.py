"""AF episodes and burden from per-window tables (afdetect.rhythm.episodes)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afdetect.config import AF_EPISODE_MAX_GAP_S, AF_EPISODE_MIN_S, HOP_S, LABEL_NAMES, UNREADABLE, WINDOW_S
from afdetect.rhythm.episodes import EPISODE_COLUMNS, merge_episodes, summarise_record
from afdetect.rhythm.intervals import owned_spans

AF, NON_AF = LABEL_NAMES[1], LABEL_NAMES[0]
U = UNREADABLE


def window_table(labels: Sequence[str], duration_s: float | None = None, record: str = "rec") -> pd.DataFrame:
    """Regular windows (30 s every 15 s) with ``labels``; the last ends at ``duration_s``."""
    n = len(labels)
    start = np.arange(n) * HOP_S
    end = start + WINDOW_S
    if duration_s is not None:
        end[-1] = duration_s
    return pd.DataFrame(
        {
            "record": record,
            "start_s": start,
            "end_s": end,
            "label": list(labels),
            "p_af": [np.nan if lab == U else (0.9 if lab == AF else 0.1) for lab in labels],
            "problem": ["flat" if lab == U else "" for lab in labels],
        }
    )


def spans(episodes: pd.DataFrame) -> list[tuple[float, float]]:
    return list(zip(episodes["onset_s"].tolist(), episodes["offset_s"].tolist(), strict=True))


def test_owned_spans_of_regular_windows_are_the_middle_hop() -> None:
    # 6 windows: starts 0..75, ends 30..105. Centres 15, 30, ..., 90 -> borders halfway: 22.5, 37.5, ...
    own_start, own_end = owned_spans(np.arange(6) * 15.0, np.arange(6) * 15.0 + 30)
    assert own_start.tolist() == [0.0, 22.5, 37.5, 52.5, 67.5, 82.5]
    assert own_end.tolist() == [22.5, 37.5, 52.5, 67.5, 82.5, 105.0]


def test_two_af_windows_make_one_30_s_episode() -> None:
    # Windows 2 and 3 AF: they own 37.5-52.5 and 52.5-67.5 -> one 30 s episode (kept: >= 30 s).
    episodes = merge_episodes(window_table([NON_AF, NON_AF, AF, AF, NON_AF, NON_AF]))
    assert list(episodes.columns) == list(EPISODE_COLUMNS)
    assert spans(episodes) == [(37.5, 67.5)]
    assert episodes["duration_s"].tolist() == [30.0]
    assert episodes["record"].tolist() == ["rec"]


def test_single_af_window_is_shorter_than_an_episode() -> None:
    # One AF window owns 15 s < 30 s: no episode; with min 0 it is a 15 s episode.
    table = window_table([NON_AF, NON_AF, AF, NON_AF, NON_AF])
    assert merge_episodes(table).empty
    assert spans(merge_episodes(table, min_duration_s=0)) == [(37.5, 52.5)]


def test_one_non_af_window_does_not_split_an_episode() -> None:
    # AF AF N AF AF: owned spans 0-22.5, 22.5-37.5, 37.5-52.5 (N), 52.5-67.5, 67.5-90 (last window ends at 90).
    # The N window is a 15 s gap < 30 s -> one episode 0-90.
    table = window_table([AF, AF, NON_AF, AF, AF])
    assert spans(merge_episodes(table)) == [(0.0, 90.0)]
    # Without gap bridging the two halves stay apart: 0-37.5 and 52.5-90.
    assert spans(merge_episodes(table, max_gap_s=0)) == [(0.0, 37.5), (52.5, 90.0)]


def test_two_non_af_windows_split_episodes() -> None:
    # AF AF N N AF AF: gap 37.5-67.5 = 30 s, not shorter than 30 s -> two episodes.
    episodes = merge_episodes(window_table([AF, AF, NON_AF, NON_AF, AF, AF]))
    assert spans(episodes) == [(0.0, 37.5), (67.5, 105.0)]


def test_unreadable_windows_never_count_as_af() -> None:
    # All unreadable: no AF at all.
    assert merge_episodes(window_table([U] * 5)).empty
    # AF U AF at min 0 / gap 0: the unreadable window splits the AF time.
    table = window_table([AF, U, AF])
    assert spans(merge_episodes(table, min_duration_s=0, max_gap_s=0)) == [(0.0, 22.5), (37.5, 60.0)]


def test_whole_short_record_in_af_is_one_episode() -> None:
    # A 20 s strip (one padded window) entirely AF: kept although shorter than AF_EPISODE_MIN_S.
    assert AF_EPISODE_MIN_S > 20
    table = window_table([AF], duration_s=20.0)
    assert spans(merge_episodes(table)) == [(0.0, 20.0)]
    # ...but a 20 s AF stretch inside a longer record is dropped: 50 s record, windows [0,30] [15,45] [30,50];
    # centres 15, 30, 40 -> window 0 owns 0-22.5 (AF, 22.5 s < 30 s).
    assert merge_episodes(window_table([AF, NON_AF, NON_AF], duration_s=50.0)).empty


def test_windows_in_any_order_give_the_same_episodes() -> None:
    table = window_table([NON_AF, AF, AF, AF, NON_AF])
    shuffled = table.sample(frac=1.0, random_state=3)
    pd.testing.assert_frame_equal(merge_episodes(shuffled), merge_episodes(table))


def test_empty_table_gives_no_episode() -> None:
    empty = window_table([AF]).iloc[:0]
    assert merge_episodes(empty).empty
    assert list(merge_episodes(empty).columns) == list(EPISODE_COLUMNS)


def test_bad_tables_are_refused() -> None:
    with pytest.raises(ValueError, match="lacks column"):
        merge_episodes(window_table([AF]).drop(columns="label"))
    two = pd.concat([window_table([AF], record="a"), window_table([AF], record="b")])
    with pytest.raises(ValueError, match="2 records"):
        merge_episodes(two)
    with pytest.raises(ValueError, match=">= 0"):
        merge_episodes(window_table([AF]), min_duration_s=-1)


def test_summary_of_a_mixed_record() -> None:
    # 8 windows, record 135 s: starts 0..105, last ends 135. Owned spans:
    # w0 0-22.5 N, w1 22.5-37.5 AF, w2 37.5-52.5 AF, w3 52.5-67.5 U, w4 67.5-82.5 AF,
    # w5 82.5-97.5 N, w6 97.5-112.5 N, w7 112.5-135 N.
    # AF stretches 22.5-52.5 and 67.5-82.5 (gap 15 s < 30 s) -> one episode 22.5-82.5 (60 s);
    # it holds 15 s unreadable -> AF time 45 s; readable time 135 - 15 = 120 s -> burden 37.5 %.
    table = window_table([NON_AF, AF, AF, U, AF, NON_AF, NON_AF, NON_AF], duration_s=135.0)
    episodes = merge_episodes(table)
    assert spans(episodes) == [(22.5, 82.5)]
    summary = summarise_record(table, episodes)
    assert summary == {
        "record": "rec",
        "analysed_s": 135.0,
        "unreadable_s": 15.0,
        "af_s": 45.0,
        "af_burden_pct": 37.5,
        "episodes": 1,
        "longest_episode_s": 60.0,
        "af_windows": 3,
        "af_window_s": 45.0,
    }


def test_summary_shows_a_lone_af_window_beside_zero_burden() -> None:
    # One AF window among sinus ones: too short for an episode, so 0 % burden, yet visible.
    table = window_table([NON_AF, NON_AF, AF, NON_AF, NON_AF])
    summary = summarise_record(table, merge_episodes(table))
    assert (summary["episodes"], summary["af_s"], summary["af_burden_pct"]) == (0, 0.0, 0.0)
    assert (summary["af_windows"], summary["af_window_s"]) == (1, 15.0)


def test_summary_without_readable_signal_has_no_burden() -> None:
    table = window_table([U, U])
    summary = summarise_record(table, merge_episodes(table))
    assert summary["af_burden_pct"] is None
    assert summary["unreadable_s"] == summary["analysed_s"] == 45.0
    assert summary["episodes"] == 0
    assert summary["longest_episode_s"] == 0.0


def test_summary_counts_each_episode() -> None:
    # Two 37.5 s episodes (see test_two_non_af_windows_split_episodes): AF 75 s of 105 s.
    table = window_table([AF, AF, NON_AF, NON_AF, AF, AF])
    summary = summarise_record(table, merge_episodes(table))
    assert summary["episodes"] == 2
    assert summary["af_s"] == 75.0
    assert summary["longest_episode_s"] == 37.5
    assert summary["af_burden_pct"] == pytest.approx(100 * 75 / 105, abs=0.01)


def test_defaults_come_from_config() -> None:
    # The documented rule: one non-AF window (15 s) is bridged, two (30 s) are not.
    assert HOP_S < AF_EPISODE_MAX_GAP_S <= 2 * HOP_S
    assert AF_EPISODE_MIN_S == WINDOW_S


# --- properties -------------------------------------------------------------------------------

labels_strategy = st.lists(st.sampled_from([AF, NON_AF, U]), min_size=1, max_size=60)


@st.composite
def irregular_tables(draw: st.DrawFn) -> pd.DataFrame:
    """Windows of random length at random increasing starts (irregular, possibly overlapping)."""
    labels = draw(labels_strategy)
    steps = draw(st.lists(st.floats(0.5, 40.0), min_size=len(labels), max_size=len(labels)))
    lengths = draw(st.lists(st.floats(1.0, 60.0), min_size=len(labels), max_size=len(labels)))
    start = np.round(np.cumsum(steps) - steps[0], 3)
    end = np.round(start + np.asarray(lengths), 3)
    return pd.DataFrame({"record": "r", "start_s": start, "end_s": end, "label": labels})


@settings(max_examples=150, deadline=None)
@given(labels=labels_strategy, tail=st.floats(8.0, 30.0))
def test_episode_time_adds_up_to_af_window_time(labels: list[str], tail: float) -> None:
    table = window_table(labels, duration_s=(len(labels) - 1) * HOP_S + tail if len(labels) > 1 else tail)
    own_start, own_end = owned_spans(table["start_s"].to_numpy(), table["end_s"].to_numpy())
    af_time = float(np.sum((own_end - own_start)[table["label"].to_numpy() == AF]))
    episodes = merge_episodes(table, min_duration_s=0, max_gap_s=0)
    assert episodes["duration_s"].sum() == pytest.approx(af_time, abs=1e-3 * (len(episodes) + 1))
    summary = summarise_record(table, episodes)
    assert summary["af_s"] == pytest.approx(af_time, abs=1e-3 * (len(episodes) + 1))
    readable = summary["analysed_s"] - summary["unreadable_s"]
    if summary["af_burden_pct"] is not None:
        # Times are reported to the millisecond (so within 1 ms per episode edge and per
        # summed span), and burden is capped at 100 %: on short readable times a few ms
        # are worth more than 0.01 %.
        slack = 100 * 1e-3 * (2 * len(episodes) + 2) / readable
        expected = min(100 * af_time / readable, 100.0)
        assert summary["af_burden_pct"] == pytest.approx(expected, abs=max(0.01, slack))


@settings(max_examples=200, deadline=None)
@given(
    table=irregular_tables(),
    min_duration=st.sampled_from([0.0, 10.0, AF_EPISODE_MIN_S]),
    max_gap=st.sampled_from([0.0, 15.0, AF_EPISODE_MAX_GAP_S]),
)
def test_episodes_are_sorted_disjoint_and_within_the_record(
    table: pd.DataFrame, min_duration: float, max_gap: float
) -> None:
    episodes = merge_episodes(table, min_duration_s=min_duration, max_gap_s=max_gap)
    onset, offset = episodes["onset_s"].to_numpy(), episodes["offset_s"].to_numpy()
    assert np.all(offset > onset)
    assert np.all(np.diff(onset) > 0)
    assert np.all(onset[1:] >= offset[:-1])  # never overlap (touching only when max_gap is 0)
    if max_gap > 0:
        assert np.all(onset[1:] - offset[:-1] >= max_gap - 2e-3)
    assert np.all(onset >= table["start_s"].min() - 1e-9)
    assert np.all(offset <= table["end_s"].max() + 1e-9)
    whole = (onset <= table["start_s"].min()) & (offset >= table["end_s"].max())
    assert np.all((episodes["duration_s"].to_numpy() >= min_duration - 1e-3) | whole)
    summary = summarise_record(table, episodes)
    # Each of the three times is rounded to the millisecond on its own: up to 1.5 ms apart.
    assert 0 <= summary["af_s"] <= summary["analysed_s"] - summary["unreadable_s"] + 2e-3
    if summary["af_burden_pct"] is not None:
        assert 0 <= summary["af_burden_pct"] <= 100


@settings(max_examples=100, deadline=None)
@given(table=irregular_tables())
def test_owned_spans_tile_the_record(table: pd.DataFrame) -> None:
    own_start, own_end = owned_spans(table["start_s"].to_numpy(), table["end_s"].to_numpy())
    assert own_start[0] == table["start_s"].iloc[0]
    assert own_end[-1] == table["end_s"].max()
    assert np.all(own_end >= own_start)
    np.testing.assert_array_equal(own_start[1:], own_end[:-1])


@settings(max_examples=100, deadline=None)
@given(labels=labels_strategy)
def test_no_af_window_means_no_episode(labels: list[str]) -> None:
    table = window_table([lab if lab != AF else NON_AF for lab in labels])
    assert merge_episodes(table, min_duration_s=0, max_gap_s=0).empty
