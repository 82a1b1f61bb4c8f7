"""Beats aligned to their QRS template and P-wave consistency (afdetect.signal.snippets, afdetect.signal.atrial)."""

from __future__ import annotations

import numpy as np
import pytest

from afdetect.io.synthetic import ecg_signal
from afdetect.signal.atrial import neighbour_correlation, split_half_correlation
from afdetect.signal.conditioning import condition_windows
from afdetect.signal.features import FEATURE_NAMES, rhythm_features
from afdetect.signal.snippets import ALIGN_SHIFT_S, align_to_template

FS = 128.0
CONSISTENCY = ("p_split", "p_consec", "p_dsplit", "pn_split", "pn_consec", "p_consec_frac", "p_consec_all")


def spikes(at_s: np.ndarray, seconds: float = 30.0, s_wave: float = 0.9) -> np.ndarray:
    """One window of QRS-like R-then-S pulses (R at ``at_s``), S almost as tall as R."""
    t = np.arange(int(seconds * FS)) / FS
    wave = np.zeros_like(t)
    for r in at_s:
        wave += np.exp(-((t - r) ** 2) / (2 * 0.01**2)) - s_wave * np.exp(-((t - r - 0.03) ** 2) / (2 * 0.01**2))
    return wave[None]


def test_beats_picked_on_r_and_s_alternately_are_moved_to_one_fiducial_point():
    at = np.arange(0.5, 29.5, 0.75)  # 96 samples apart
    x = spikes(at)
    r = np.round(at * FS).astype(np.int64)
    jittered = r + np.where(np.arange(len(r)) % 2 == 1, 4, 0)  # every other beat on its S wave (31 ms later)
    aligned = align_to_template(x, [jittered], FS)[0]
    assert set(np.diff(aligned).tolist()) == {96}
    assert np.ptp(np.diff(jittered)) == 8


def test_alignment_leaves_well_placed_beats_and_empty_windows_alone():
    at = np.arange(0.5, 29.5, 0.75)
    x = np.concatenate([spikes(at), np.zeros((1, 3840))])
    r = np.round(at * FS).astype(np.int64)
    aligned = align_to_template(x, [r, np.zeros(0, dtype=np.int64)], FS)
    np.testing.assert_array_equal(aligned[0], r)
    assert len(aligned[1]) == 0


def test_a_beat_moves_at_most_the_alignment_reach():
    at = np.arange(0.5, 29.5, 0.8)
    r = np.round(at * FS).astype(np.int64)
    far = r.copy()
    far[5] += 20  # 156 ms off: beyond the reach, it can only move ALIGN_SHIFT_S per pass
    aligned = align_to_template(spikes(at), [far], FS)[0]
    assert abs(int(aligned[5]) - int(far[5])) <= 2 * round(ALIGN_SHIFT_S * FS)


def test_neighbouring_p_regions_correlate_in_sinus_rhythm_and_not_in_af():
    rng = np.random.default_rng(3)
    p_wave = np.sin(np.linspace(0, np.pi, 28))
    sinus = p_wave + 0.2 * rng.standard_normal((1, 30, 28))
    af = 0.2 * rng.standard_normal((1, 30, 28))
    fits = np.ones((1, 30), dtype=bool)
    corr_sinus, pairs = neighbour_correlation(sinus, fits, 1)
    corr_af, _ = neighbour_correlation(af, fits, 1)
    assert pairs.shape == (1, 29) and pairs.all()
    assert np.median(corr_sinus) > 0.7 > 0.3 > abs(np.median(corr_af))


def test_split_half_needs_enough_beats_in_each_half():
    regions = np.random.default_rng(0).standard_normal((2, 6, 10))
    fits = np.ones((2, 6), dtype=bool)
    fits[1, 3:] = False  # two odd and one even beat left
    out = split_half_correlation(regions, fits)
    assert np.isfinite(out[0]) and np.isnan(out[1])


def conditioned(rhythm: str, seed: int) -> np.ndarray:
    raw = ecg_signal(250, 30.0, rhythm, hr_bpm=75.0, seed=seed)[None, :]
    x, _ = condition_windows(raw, np.array([raw.shape[1]]), 250)
    return x


@pytest.fixture(scope="module")
def sinus_and_af() -> tuple[np.ndarray, np.ndarray]:
    sinus = rhythm_features(np.concatenate([conditioned("sinus", s) for s in range(4)]))
    af = rhythm_features(np.concatenate([conditioned("af", s) for s in range(4)]))
    return sinus, af


@pytest.mark.parametrize("name", CONSISTENCY)
def test_p_wave_consistency_separates_synthetic_sinus_from_af(sinus_and_af, name):
    sinus, af = sinus_and_af
    j = FEATURE_NAMES.index(name)
    assert sinus[:, j].min() > af[:, j].max(), name


def test_consistency_features_are_nan_without_beats():
    features = rhythm_features(np.zeros((1, 3840), np.float32))
    for name in (*CONSISTENCY, "p_damp", "beat_split", "qrs_consec", "tq_split"):
        assert np.isnan(features[0, FEATURE_NAMES.index(name)]), name
