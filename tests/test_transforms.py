"""Transforms: resampling, band-pass, normalisation, quality check, conditioning, frames and spectrogram."""

from __future__ import annotations

import math

import numpy as np
import pytest
import synth
import torch

from afdetect.config import FRAME_LENGTH, FRAME_STEP, MODEL_FS, N_FFT, STFT_HOP, WINDOW_S, window_samples
from afdetect.models.frontend import frame_signal, log_spectrogram
from afdetect.signal.conditioning import bandpass, condition_windows, normalise, resample_windows
from afdetect.signal.quality import assess_quality

RATES_HZ = (128, 200, 250, 257, 300, 360, 500, 1000)  # 257: INCART; 1000: CinC 2020
MODEL_SAMPLES = window_samples(MODEL_FS, WINDOW_S)


def _sine(fs: float, freq: float, duration_s: float = WINDOW_S, amplitude: float = 1.0) -> np.ndarray:
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(round(duration_s * fs))) / fs)


def _peak_hz(x: np.ndarray, fs: float) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / fs)[np.argmax(spectrum)])


@pytest.mark.parametrize("fs", RATES_HZ)
def test_resample_30_s_window_gives_model_length(fs: float) -> None:
    x = np.zeros((3, window_samples(fs)))
    y = resample_windows(x, fs)
    assert y.shape == (3, MODEL_SAMPLES)
    assert y.dtype == np.float32


@pytest.mark.parametrize("fs", RATES_HZ)
@pytest.mark.parametrize("freq", [1.3, 6.0, 25.0])
def test_resample_preserves_sine_frequency_and_amplitude(fs: float, freq: float) -> None:
    y = resample_windows(_sine(fs, freq)[None], fs)[0]
    assert _peak_hz(y, MODEL_FS) == pytest.approx(freq, abs=1 / WINDOW_S)
    inner = y[200:-200]  # away from the filter's edge transients
    assert np.abs(inner).max() == pytest.approx(1.0, abs=0.05)


def test_resample_removes_content_above_new_nyquist() -> None:
    # 100 Hz at 500 Hz would alias to 28 Hz at 128 Hz without the anti-aliasing filter.
    y = resample_windows(_sine(500, 100.0)[None], 500)[0]
    assert np.abs(y[200:-200]).max() < 0.05


def test_resample_non_integer_rate() -> None:
    fs = 257.3
    y = resample_windows(_sine(fs, 5.0)[None], fs)[0]
    assert abs(len(y) - MODEL_SAMPLES) <= 2
    assert _peak_hz(y, MODEL_FS) == pytest.approx(5.0, abs=0.05)


def test_resample_same_rate_is_identity() -> None:
    x = np.random.default_rng(0).normal(size=(2, 100))
    np.testing.assert_allclose(resample_windows(x, MODEL_FS), x.astype(np.float32))


def test_bandpass_removes_baseline_and_high_frequency_noise() -> None:
    t = np.arange(MODEL_SAMPLES) / MODEL_FS
    ecg_band = np.sin(2 * np.pi * 10 * t)
    x = ecg_band + 2.0 * np.sin(2 * np.pi * 0.05 * t) + 0.5 * np.sin(2 * np.pi * 60 * t) + 3.0
    y = bandpass(x[None])[0]
    assert y.dtype == np.float32
    inner = slice(500, -500)
    np.testing.assert_allclose(y[inner], ecg_band[inner], atol=0.1)


def test_normalise() -> None:
    x = np.random.default_rng(1).normal(3.0, 5.0, size=(4, 1000))
    y = normalise(x)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=1), 1, atol=1e-4)
    assert np.all(np.isfinite(normalise(np.zeros((1, 100)))))


def test_assess_quality() -> None:
    good = synth.ecg_signal(300, 30, seed=4)
    assert assess_quality(good) is None
    assert assess_quality(np.zeros(9000)) == "flat"
    assert assess_quality(np.full(9000, 2.5) + 0.001 * np.sin(np.arange(9000))) == "flat"
    clipped = np.clip(good * 5, -0.3, 0.3)
    assert assess_quality(clipped) == "clipped"
    nan_heavy = good.copy()
    nan_heavy[: int(0.2 * len(good))] = np.nan
    assert assess_quality(nan_heavy) == "invalid samples"
    assert assess_quality(np.full(100, np.nan)) == "invalid samples"
    few_nan = good.copy()
    few_nan[:100] = np.nan  # ~1 %: still judged
    assert assess_quality(few_nan) is None


@pytest.mark.parametrize("fs", RATES_HZ)
def test_condition_windows_shapes_and_normalisation(fs: float) -> None:
    win = window_samples(fs)
    signal = synth.ecg_signal(fs, 40, seed=5)
    windows = np.zeros((3, win), dtype=np.float32)
    windows[0] = signal[:win]
    windows[1, : int(20 * fs)] = signal[: int(20 * fs)]  # padded window: 20 s of signal
    valid = np.array([win, int(20 * fs), win])  # window 2 is all zeros: flat
    x, problems = condition_windows(windows, valid, fs)
    assert x.shape == (3, MODEL_SAMPLES) and x.dtype == np.float32
    assert problems == [None, None, "flat"]
    assert x[0].mean() == pytest.approx(0, abs=1e-4) and x[0].std() == pytest.approx(1, abs=1e-3)
    n_real = 20 * MODEL_FS
    assert x[1, :n_real].std() == pytest.approx(1, abs=1e-3)
    assert np.all(x[1, n_real:] == 0)  # the padded tail stays zero
    assert np.all(x[2] == 0)  # unreadable windows are all zero


def test_condition_windows_fills_a_few_invalid_samples() -> None:
    fs = 250
    window = synth.ecg_signal(fs, 30, seed=6).astype(np.float32)
    window[1000:1050] = np.nan
    x, problems = condition_windows(window[None], np.array([len(window)]), fs)
    assert problems == [None]
    assert np.all(np.isfinite(x))


def test_condition_windows_flags_flat_clipped_and_nan_windows() -> None:
    fs = 300
    good = synth.ecg_signal(fs, 30, seed=8)
    nan = good.copy()
    nan[::3] = np.nan
    windows = np.stack([good, np.zeros_like(good), np.clip(good * 5, -0.3, 0.3), nan]).astype(np.float32)
    x, problems = condition_windows(windows, np.full(4, windows.shape[1]), fs)
    assert problems == [None, "flat", "clipped", "invalid samples"]
    assert np.all(x[1:] == 0)


def test_frame_signal_shape_and_content() -> None:
    x = torch.arange(2 * MODEL_SAMPLES, dtype=torch.float32).reshape(2, MODEL_SAMPLES)
    frames = frame_signal(x)
    n_frames = max(1, math.ceil((MODEL_SAMPLES - FRAME_LENGTH) / FRAME_STEP) + 1)
    assert frames.shape == (2, n_frames, FRAME_LENGTH)
    assert torch.equal(frames[1, 1], x[1, FRAME_STEP : FRAME_STEP + FRAME_LENGTH])
    assert (n_frames - 1) * FRAME_STEP + FRAME_LENGTH >= MODEL_SAMPLES  # the last frame reaches the end
    assert frame_signal(torch.zeros(2, 3840), length=256, step=224).shape == (2, 17, 256)
    padded = frame_signal(torch.ones(1, 300), length=256, step=224)  # 2 frames, the second zero-padded
    assert padded.shape == (1, 2, 256)
    assert padded[0, 1, : 300 - 224].eq(1).all() and padded[0, 1, 300 - 224 :].eq(0).all()


def test_log_spectrogram_shape_and_peak() -> None:
    t = torch.arange(MODEL_SAMPLES) / MODEL_FS
    freq_hz = 16.0
    x = torch.sin(2 * torch.pi * freq_hz * t).repeat(3, 1)
    spec = log_spectrogram(x)
    assert spec.shape == (3, 1, N_FFT // 2 + 1, MODEL_SAMPLES // STFT_HOP + 1)
    bin_hz = MODEL_FS / N_FFT
    assert int(spec[0, 0, :, 10:-10].mean(dim=1).argmax()) == round(freq_hz / bin_hz)
    assert torch.isfinite(log_spectrogram(torch.zeros(1, MODEL_SAMPLES))).all()  # log of zeros is clamped
    assert log_spectrogram(torch.zeros(2, 3840), n_fft=64, hop=32).shape == (2, 1, 33, 121)
