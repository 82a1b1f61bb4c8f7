"""Conditioning: resample, band-pass and z-normalise windows into the model's input, one pure step each.

Functions work on batches of windows ``(n_windows, n_samples)`` with NumPy only (no SciPy,
no torch); the torch front end of the model is :mod:`afdetect.models.frontend`.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from afdetect.config import (
    BANDPASS_HZ,
    MODEL_FS,
)
from afdetect.signal.filters import filtfilt_bandpass, resample_polyphase
from afdetect.signal.quality import assess_windows


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
    (:func:`afdetect.signal.filters.filtfilt_bandpass`).

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


def condition_windows(
    windows: np.ndarray,
    valid: np.ndarray,
    fs: float,
    *,
    fs_out: float = MODEL_FS,
    band: tuple[float, float] = BANDPASS_HZ,
) -> tuple[np.ndarray, list[str | None]]:
    """Turn raw windows into model input: the whole per-window preprocessing pipeline.

    Steps per window: quality check; invalid samples set to the window median; median
    removed; polyphase resampling to ``fs_out``; band-pass ``band``; z-normalisation; zero padding
    of the unfilled tail.

    Parameters
    ----------
    windows : numpy.ndarray
        Raw windows ``(n, n_samples)`` in mV at ``fs`` Hz, as cut by
        :func:`afdetect.signal.windows.cut_windows`.
    valid : numpy.ndarray
        Real (unpadded) samples in each window.
    fs : float
        Sampling rate of ``windows`` (Hz).
    fs_out : float
        Model rate (Hz); default ``MODEL_FS``.
    band : tuple of float
        Pass band (Hz); default ``BANDPASS_HZ``.

    Returns
    -------
    x : numpy.ndarray
        ``(n, round(n_samples * fs_out / fs))`` float32 model input; unreadable windows
        are all zero.
    problems : list of str or None
        Per window, why it is unreadable, or ``None``.
    """
    n, length = windows.shape
    out_len = int(round(length * fs_out / fs))
    out = np.zeros((n, out_len), dtype=np.float32)
    problems = assess_windows(windows, valid)
    ok = np.array([p is None for p in problems], dtype=bool)
    full = ok & (valid == length)
    if full.any():
        out[full] = _condition(windows[full], fs, out_len, fs_out, band)
    for i in np.flatnonzero(ok & ~full):
        n_out = int(round(valid[i] * fs_out / fs))
        out[i, :n_out] = _condition(windows[i : i + 1, : valid[i]], fs, n_out, fs_out, band)[0]
    return out, problems


def _condition(x: np.ndarray, fs: float, out_len: int, fs_out: float, band: tuple[float, float]) -> np.ndarray:
    x = np.array(x, dtype=np.float32)
    finite = np.isfinite(x)
    # np.median is vectorised; np.nanmedian loops over long rows in Python (same values without NaN).
    med = np.median(x, axis=-1, keepdims=True) if finite.all() else np.nanmedian(x, axis=-1, keepdims=True)
    x = np.where(finite, x, med) - med
    y = resample_windows(x, fs, fs_out)
    y = y[..., :out_len]
    if y.shape[-1] < out_len:
        y = np.pad(y, [(0, 0)] * (y.ndim - 1) + [(0, out_len - y.shape[-1])])
    return normalise(bandpass(y, fs_out, band))
