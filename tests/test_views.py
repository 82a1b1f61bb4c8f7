"""The median beat's P and T deflections (afdetect.signal.template) and the cropped training views of
the trees (afdetect.training.augment.crop_signal, afdetect.training.trees.feature_views)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from afdetect.errors import ParameterError
from afdetect.models.trees import TreesRecipe
from afdetect.signal.ectopy import MIN_BEATS
from afdetect.signal.features import FEATURE_NAMES, rhythm_features
from afdetect.signal.snippets import Beats
from afdetect.signal.template import median_beat_shape
from afdetect.training.augment import crop_signal
from afdetect.training.cache import load_window_set
from afdetect.training.trees import feature_views, fit_on_views

FS = 128.0


def beats_with_p(p_height: float, n_beats: int = 29, noise: float = 0.0, seed: int = 0) -> Beats:
    """Beats one second apart: an R spike, a P wave of ``p_height`` 0.18 s before it, a T wave
    0.25 s after it (0.3 high), and white noise of SD ``noise``."""
    t = np.arange(3840) / FS
    phase = t % 1.0 - 0.5
    ecg = np.exp(-(phase**2) / 2e-4) + p_height * np.exp(-((phase + 0.18) ** 2) / 1e-3)
    ecg += 0.3 * np.exp(-((phase - 0.25) ** 2) / 2e-3)
    ecg += noise * np.random.default_rng(seed).standard_normal(len(t))
    peaks = np.arange(64, 3840, 128)[:n_beats]
    return Beats.of(ecg[None], [peaks], (-58, 58))


def test_an_upright_p_wave_stands_above_the_baseline_and_an_inverted_one_below():
    upright, inverted = median_beat_shape(beats_with_p(0.15), FS), median_beat_shape(beats_with_p(-0.15), FS)
    assert upright["beat_p_max"][0] == pytest.approx(0.15, abs=0.01)
    assert inverted["beat_p_min"][0] == pytest.approx(-0.15, abs=0.01)
    assert upright["beat_p_mean"][0] > 0.02 > -0.02 > inverted["beat_p_mean"][0]
    assert upright["beat_t_max"][0] == pytest.approx(0.3, abs=0.02)  # the T wave, in fractions of R


def test_without_p_waves_the_p_region_stays_at_the_baseline_and_noise_shows_as_spread():
    none, noisy = median_beat_shape(beats_with_p(0.0), FS), median_beat_shape(beats_with_p(0.0, noise=0.1), FS)
    assert abs(none["beat_p_abs"][0]) < 0.005 and none["beat_p_spread"][0] < 0.005
    assert noisy["beat_p_spread"][0] > 0.03
    assert noisy["beat_p_snr"][0] < median_beat_shape(beats_with_p(0.15, noise=0.02), FS)["beat_p_snr"][0]


def test_too_few_whole_beats_give_nan():
    shape = median_beat_shape(beats_with_p(0.15, n_beats=MIN_BEATS - 1), FS)
    assert all(np.isnan(value[0]) for value in shape.values())


def test_every_median_beat_feature_is_a_feature_of_the_trees():
    assert set(median_beat_shape(beats_with_p(0.15), FS)) <= set(FEATURE_NAMES)


def test_crop_signal_removes_seconds_at_either_end_and_leaves_short_windows_whole():
    x = np.zeros((2, 3840), dtype=np.float32)
    x[0] = np.arange(1, 3841)
    x[1, :2000] = np.arange(1, 2001)  # 15.6 s of signal: under the shortest that is cropped
    start = crop_signal(x, 6.0, at_start=True, min_signal_s=20.0, fs=FS)
    end = crop_signal(x, 6.0, at_start=False, min_signal_s=20.0, fs=FS)
    np.testing.assert_array_equal(start[0, :3072], x[0, 768:])
    np.testing.assert_array_equal(end[0, :3072], x[0, :3072])
    assert not start[0, 3072:].any() and not end[0, 3072:].any()
    np.testing.assert_array_equal(start[1], x[1])
    np.testing.assert_array_equal(end[1], x[1])
    assert x[0, -1] == 3840  # the input is not changed


def test_feature_views_measure_each_cropped_window_and_keep_every_window_s_weight(windows_file: Path):
    ws = load_window_set(windows_file, mmap=False)
    whole = rhythm_features(np.asarray(ws.windows, dtype=np.float32), ws.preprocessing.model_fs)
    assert len(feature_views(ws, whole, TreesRecipe(crop_s=()))) == 1
    assert len(feature_views(ws, whole, TreesRecipe(crop_s=(6.0, 12.0)))) == 5
    views = feature_views(ws, whole, TreesRecipe(crop_s=(6.0,)))
    assert len(views) == 3 and all(view.shape == whole.shape for view in views)
    cropped = crop_signal(ws.windows[:3], 6.0, at_start=False, min_signal_s=20.0, fs=ws.preprocessing.model_fs)
    np.testing.assert_allclose(views[2][:3], rhythm_features(cropped, ws.preprocessing.model_fs), equal_nan=True)
    duration = list(FEATURE_NAMES).index("duration_s")
    np.testing.assert_allclose(views[1][:, duration], whole[:, duration] - 6.0, atol=0.01)
    some = np.arange(len(whole)) % 3 == 0
    partial = feature_views(ws, whole, TreesRecipe(crop_s=(6.0,)), some)
    np.testing.assert_allclose(partial[1][some], views[1][some], equal_nan=True)
    assert np.isnan(partial[2][~some]).all()  # windows outside ``rows`` are not measured


def test_fit_on_views_sees_every_view_of_the_chosen_rows():
    rng = np.random.default_rng(0)
    targets = np.arange(40) % 4
    whole = rng.standard_normal((40, len(FEATURE_NAMES))).astype(np.float32)
    shifted = whole.copy()
    shifted[:, 0] = targets * 10.0  # only this view tells the classes apart
    booster = fit_on_views([whole, shifted], targets, np.ones(40, bool), TreesRecipe(n_trees=5, min_data_in_leaf=2), 1)
    assert booster.feature_importance()[0] > 0


@pytest.mark.parametrize("crop_s", [(0.0,), (6.0, -12.0)])
def test_crops_of_no_or_negative_seconds_are_refused(windows_file: Path, crop_s: tuple[float, ...]):
    ws = load_window_set(windows_file, mmap=False)
    with pytest.raises(ParameterError, match="crop_s"):
        feature_views(ws, np.zeros((len(ws), len(FEATURE_NAMES)), np.float32), TreesRecipe(crop_s=crop_s))
