"""EC57 / epicmp-style AF episode statistics (afdetect.evaluate.ec57), on hand-built interval pairs."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from afdetect.evaluate.ec57 import (
    STATISTICS,
    EpisodeComparison,
    compare_af_episodes,
    ec57_statistics,
    rhythm_spans,
)
from afdetect.io.annotations import RhythmInterval, read_rhythm_intervals


def rhythms(*changes: tuple[float, str], end: float) -> list[RhythmInterval]:
    """Rhythm intervals from ``(time_s, note)`` changes, the last lasting until ``end``."""
    times = [t for t, _ in changes] + [end]
    return [RhythmInterval(times[i], times[i + 1], note) for i, (_, note) in enumerate(changes)]


# Record "a": reference AF 100-200 and 300-350 (600 s record); test AF 150-250, 400-450, 500-520.
REF_A = rhythms((0, "(N"), (100, "(AFIB"), (200, "(N"), (300, "(AFIB"), (350, "(N"), end=600)
TEST_A = [(150.0, 250.0), (400.0, 450.0), (500.0, 520.0)]
# Record "b": reference N 0-50, flutter 50-100, AF 100-160, N 160-200; test AF 55-75 (inside flutter)
# and 80-130 (20 s in flutter, 30 s in AF).
REF_B = rhythms((0, "(N"), (50, "(AFL"), (100, "(AFIB"), (160, "(N"), end=200)
TEST_B = [(55.0, 75.0), (80.0, 130.0)]


def stats(c: EpisodeComparison) -> tuple[float, float, float, float]:
    return c.episode_se, c.episode_ppv, c.duration_se, c.duration_ppv


def test_record_a_by_hand() -> None:
    c = compare_af_episodes(REF_A, TEST_A, "a")
    # Reference episodes: 100-200 meets test 150-250 (TPs); 300-350 meets nothing (FN) -> ESe 1/2.
    assert (c.ref_episodes, c.ref_detected) == (2, 1)
    # Test episodes: 150-250 meets reference (TPp); 400-450 and 500-520 do not (FP) -> E+P 1/3.
    assert (c.test_episodes, c.test_true) == (3, 1)
    # Reference AF 100 + 50 = 150 s; test AF 100 + 50 + 20 = 170 s; overlap 150-200 = 50 s.
    assert (c.ref_duration_s, c.test_duration_s, c.overlap_s) == (150.0, 170.0, 50.0)
    # DSe 50/150, D+P 50/170.
    assert stats(c) == pytest.approx((1 / 2, 1 / 3, 50 / 150, 50 / 170))


def test_flutter_is_never_a_reference_episode() -> None:
    c = compare_af_episodes(REF_B, TEST_B, "b")
    # Only 100-160 is a reference AF episode (flutter 50-100 is not); test 80-130 overlaps it -> ESe 1/1.
    assert (c.ref_episodes, c.ref_detected, c.ref_duration_s) == (1, 1, 60.0)
    # Default (EC57, epicmp without -x): test AF in flutter is false. 55-75 FP, 80-130 TPp -> E+P 1/2.
    # Test time 20 + 50 = 70 s, overlap 100-130 = 30 s -> DSe 30/60, D+P 30/70.
    assert (c.test_episodes, c.test_true, c.test_duration_s, c.overlap_s) == (2, 1, 70.0, 30.0)
    assert stats(c) == pytest.approx((1.0, 0.5, 0.5, 30 / 70))
    # Overlapping test spans join into one episode (60-130 here), as in an annotation file.
    assert compare_af_episodes(REF_B, [(60.0, 90.0), (80.0, 130.0)]).test_episodes == 1


def test_exclude_flutter_cuts_reference_flutter_out_of_test_episodes() -> None:
    c = compare_af_episodes(REF_B, TEST_B, "b", exclude_flutter=True)
    # epicmp -x: 55-75 lies wholly in flutter 50-100 -> not counted; 80-130 loses 80-100 -> 30 s, TPp.
    # E+P 1/1, D+P 30/30; sensitivity unchanged (DSe 30/60).
    assert (c.test_episodes, c.test_true, c.test_duration_s) == (1, 1, 30.0)
    assert stats(c) == pytest.approx((1.0, 1.0, 0.5, 1.0))


def test_touching_episodes_do_not_overlap() -> None:
    # Reference AF 100-200, test AF 200-260: they share an instant, not time -> FN and FP, all zero.
    ref = rhythms((0, "(N"), (100, "(AFIB"), (200, "(N"), end=300)
    c = compare_af_episodes(ref, [(200.0, 260.0)])
    assert (c.ref_detected, c.test_true, c.overlap_s) == (0, 0, 0.0)
    assert stats(c) == (0.0, 0.0, 0.0, 0.0)


def test_comparison_period_clips_and_drops_episodes() -> None:
    # Reference AF 0-40 and 80-120 (300 s); test AF 10-20 and 100-200.
    ref = rhythms((0, "(AFIB"), (40, "(N"), (80, "(AFIB"), (120, "(N"), end=300)
    test = [(10.0, 20.0), (100.0, 200.0)]
    # Whole record: both reference episodes met (ESe 2/2), both test episodes true (E+P 2/2);
    # overlap 10 + 20 = 30 s of reference 80 s (DSe 0.375) and test 110 s (D+P 30/110).
    full = compare_af_episodes(ref, test)
    assert stats(full) == pytest.approx((1.0, 1.0, 0.375, 30 / 110))
    # From 60 s (epicmp -f): 0-40 and 10-20 end before it and drop out; 80-120 (40 s) vs 100-200 (100 s),
    # overlap 20 s -> ESe 1, E+P 1, DSe 20/40, D+P 20/100.
    late = compare_af_episodes(ref, test, start_s=60.0)
    assert (late.ref_episodes, late.test_episodes) == (1, 1)
    assert stats(late) == pytest.approx((1.0, 1.0, 0.5, 0.2))
    # Until 110 s: reference 0-40 + 80-110 = 70 s, test 10-20 + 100-110 = 20 s, overlap 10 + 10 = 20 s.
    early = compare_af_episodes(ref, test, end_s=110.0)
    assert (early.ref_duration_s, early.test_duration_s, early.overlap_s) == (70.0, 20.0, 20.0)


def test_test_beyond_the_record_end_is_clipped() -> None:
    # Reference ends at 300 s (default end); test 250-400 counts as 50 s.
    ref = rhythms((0, "(N"), (200, "(AFIB"), end=300)
    c = compare_af_episodes(ref, [(250.0, 400.0)])
    assert (c.ref_duration_s, c.test_duration_s, c.overlap_s) == (100.0, 50.0, 50.0)


def test_consecutive_af_notes_are_one_episode() -> None:
    ref = rhythms((0, "(AFIB"), (50, "(AFIB"), (100, "(N"), end=200)
    assert rhythm_spans(ref, {"(AFIB"}) == [(0.0, 100.0)]
    assert compare_af_episodes(ref, [(10.0, 20.0)]).ref_episodes == 1


def test_test_rhythm_intervals_are_read_like_reference_ones() -> None:
    # Test given as rhythm intervals: its AF stretches are the episodes; test flutter is not AF.
    test = rhythms((0, "(N"), (150, "(AFIB"), (250, "(AFL"), (400, "(N"), end=600)
    assert stats(compare_af_episodes(REF_A, test)) == pytest.approx((1 / 2, 1.0, 50 / 150, 50 / 100))


def test_no_af_anywhere_is_undefined() -> None:
    c = compare_af_episodes(rhythms((0, "(N"), end=100), [])
    assert all(math.isnan(v) for v in stats(c))
    assert c.to_dict()["record"] == ""


def test_gross_and_average_statistics_by_hand() -> None:
    a = compare_af_episodes(REF_A, TEST_A, "a")
    b = compare_af_episodes(REF_B, TEST_B, "b")
    # Record "c": no reference AF, one false test episode 10-40 -> ESe, DSe undefined; E+P 0, D+P 0.
    c = compare_af_episodes(rhythms((0, "(N"), end=100), [(10.0, 40.0)], "c")
    s = ec57_statistics([a, b, c])
    gross, average = s["gross"], s["average"]
    # Gross: TPs 1 + 1 of 2 + 1 reference episodes = 2/3; TPp 1 + 1 + 0 of 3 + 2 + 1 test episodes = 2/6;
    # overlap 50 + 30 = 80 s of reference 150 + 60 = 210 s and test 170 + 70 + 30 = 270 s.
    assert (gross["episode_se"], gross["episode_ppv"]) == pytest.approx((2 / 3, 2 / 6))
    assert (gross["duration_se"], gross["duration_ppv"]) == pytest.approx((80 / 210, 80 / 270))
    assert (gross["ref_episodes"], gross["test_episodes"], gross["overlap_s"]) == (3, 6, 80.0)
    # Average over records where defined: ESe (1/2 + 1)/2; E+P (1/3 + 1/2 + 0)/3;
    # DSe (1/3 + 1/2)/2; D+P (50/170 + 30/70 + 0)/3.
    assert average["episode_se"] == pytest.approx(0.75)
    assert average["episode_ppv"] == pytest.approx((1 / 3 + 1 / 2) / 3)
    assert average["duration_se"] == pytest.approx((1 / 3 + 1 / 2) / 2)
    assert average["duration_ppv"] == pytest.approx((50 / 170 + 30 / 70) / 3)
    assert average["records"] == {"episode_se": 2, "episode_ppv": 3, "duration_se": 2, "duration_ppv": 3}
    assert s["records_compared"] == 3
    assert [r["record"] for r in s["records"]] == ["a", "b", "c"]
    assert set(STATISTICS) <= set(s["records"][0])


def test_statistics_of_no_records_are_undefined() -> None:
    s = ec57_statistics([])
    assert all(math.isnan(s["gross"][name]) and math.isnan(s["average"][name]) for name in STATISTICS)


def test_reference_against_itself_on_cpsc2021(shared_data: Path) -> None:
    # Real annotations: comparing the reference with itself gives 100 % wherever AF exists; the
    # flutter-only record (data_25_24) has no AF episode.
    for name in ("data_8_10", "data_66_16"):
        ref = read_rhythm_intervals(shared_data / "cpsc2021" / name)
        assert stats(compare_af_episodes(ref, ref, name)) == (1.0, 1.0, 1.0, 1.0)
    flutter_only = read_rhythm_intervals(shared_data / "cpsc2021" / "data_25_24")
    assert compare_af_episodes(flutter_only, flutter_only).ref_episodes == 0
