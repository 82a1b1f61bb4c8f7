"""NumPy filters against SciPy: polyphase resampling and the zero-phase Butterworth band-pass.

SciPy is the reference the shipped weights were trained with; prediction must condition
windows the same way without importing ``scipy.signal``.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from scipy import signal as sps

from afdetect.config import BANDPASS_HZ, MODEL_FS
from afdetect.signal.filters import butterworth_bandpass_zpk, filtfilt_bandpass, resample_polyphase


def _ecg_like(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Random walk (baseline wander) plus white noise plus an offset: every band has energy."""
    rng = np.random.default_rng(seed)
    walk = rng.standard_normal(shape).cumsum(axis=-1) * 0.05
    return (walk + rng.standard_normal(shape) + 3.0).astype(np.float32)


@pytest.mark.parametrize("fs", [128.5, 200, 250, 257, 300, 360, 500, 1000, 100, 64, 47.3])
@pytest.mark.parametrize("n_samples", [1, 7, 1000, 7501])
def test_resample_polyphase_equals_scipy_resample_poly(fs: float, n_samples: int) -> None:
    ratio = Fraction(MODEL_FS / fs).limit_denominator(1000)
    x = _ecg_like((3, n_samples))
    expected = sps.resample_poly(x, ratio.numerator, ratio.denominator, axis=-1)
    got = resample_polyphase(x, ratio.numerator, ratio.denominator)
    assert got.shape == expected.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-5 * np.abs(expected).max())


def test_resample_polyphase_one_signal_reduced_ratio_and_identity() -> None:
    x = _ecg_like((7500,))
    np.testing.assert_allclose(resample_polyphase(x, 128, 250), sps.resample_poly(x, 64, 125), atol=1e-4)
    np.testing.assert_array_equal(resample_polyphase(x, 3, 3), x)
    with pytest.raises(ValueError, match="positive integers"):
        resample_polyphase(x, 0, 2)


@pytest.mark.parametrize(
    ("band", "fs"), [((0.5, 40.0), 128.0), ((5.0, 15.0), 128.0), ((0.5, 40.0), 360.0), ((1.0, 20.0), 50.0)]
)
def test_butterworth_bandpass_zpk_equals_scipy_butter(band: tuple[float, float], fs: float) -> None:
    zeros, poles, gain = butterworth_bandpass_zpk(2, band, fs)
    ref_zeros, ref_poles, ref_gain = sps.butter(2, list(band), btype="bandpass", fs=fs, output="zpk")
    np.testing.assert_allclose(np.sort_complex(zeros), np.sort_complex(ref_zeros), atol=1e-12)
    np.testing.assert_allclose(np.sort_complex(poles), np.sort_complex(ref_poles), atol=1e-12)
    assert gain == pytest.approx(ref_gain, rel=1e-12)


@pytest.mark.parametrize(("band", "fs"), [(BANDPASS_HZ, MODEL_FS), ((5.0, 15.0), 128.0), ((0.5, 40.0), 300.0)])
@pytest.mark.parametrize("n_samples", [16, 200, 3840])
def test_filtfilt_bandpass_equals_scipy_sosfiltfilt(band: tuple[float, float], fs: float, n_samples: int) -> None:
    x = _ecg_like((4, n_samples), seed=n_samples)
    sos = sps.butter(2, list(band), btype="bandpass", fs=fs, output="sos")
    expected = sps.sosfiltfilt(sos, x, axis=-1)
    got = filtfilt_bandpass(x, band, fs)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6 * np.abs(expected).max())


def test_filtfilt_bandpass_refuses_short_signals_and_bad_bands() -> None:
    with pytest.raises(ValueError, match="longer than 15 samples"):
        filtfilt_bandpass(np.zeros(15), BANDPASS_HZ, MODEL_FS)
    with pytest.raises(ValueError, match="0 < low < high < fs/2"):
        filtfilt_bandpass(np.zeros(100), (0.5, 70.0), MODEL_FS)
