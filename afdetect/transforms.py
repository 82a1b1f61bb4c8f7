"""Signal and spectrogram transforms: pure functions, one pipeline step each.

NumPy functions work on batches of windows ``(n_windows, n_samples)``; the two model-input
transforms (:func:`frame_signal`, :func:`log_spectrogram`) are torch functions so the model
computes them on its own device, batched.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch

from afdetect.config import (
    BANDPASS_HZ,
    CLIP_FRACTION,
    FLAT_STD_MV,
    FRAME_LENGTH,
    FRAME_STEP,
    MAX_INVALID_FRACTION,
    MODEL_FS,
    N_FFT,
    STFT_HOP,
)
from afdetect.filters import filtfilt_bandpass, resample_polyphase


def resample_windows(x: np.ndarray, fs_in: float, fs_out: float = MODEL_FS) -> np.ndarray:
    """Resample along the last axis with a polyphase anti-aliasing filter (as ``scipy.signal.resample_poly``).

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)`` at ``fs_in`` Hz.
    fs_in, fs_out : float
        Input and output sampling rates (Hz). Non-integer ratios are approximated by a
        fraction with denominator at most 1000 (error below 0.1 %).

    Returns
    -------
    numpy.ndarray
        float32 signals at ``fs_out`` Hz, ``ceil(n_samples * up / down)`` samples long.

    Example
    -------
    >>> resample_windows(np.zeros((2, 9000)), 300).shape  # 30 s at 300 Hz -> 128 Hz
    (2, 3840)
    """
    ratio = Fraction(fs_out / fs_in).limit_denominator(1000)
    if ratio == 1:
        return np.asarray(x, dtype=np.float32)
    return resample_polyphase(x, ratio.numerator, ratio.denominator)


def bandpass(x: np.ndarray, fs: float = MODEL_FS, band: tuple[float, float] = BANDPASS_HZ) -> np.ndarray:
    """Zero-phase Butterworth band-pass (order 2 each way) along the last axis.

    Removes baseline wander below ``band[0]`` Hz and muscle/mains noise above ``band[1]`` Hz
    (capped at 0.45 ``fs``). The same as ``scipy.signal.sosfiltfilt`` of the ``butter`` design
    (:func:`afdetect.filters.filtfilt_bandpass`).

    Example
    -------
    >>> bandpass(np.ones((2, 3840))).shape  # a constant (baseline) is removed
    (2, 3840)
    """
    low, high = band
    return filtfilt_bandpass(x, (low, min(high, 0.45 * fs)), fs).astype(np.float32)


def normalise(x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Z-normalise each signal along the last axis (mean 0, standard deviation 1)."""
    mean = x.mean(axis=-1, keepdims=True)
    std = x.std(axis=-1, keepdims=True)
    return ((x - mean) / (std + eps)).astype(np.float32)


def assess_quality(x: np.ndarray) -> str | None:
    """Say why a raw window (mV, NaN = invalid sample) cannot be judged, or ``None``.

    A window is unreadable when more than ``MAX_INVALID_FRACTION`` of its samples are
    invalid, its standard deviation is below ``FLAT_STD_MV`` (flat line, lead off), or more
    than ``CLIP_FRACTION`` of its samples sit at its extreme values (saturated amplifier).

    Example
    -------
    >>> assess_quality(np.zeros(3840))
    'flat'
    """
    valid = x[np.isfinite(x)]
    if len(valid) < (1 - MAX_INVALID_FRACTION) * len(x):
        return "invalid samples"
    return _flat_or_clipped(valid[None])[0]


def _flat_or_clipped(x: np.ndarray) -> list[str | None]:
    """The flat and clipped rules of :func:`assess_quality` for rows of finite samples ``(n, k)``."""
    flat = x.std(axis=1) < FLAT_STD_MV
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    at_rails = np.count_nonzero(x <= lo, axis=1) + np.count_nonzero(x >= hi, axis=1)
    clipped = at_rails > CLIP_FRACTION * x.shape[1]
    return ["flat" if f else "clipped" if c else None for f, c in zip(flat, clipped, strict=True)]


def assess_windows(windows: np.ndarray, valid: np.ndarray) -> list[str | None]:
    """:func:`assess_quality` of every window of a batch, vectorised over the windows.

    Windows that are complete and hold no invalid sample (nearly all of a record) are judged
    together by the same rule function :func:`assess_quality` applies to one window, so the
    verdicts are identical; the others (padded tail, NaN) go through
    :func:`assess_quality` one by one.

    Parameters
    ----------
    windows : numpy.ndarray
        Raw windows ``(n, n_samples)`` in mV (NaN = invalid sample).
    valid : numpy.ndarray
        Real (unpadded) samples in each window.

    Returns
    -------
    list of str or None
        Per window, why it is unreadable, or ``None``.

    Example
    -------
    >>> assess_windows(np.zeros((2, 3840)), np.array([3840, 3840]))
    ['flat', 'flat']
    """
    n, length = windows.shape
    valid = np.asarray(valid)
    problems: list[str | None] = [None] * n
    whole = (valid == length) & np.isfinite(windows).all(axis=1)
    rows = np.flatnonzero(whole)
    if len(rows):
        for i, problem in zip(rows, _flat_or_clipped(windows[rows]), strict=True):
            problems[i] = problem
    for i in np.flatnonzero(~whole):
        problems[i] = assess_quality(windows[i, : valid[i]])
    return problems


def condition_windows(windows: np.ndarray, valid: np.ndarray, fs: float) -> tuple[np.ndarray, list[str | None]]:
    """Turn raw windows into model input: the whole per-window preprocessing pipeline.

    Steps per window: quality check; invalid samples set to the window median; median
    removed; polyphase resampling to ``MODEL_FS``; band-pass; z-normalisation; zero padding
    of the unfilled tail.

    Parameters
    ----------
    windows : numpy.ndarray
        Raw windows ``(n, n_samples)`` in mV at ``fs`` Hz, as cut by
        :func:`afdetect.segment.cut_windows`.
    valid : numpy.ndarray
        Real (unpadded) samples in each window.
    fs : float
        Sampling rate of ``windows`` (Hz).

    Returns
    -------
    x : numpy.ndarray
        ``(n, round(n_samples * MODEL_FS / fs))`` float32 model input; unreadable windows
        are all zero.
    problems : list of str or None
        Per window, why it is unreadable, or ``None``.
    """
    n, length = windows.shape
    out_len = int(round(length * MODEL_FS / fs))
    out = np.zeros((n, out_len), dtype=np.float32)
    problems = assess_windows(windows, valid)
    ok = np.array([p is None for p in problems], dtype=bool)
    full = ok & (valid == length)
    if full.any():
        out[full] = _condition(windows[full], fs, out_len)
    for i in np.flatnonzero(ok & ~full):
        n_out = int(round(valid[i] * MODEL_FS / fs))
        out[i, :n_out] = _condition(windows[i : i + 1, : valid[i]], fs, n_out)[0]
    return out, problems


def _condition(x: np.ndarray, fs: float, out_len: int) -> np.ndarray:
    x = np.array(x, dtype=np.float32)
    finite = np.isfinite(x)
    # np.median is vectorised; np.nanmedian loops over long rows in Python (same values without NaN).
    med = np.median(x, axis=-1, keepdims=True) if finite.all() else np.nanmedian(x, axis=-1, keepdims=True)
    x = np.where(finite, x, med) - med
    y = resample_windows(x, fs)
    y = y[..., :out_len]
    if y.shape[-1] < out_len:
        y = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, out_len - y.shape[-1])])
    return normalise(bandpass(y))


def frame_signal(x: torch.Tensor, length: int = FRAME_LENGTH, step: int = FRAME_STEP) -> torch.Tensor:
    """Cut signals ``(batch, n_samples)`` into overlapping frames ``(batch, n_frames, length)``.

    The tail is zero-padded so the last frame reaches the end of the signal.

    Example
    -------
    >>> frame_signal(torch.zeros(2, 3840)).shape
    torch.Size([2, 35, 128])
    """
    n = x.shape[-1]
    n_frames = max(1, -(-(n - length) // step) + 1)
    pad = (n_frames - 1) * step + length - n
    if pad > 0:
        x = torch.nn.functional.pad(x, (0, pad))
    return x.unfold(-1, length, step)


def log_spectrogram(x: torch.Tensor, n_fft: int = N_FFT, hop: int = STFT_HOP) -> torch.Tensor:
    """Log-magnitude STFT of signals ``(batch, n_samples)`` as images ``(batch, 1, freq, time)``.

    Hann window of ``n_fft`` samples, ``hop`` samples apart, magnitude normalised by the
    window energy, then ``log(max(|S|, 1e-8))``.

    Example
    -------
    >>> log_spectrogram(torch.zeros(2, 3840)).shape
    torch.Size([2, 1, 17, 241])
    """
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop_length=hop, window=window, normalized=True, return_complex=True)
    return torch.log(spec.abs().clamp_min(1e-8)).unsqueeze(1)
