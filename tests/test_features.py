"""Rhythm and atrial-activity features (afdetect.signal.features, afdetect.signal.ectopy)."""

from __future__ import annotations

import numpy as np
import pytest

from afdetect.io.synthetic import ecg_signal
from afdetect.signal.conditioning import condition_windows
from afdetect.signal.ectopy import ectopic_intervals, ectopy_pattern, rr_irregularity
from afdetect.signal.features import FEATURE_NAMES, rhythm_features

FS = 250


def conditioned(rhythm: str, seed: int, hr_bpm: float = 75.0, seconds: float = 30.0) -> np.ndarray:
    """One conditioned window of a synthetic single-rhythm ECG."""
    raw = ecg_signal(FS, seconds, rhythm, hr_bpm=hr_bpm, seed=seed)[None, :]
    x, problems = condition_windows(raw, np.array([raw.shape[1]]), FS)
    assert problems == [None]
    return x


def column(features: np.ndarray, name: str) -> np.ndarray:
    return features[:, FEATURE_NAMES.index(name)]


@pytest.fixture(scope="module")
def sinus_and_af() -> tuple[np.ndarray, np.ndarray]:
    sinus = np.concatenate([conditioned("sinus", seed) for seed in range(4)])
    af = np.concatenate([conditioned("af", seed) for seed in range(4)])
    return rhythm_features(sinus), rhythm_features(af)


def test_feature_names_are_unique_and_match_the_columns(sinus_and_af):
    sinus, _ = sinus_and_af
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    assert sinus.shape == (4, len(FEATURE_NAMES))
    assert sinus.dtype == np.float32


def test_heart_rate_and_beats_of_a_regular_sinus_window(sinus_and_af):
    sinus, _ = sinus_and_af
    np.testing.assert_allclose(column(sinus, "heart_rate_bpm"), 75, rtol=0.05)
    assert np.all(np.abs(column(sinus, "n_beats") - 37.5) <= 2)
    assert np.all(column(sinus, "normal_frac") > 0.9)


def test_af_is_irregular_over_normal_beats_and_after_ectopy_removal(sinus_and_af):
    sinus, af = sinus_and_af
    for name in ("nn_nrmssd", "clean_nrmssd", "nn_cosen"):
        assert column(af, name).min() > column(sinus, name).max(), name


def test_sinus_windows_carry_a_consistent_p_wave_and_af_windows_do_not(sinus_and_af):
    sinus, af = sinus_and_af
    for name in ("p_corr", "p_snr", "p_present"):
        assert column(sinus, name).min() > column(af, name).max(), name


def test_fibrillatory_waves_raise_the_residual_f_band_share(sinus_and_af):
    sinus, af = sinus_and_af
    assert np.median(column(af, "res_af_band")) > np.median(column(sinus, "res_af_band"))


def test_flat_and_padded_windows_give_nan_rhythm_features_not_errors():
    flat = np.zeros((1, 3840), np.float32)
    short = conditioned("sinus", 0, seconds=10.0)
    short = np.pad(short, ((0, 0), (0, 3840 - short.shape[1])))  # a 10 s record's zero-padded window
    features = rhythm_features(np.concatenate([flat, short]))
    assert np.isnan(column(features, "nn_nrmssd")[0])
    assert column(features, "duration_s")[1] == pytest.approx(10.0, abs=0.05)
    assert np.isfinite(column(features, "heart_rate_bpm")[1])


def test_rhythm_features_refuse_anything_but_a_batch_of_windows():
    with pytest.raises(ValueError, match=r"\(n, n_samples\)"):
        rhythm_features(np.zeros(3840))


def test_ectopic_pairs_and_outliers_are_removed_but_af_intervals_are_not():
    rng = np.random.default_rng(0)
    bigeminy = np.tile([0.55, 1.05], 15)
    trigeminy = np.tile([0.8, 0.8, 0.5, 1.1], 8)
    af = 0.8 * rng.uniform(0.55, 1.45, 40)
    assert ectopic_intervals(trigeminy).sum() == 16  # every premature-compensatory pair
    kept = ~ectopic_intervals(trigeminy)
    assert np.allclose(trigeminy[kept], 0.8)
    assert ectopic_intervals(af).mean() < 0.5
    assert ectopy_pattern(bigeminy)["acf1"] < -0.9
    assert abs(ectopy_pattern(af)["acf1"]) < 0.4


def test_rr_irregularity_scales_and_needs_enough_intervals():
    rr = np.array([0.6, 0.9, 0.7, 1.0, 0.65, 0.95, 0.8, 0.75])
    twice = rr_irregularity(2 * rr, 2 * np.diff(rr))
    once = rr_irregularity(rr, np.diff(rr))
    assert twice["mean"] == pytest.approx(2 * once["mean"])
    for name in ("cv", "nrmssd", "mad", "iqr", "sd1sd2", "tpr"):
        assert twice[name] == pytest.approx(once[name]), name
    assert np.isnan(rr_irregularity(rr[:3], np.diff(rr[:3]))["cv"])
