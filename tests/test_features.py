"""Rhythm and atrial-activity features (afdetect.signal.features, afdetect.signal.ectopy)."""

from __future__ import annotations

import numpy as np
import pytest

from afdetect.io.synthetic import ecg_signal
from afdetect.signal.conditioning import condition_windows
from afdetect.signal.ectopy import ectopic_intervals, ectopy_pattern, rr_irregularity
from afdetect.signal.features import FEATURE_NAMES, rhythm_features
from afdetect.signal.ragged import Rows

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


def one(rr: np.ndarray) -> Rows:
    return Rows.from_list([np.asarray(rr, dtype=np.float64)])


def test_ectopic_pairs_and_outliers_are_removed_but_af_intervals_are_not():
    rng = np.random.default_rng(0)
    bigeminy = np.tile([0.55, 1.05], 15)
    trigeminy = np.tile([0.8, 0.8, 0.5, 1.1], 8)
    af = 0.8 * rng.uniform(0.55, 1.45, 40)
    assert ectopic_intervals(one(trigeminy)).sum() == 16  # every premature-compensatory pair
    kept = ~ectopic_intervals(one(trigeminy))[0]
    assert np.allclose(trigeminy[kept], 0.8)
    assert ectopic_intervals(one(af)).mean() < 0.5
    assert ectopy_pattern(one(bigeminy))["acf1"][0] < -0.9
    assert abs(ectopy_pattern(one(af))["acf1"][0]) < 0.4


def test_rr_irregularity_scales_and_needs_enough_intervals():
    rr = np.array([0.6, 0.9, 0.7, 1.0, 0.65, 0.95, 0.8, 0.75])
    twice = rr_irregularity(one(2 * rr), one(2 * np.diff(rr)))
    once = rr_irregularity(one(rr), one(np.diff(rr)))
    assert twice["mean"][0] == pytest.approx(2 * once["mean"][0])
    for name in ("cv", "nrmssd", "mad", "iqr", "sd1sd2", "tpr"):
        assert twice[name][0] == pytest.approx(once[name][0]), name
    assert np.isnan(rr_irregularity(one(rr[:3]), one(np.diff(rr[:3])))["cv"][0])


def test_rows_of_different_lengths_give_what_each_row_gives_alone():
    rng = np.random.default_rng(1)
    series = [0.8 + 0.2 * rng.standard_normal(n) for n in (0, 3, 4, 9, 30, 57)]
    together = rr_irregularity(Rows.from_list(series), Rows.from_list([np.diff(s) for s in series]))
    pattern = ectopy_pattern(Rows.from_list(series))
    for i, s in enumerate(series):
        alone = rr_irregularity(one(s), one(np.diff(s)))
        alone_pattern = ectopy_pattern(one(s))
        for name, value in alone.items():
            np.testing.assert_allclose(together[name][i], value[0], rtol=1e-12, err_msg=name)
        for name, value in alone_pattern.items():
            np.testing.assert_allclose(pattern[name][i], value[0], rtol=1e-12, err_msg=name)
    assert np.isnan(together["cv"][:2]).all() and np.isfinite(together["cv"][2:]).all()


def test_irregularity_statistics_match_numpy_on_one_series():
    rr = np.array([0.6, 0.9, 0.7, 1.0, 0.65, 0.95, 0.8, 0.75, 0.9])
    drr = np.diff(rr)
    f = rr_irregularity(one(rr), one(drr))
    assert f["cv"][0] == pytest.approx(rr.std() / rr.mean())
    assert f["mad"][0] == pytest.approx(np.median(np.abs(drr)) / rr.mean())
    assert f["iqr"][0] == pytest.approx(np.subtract(*np.quantile(rr, [0.75, 0.25])) / rr.mean())
    assert f["tpr"][0] == pytest.approx(np.mean(drr[:-1] * drr[1:] < 0))
    assert f["pnn50"][0] == pytest.approx(np.mean(np.abs(drr) > 0.05))


def test_features_do_not_depend_on_which_windows_are_computed_together(sinus_and_af):
    windows = np.concatenate([conditioned("sinus", 7), conditioned("af", 7, hr_bpm=130), np.zeros((1, 3840))])
    short = conditioned("af", 8, seconds=12.0)
    windows = np.concatenate([windows, np.pad(short, ((0, 0), (0, 3840 - short.shape[1])))])
    alone = rhythm_features(windows, chunk=1, threads=1)
    np.testing.assert_allclose(rhythm_features(windows, chunk=4, threads=1), alone, rtol=1e-5)
    np.testing.assert_array_equal(rhythm_features(windows, chunk=4, threads=2), rhythm_features(windows, threads=1))
    np.testing.assert_array_equal(rhythm_features(windows, chunk=1, threads=3), alone)
