"""Training augmentations: shape, determinism, normalisation, what each step does."""

from __future__ import annotations

import numpy as np
import pytest
import synth

from afdetect.config import MODEL_FS
from afdetect.signal.conditioning import normalise
from afdetect.training.augment import AUGMENTATIONS, augment_window, cutout, flip_polarity, shift_time, stretch_time


@pytest.fixture
def window() -> np.ndarray:
    return normalise(synth.ecg_signal(MODEL_FS, 30, seed=31)[None])[0]


@pytest.mark.parametrize("step", AUGMENTATIONS, ids=lambda f: f.__name__)
def test_each_step_keeps_length_and_is_finite(step, window: np.ndarray) -> None:
    out = step(window, np.random.default_rng(0))
    assert out.shape == window.shape
    assert np.all(np.isfinite(out))


def test_augment_window_is_seeded_and_normalised(window: np.ndarray) -> None:
    a = augment_window(window, np.random.default_rng(5), p=1.0)
    b = augment_window(window, np.random.default_rng(5), p=1.0)
    c = augment_window(window, np.random.default_rng(6), p=1.0)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    assert a.dtype == np.float32 and abs(a.mean()) < 1e-4 and abs(a.std() - 1) < 1e-3
    np.testing.assert_allclose(augment_window(window, np.random.default_rng(5), p=0.0), normalise(window), atol=1e-6)


def test_individual_steps(window: np.ndarray) -> None:
    rng = np.random.default_rng(2)
    np.testing.assert_array_equal(flip_polarity(window, rng), -window)
    shifted = shift_time(window, np.random.default_rng(3))
    lags = [k for k in range(-400, 401) if np.allclose(shifted[500:-500], window[500 + k : len(window) - 500 + k])]
    assert len(lags) == 1  # a pure shift by some lag within ±3 s
    stretched = stretch_time(window, np.random.default_rng(4))
    assert not np.allclose(stretched, window)
    out = cutout(window, np.random.default_rng(5))
    assert np.count_nonzero(out == 0) >= int(0.05 * len(window))
