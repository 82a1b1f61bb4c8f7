"""Digital filters in NumPy: polyphase resampling and a zero-phase Butterworth band-pass.

They compute what SciPy computes, to float32 rounding (``tests/test_filters.py`` compares
them with SciPy):

* :func:`resample_polyphase` is ``scipy.signal.resample_poly(x, up, down)``: a Kaiser-windowed
  (beta 5) low-pass FIR of ``20 * max(up, down) + 1`` taps, applied polyphase;
* :func:`filtfilt_bandpass` is ``scipy.signal.sosfiltfilt(butter(order, band, "bandpass",
  fs=fs, output="sos"), x)``: forward and backward filtering with odd extension of
  ``3 * (2 * order + 1)`` samples at each end and steady-state initial conditions.

Why not call SciPy: importing ``scipy.signal`` alone takes about 1 s, a quarter of the
start-up of ``afdetect predict``, and prediction needs nothing else from it.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

KAISER_BETA: float = 5.0
"""Kaiser window shape of the resampling filter (SciPy's ``resample_poly`` default)."""


DECAY_TOLERANCE: float = 1e-9
"""The band-pass impulse response is followed until it has decayed to this fraction (FFT length):
what is left is far below float32 resolution (6e-8)."""


@lru_cache(maxsize=16)
def _polyphase_filter(up: int, down: int) -> tuple[np.ndarray, int]:
    """Anti-aliasing FIR split into its ``up`` phases, taps reversed; and the output delay (samples)."""
    max_rate = max(up, down)
    half_len = 10 * max_rate
    cutoff = 1.0 / max_rate  # relative to the Nyquist rate of the upsampled signal
    m = np.arange(2 * half_len + 1) - half_len
    h = cutoff * np.sinc(cutoff * m) * np.kaiser(2 * half_len + 1, KAISER_BETA)
    h = h / h.sum() * up
    pre_pad = down - half_len % down  # centres the output samples on the filter
    h = np.concatenate([np.zeros(pre_pad), h])
    taps = -(-len(h) // up)
    h = np.concatenate([h, np.zeros(taps * up - len(h))])
    # phases[r, j] = h[r + (taps - 1 - j) * up]: phase r, taps in input order.
    phases = np.ascontiguousarray(h.reshape(taps, up).T[:, ::-1], dtype=np.float32)
    return phases, (half_len + pre_pad) // down


def resample_polyphase(x: np.ndarray, up: int, down: int) -> np.ndarray:
    """Resample along the last axis by ``up / down`` with a polyphase anti-aliasing filter.

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``.
    up, down : int
        Upsampling and downsampling factors (positive; reduced by their common divisor).

    Returns
    -------
    numpy.ndarray
        float32 signals, ``ceil(n_samples * up / down)`` samples long (as ``resample_poly``).

    Example
    -------
    >>> resample_polyphase(np.ones((2, 7500)), 64, 125).shape  # 30 s at 250 Hz -> 128 Hz
    (2, 3840)
    """
    if up < 1 or down < 1:
        raise ValueError(f"up and down must be positive integers, got {up} and {down}")
    common = np.gcd(up, down)
    up, down = up // common, down // common
    x = np.asarray(x, dtype=np.float32)
    if up == down == 1:
        return x.copy()
    phases, delay = _polyphase_filter(up, down)
    taps = phases.shape[1]
    n_in = x.shape[-1]
    n_out = -(-n_in * up // down)
    # Output j sits at t = (j + delay) * down on the upsampled grid: it takes phase t % up of
    # the filter and inputs up to t // up. Outputs up apart share a phase and step down inputs.
    t = (np.arange(min(up, n_out)) + delay) * down
    first_input = t // up
    last_input = ((n_out - 1 + delay) * down) // up
    padded = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(taps - 1, max(0, last_input + 1 - n_in))])
    frames = np.lib.stride_tricks.sliding_window_view(padded, taps, axis=-1)  # frames[..., s, :] = x[s-taps+1 : s+1]
    y = np.empty((*x.shape[:-1], n_out), dtype=np.float32)
    for j, (phase, start) in enumerate(zip(t % up, first_input, strict=True)):
        count = len(range(j, n_out, up))
        y[..., j::up] = frames[..., start : start + (count - 1) * down + 1 : down, :] @ phases[phase]
    return y


def butterworth_bandpass_zpk(order: int, band: tuple[float, float], fs: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Zeros, poles and gain of a digital Butterworth band-pass (``scipy.signal.butter(..., output="zpk")``).

    Parameters
    ----------
    order : int
        Order of the low-pass prototype (the band-pass has ``2 * order`` poles).
    band : tuple of float
        Pass band edges (Hz), ``0 < low < high < fs / 2``.
    fs : float
        Sampling rate (Hz).

    Example
    -------
    >>> z, p, k = butterworth_bandpass_zpk(2, (0.5, 40.0), 128.0)
    >>> len(p), bool(np.all(np.abs(p) < 1))
    (4, True)
    """
    low, high = band
    if not 0 < low < high < fs / 2:
        raise ValueError(f"band must satisfy 0 < low < high < fs/2 = {fs / 2:g} Hz, got {band}")
    # Pre-warped analog edges (bilinear transform at 2 samples per unit), as SciPy's iirfilter.
    warped = 4.0 * np.tan(np.pi * np.array([low, high]) / fs)
    prototype = -np.exp(1j * np.pi * np.arange(-order + 1, order, 2) / (2 * order))
    bandwidth, centre = warped[1] - warped[0], np.sqrt(warped[0] * warped[1])
    scaled = prototype * bandwidth / 2
    root = np.sqrt(scaled**2 - centre**2)
    analog_poles = np.concatenate([scaled + root, scaled - root])
    poles = (4.0 + analog_poles) / (4.0 - analog_poles)
    zeros = np.concatenate([np.ones(order), -np.ones(order)])  # analog zeros at 0 map to +1; at infinity to -1
    gain = bandwidth**order * float(np.real(4.0**order / np.prod(4.0 - analog_poles)))
    return zeros.astype(complex), poles, gain


@lru_cache(maxsize=16)
def _bandpass_response(order: int, band: tuple[float, float], fs: float, n_fft: int) -> np.ndarray:
    """Frequency response on the ``rfft`` grid of ``n_fft`` points."""
    zeros, poles, gain = butterworth_bandpass_zpk(order, band, fs)
    unit = np.exp(2j * np.pi * np.arange(n_fft // 2 + 1) / n_fft)[:, None]
    return gain * np.prod(unit - zeros, axis=1) / np.prod(unit - poles, axis=1)


@lru_cache(maxsize=16)
def _decay_samples(order: int, band: tuple[float, float], fs: float) -> int:
    """Samples after which the impulse response has decayed below ``DECAY_TOLERANCE``."""
    radius = float(np.abs(butterworth_bandpass_zpk(order, band, fs)[1]).max())
    return int(np.ceil(np.log(DECAY_TOLERANCE) / np.log(radius)))


def _fft_length(n: int) -> int:
    """Smallest ``2**k``, ``3 * 2**k`` or ``5 * 2**k`` at least ``n`` (fast FFT sizes)."""
    return min(factor << max(0, int(-(-n // factor) - 1).bit_length()) for factor in (1, 3, 5))


def filtfilt_bandpass(x: np.ndarray, band: tuple[float, float], fs: float, order: int = 2) -> np.ndarray:
    """Zero-phase Butterworth band-pass along the last axis (forward, then backward).

    Each pass starts from the filter's steady state for the first input sample. A band-pass
    passes no DC (its zeros at z = 1), so that steady state outputs 0 and the pass is the
    zero-state response to the input minus its first sample: a linear convolution, computed
    by FFT over a length that the impulse response has decayed within (``DECAY_TOLERANCE``).

    Parameters
    ----------
    x : numpy.ndarray
        Signals ``(..., n_samples)``, more than ``3 * (2 * order + 1)`` samples long.
    band : tuple of float
        Pass band edges (Hz).
    fs : float
        Sampling rate (Hz).
    order : int
        Order of the low-pass prototype (each pass has ``2 * order`` poles).

    Returns
    -------
    numpy.ndarray
        float64 filtered signals, the shape of ``x``.

    Example
    -------
    >>> t = np.arange(3840) / 128
    >>> y = filtfilt_bandpass(np.sin(2 * np.pi * 10 * t) + 5.0, (0.5, 40.0), 128.0)
    >>> bool(np.abs(y[500:-500] - np.sin(2 * np.pi * 10 * t[500:-500])).max() < 0.01)
    True
    """
    band = (float(band[0]), float(band[1]))
    pad = 3 * (2 * order + 1)
    x = np.asarray(x, dtype=np.float64)
    if x.shape[-1] <= pad:
        raise ValueError(f"signal must be longer than {pad} samples to band-pass, got {x.shape[-1]}")
    extended = np.concatenate(
        [2 * x[..., :1] - x[..., pad:0:-1], x, 2 * x[..., -1:] - x[..., -2 : -pad - 2 : -1]], axis=-1
    )
    n = extended.shape[-1]
    n_fft = _fft_length(n + _decay_samples(order, band, float(fs)))
    response = _bandpass_response(order, band, float(fs), n_fft)

    def one_pass(u: np.ndarray) -> np.ndarray:
        padded = np.zeros((*u.shape[:-1], n_fft))
        np.subtract(u, u[..., :1], out=padded[..., :n])
        spectrum = np.fft.rfft(padded)
        spectrum *= response
        return np.fft.irfft(spectrum, n_fft)[..., :n]

    backward = one_pass(extended)[..., ::-1]
    return one_pass(backward)[..., ::-1][..., pad:-pad]
