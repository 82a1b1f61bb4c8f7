"""Rhythm and atrial-activity features of conditioned windows (the evidence a cardiologist reads).

AF is told from other irregular rhythms by two things (``../shared/design/rhythm-features.md``
records what carried the signal on CinC 2017):

* **RR irregularity that survives ectopic beats** (:mod:`afdetect.signal.ectopy`).
  Irregularity is measured three times: over all RR intervals, over normal-to-normal
  intervals only (both beats match the window's dominant QRS shape), and after removing
  ectopic short-long pairs and outliers. Premature beats with a compensatory pause,
  bigeminy and trigeminy leave the last two regular; AF does not.
* **Atrial activity.** In sinus rhythm every beat carries a P wave at a fixed distance before
  its R peak, so the beats' P regions average into a clear template and correlate with it; in
  AF they do not. The residual after cancelling the average QRST complex keeps the
  fibrillatory waves (4-9 Hz).

Heart rate, QRS shape consistency, polarity and the window's spectrum add signal quality and
context. Every feature is a plain float; undefined values (too few beats) are NaN, which the
gradient-boosted trees of :mod:`afdetect.detect.trees` route on their own.

Input windows are what the conditioning stage makes: ``MODEL_FS`` Hz, band-passed, z-normalised,
a zero-padded tail for short records (ignored here).
"""

from __future__ import annotations

import math

import numpy as np

from afdetect.config import MODEL_FS
from afdetect.signal.beats import signal_length, window_peaks
from afdetect.signal.ectopy import MIN_BEATS, ectopic_intervals, ectopy_pattern, rr_irregularity

# --- beat classification ---------------------------------------------------------------
QRS_HALF_S: float = 0.08
"""Half-width (s) of the QRS snippet compared with the window's median beat."""
NORMAL_CORR: float = 0.9
"""A beat is *normal* when its QRS correlates above this with the median QRS ..."""
NORMAL_AMPLITUDE: tuple[float, float] = (0.5, 2.0)
"""... and its peak-to-peak amplitude lies within these multiples of the median."""

# --- atrial activity ------------------------------------------------------------------------
P_REGION_S: tuple[float, float] = (-0.30, -0.08)
"""Where a P wave lies relative to its R peak (s)."""
BEAT_SPAN_S: tuple[float, float] = (-0.30, 0.45)
"""The QRST complex cancelled to expose atrial activity (s from R)."""
F_WAVE_HZ: tuple[float, float] = (4.0, 9.0)
"""Band of fibrillatory waves (Hz)."""
SPECTRUM_BANDS_HZ: tuple[tuple[float, float], ...] = ((0.5, 3), (3, 9), (9, 15), (15, 25), (25, 40))
"""Bands of the window spectrum whose power shares are features (Hz)."""


def snippets(x: np.ndarray, peaks: np.ndarray, lo: int, hi: int) -> tuple[np.ndarray, np.ndarray]:
    """Samples ``lo .. hi`` around each peak that fits whole in ``x``, and which peaks fit.

    Example
    -------
    >>> s, fits = snippets(np.arange(10.0), np.array([1, 5, 9]), -2, 1)
    >>> s.tolist(), fits.tolist()
    ([[3.0, 4.0, 5.0, 6.0]], [False, True, False])
    """
    fits = (peaks + lo >= 0) & (peaks + hi < len(x))
    return x[peaks[fits][:, None] + np.arange(lo, hi + 1)], fits


def row_correlation(rows: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Pearson correlation of each row with ``template``.

    Example
    -------
    >>> row_correlation(np.array([[1.0, 2, 3], [3, 2, 1]]), np.array([0.0, 1, 2])).round(6).tolist()
    [1.0, -1.0]
    """
    rows = rows - rows.mean(axis=1, keepdims=True)
    template = template - template.mean()
    norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(template)
    return rows @ template / np.maximum(norms, 1e-12)


def beat_morphology(x: np.ndarray, peaks: np.ndarray, fs: float) -> tuple[dict[str, float], np.ndarray]:
    """QRS-shape features, and which beats are *normal* (match the dominant QRS shape).

    Returns
    -------
    features : dict
        ``qrs_corr`` (median correlation with the median QRS), ``normal_frac`` (share of
        normal beats), ``qrs_amp_cv`` (CV of QRS peak-to-peak amplitude), ``polarity`` (the
        median QRS at R over its largest ``|value|``: +1 upright, -1 inverted), ``qrs_width``
        (s the median QRS spends above half its peak ``|value|``).
    normal : numpy.ndarray
        bool per peak; beats too near the window edge for a whole QRS are not normal.
    """
    half = int(round(QRS_HALF_S * fs))
    qrs, fits = snippets(x, peaks, -half, half)
    normal = np.zeros(len(peaks), dtype=bool)
    out = dict.fromkeys(("qrs_corr", "normal_frac", "qrs_amp_cv", "polarity", "qrs_width"), math.nan)
    if len(qrs) < MIN_BEATS:
        return out, normal
    template = np.median(qrs, axis=0)
    corr = row_correlation(qrs, template)
    amp = np.ptp(qrs, axis=1)
    ratio = amp / max(float(np.median(amp)), 1e-9)
    normal[fits] = (corr > NORMAL_CORR) & (ratio > NORMAL_AMPLITUDE[0]) & (ratio < NORMAL_AMPLITUDE[1])
    peak = float(np.abs(template).max())
    out.update(
        qrs_corr=float(np.median(corr)),
        normal_frac=float(normal[fits].mean()),
        qrs_amp_cv=float(amp.std() / max(amp.mean(), 1e-9)),
        polarity=float(template[half]) / max(peak, 1e-9),
        qrs_width=float(np.count_nonzero(np.abs(template) > 0.5 * peak)) / fs,
    )
    return out, normal


def p_wave_evidence(x: np.ndarray, peaks: np.ndarray, normal: np.ndarray, fs: float) -> dict[str, float]:
    """P-wave evidence from the beats' P regions (``P_REGION_S`` before each R peak).

    The P regions of the normal beats (all beats when fewer than ``MIN_BEATS`` are normal),
    each with its mean removed, are compared with their sample-wise median (the P template).

    Returns
    -------
    dict
        ``p_amp`` (template peak-to-peak / median QRS peak-to-peak), ``p_snr`` (template
        peak-to-peak / mean absolute deviation of the beats from it), ``p_corr`` (median
        correlation of each beat's P region with the template), ``p_present`` (share of beats
        correlating above 0.5), ``p_pos_sd`` (SD of where each beat's P region peaks, s),
        ``p_peak_pos`` (where the template peaks, s after the region starts) and ``p_energy``
        (mean square of the P regions / squared QRS amplitude).
    """
    names = ("p_amp", "p_snr", "p_corr", "p_present", "p_pos_sd", "p_peak_pos", "p_energy")
    out = dict.fromkeys(names, math.nan)
    use = peaks[normal] if np.count_nonzero(normal) >= MIN_BEATS else peaks
    lo, hi = (int(round(s * fs)) for s in P_REGION_S)
    regions, _ = snippets(x, use, lo, hi)
    half = int(round(QRS_HALF_S * fs))
    qrs, _ = snippets(x, use, -half, half)
    if len(regions) < MIN_BEATS or len(qrs) == 0:
        return out
    regions = regions - regions.mean(axis=1, keepdims=True)
    template = np.median(regions, axis=0)
    qrs_amp = max(float(np.median(np.ptp(qrs, axis=1))), 1e-9)
    corr = row_correlation(regions, template)
    spread = float(np.mean(np.abs(regions - template))) + 1e-9
    out.update(
        p_amp=float(np.ptp(template)) / qrs_amp,
        p_snr=float(np.ptp(template)) / spread,
        p_corr=float(np.median(corr)),
        p_present=float(np.mean(corr > 0.5)),
        p_pos_sd=float(np.std(np.argmax(np.abs(regions), axis=1))) / fs,
        p_peak_pos=float(np.argmax(np.abs(template))) / fs,
        p_energy=float(np.mean(regions**2)) / qrs_amp**2,
    )
    return out


def atrial_residual(x: np.ndarray, peaks: np.ndarray, fs: float) -> dict[str, float]:
    """Atrial activity left after cancelling the median QRST complex at every beat.

    Returns
    -------
    dict
        ``res_ratio`` (residual SD / signal SD over the cancelled span), ``res_af_band``
        (share of the residual's 1-30 Hz power in ``F_WAVE_HZ``), ``res_dominant_hz``
        (dominant residual frequency in 3-12 Hz) and ``res_entropy`` (normalised spectral
        entropy of the residual over 1-30 Hz).
    """
    out = dict.fromkeys(("res_ratio", "res_af_band", "res_dominant_hz", "res_entropy"), math.nan)
    lo, hi = (int(round(s * fs)) for s in BEAT_SPAN_S)
    beats, fits = snippets(x, peaks, lo, hi)
    if len(beats) < MIN_BEATS:
        return out
    index = peaks[fits][:, None] + np.arange(lo, hi + 1)
    residual = x.copy()
    residual[index] -= np.median(beats, axis=0)
    span = slice(int(index.min()), int(index.max()) + 1)
    segment = residual[span]
    power = np.abs(np.fft.rfft(segment * np.hanning(len(segment)))) ** 2
    freqs = np.fft.rfftfreq(len(segment), 1 / fs)
    band = (freqs >= 1) & (freqs <= 30)
    total = float(power[band].sum()) + 1e-12
    f_band = (freqs >= F_WAVE_HZ[0]) & (freqs <= F_WAVE_HZ[1])
    search = (freqs >= 3) & (freqs <= 12)
    share = power[band] / total
    out.update(
        res_ratio=float(np.std(segment)) / max(float(np.std(x[span])), 1e-9),
        res_af_band=float(power[f_band].sum()) / total,
        res_dominant_hz=float(freqs[search][np.argmax(power[search])]),
        res_entropy=float(-(share * np.log(share + 1e-12)).sum() / math.log(len(share))),
    )
    return out


def spectral_shape(x: np.ndarray, rr: np.ndarray, fs: float) -> dict[str, float]:
    """Power shares of the window in ``SPECTRUM_BANDS_HZ``, skewness, kurtosis, and the
    signal's autocorrelation at the median RR (``acf_rr``: periodicity of the whole beat).

    Example
    -------
    >>> f = spectral_shape(np.sin(np.arange(3840) * 2 * np.pi * 6 / 128), np.zeros(0), 128)
    >>> round(f["band_3_9"], 3)
    1.0
    """
    names = (*(f"band_{lo:g}_{hi:g}" for lo, hi in SPECTRUM_BANDS_HZ), "skew", "kurtosis", "acf_rr")
    if len(x) < fs:
        return dict.fromkeys(names, math.nan)
    spectrum = np.fft.rfft(x)
    power = spectrum.real**2 + spectrum.imag**2
    freqs = np.fft.rfftfreq(len(x), 1 / fs)
    total = float(power[(freqs >= 0.5) & (freqs <= 40)].sum()) + 1e-12
    edges = np.searchsorted(freqs, np.asarray(SPECTRUM_BANDS_HZ, dtype=float).ravel())  # first bin ≥ each edge
    shares = [float(power[edges[2 * i] : edges[2 * i + 1]].sum()) / total for i in range(len(SPECTRUM_BANDS_HZ))]
    out = dict(zip(names, shares, strict=False))
    z = (x - x.mean()) / (x.std() + 1e-9)
    z2 = z * z
    out["skew"] = float(z2 @ z) / len(z)
    out["kurtosis"] = float(z2 @ z2) / len(z)
    lag = int(round(float(np.median(rr)) * fs)) if len(rr) else 0
    out["acf_rr"] = float(z[:-lag] @ z[lag:]) / len(z) if 0 < lag < len(z) // 2 else math.nan
    return out


def window_rhythm_features(x: np.ndarray, peaks: np.ndarray, fs: float = MODEL_FS) -> dict[str, float]:
    """Every feature of one window's real signal ``x`` and its R peaks (sample indices).

    Keys are :data:`FEATURE_NAMES`, in order. ``duration_s`` is the real signal's length.

    Example
    -------
    >>> t = np.arange(3840) / 128
    >>> ecg = np.exp(-((t % 0.75 - 0.375) ** 2) / (2 * 0.012**2))  # 80 bpm, perfectly regular
    >>> f = window_rhythm_features(ecg - ecg.mean(), np.arange(48, 3840, 96))
    >>> round(f["heart_rate_bpm"]), f["nn_nrmssd"], f["normal_frac"]
    (80, 0.0, 1.0)
    """
    rr = np.diff(peaks) / fs
    morphology, normal = beat_morphology(x, peaks, fs)
    features = {
        "duration_s": len(x) / fs,
        "n_beats": float(len(peaks)),
        "heart_rate_bpm": 60.0 / float(rr.mean()) if len(rr) else math.nan,
        **morphology,
    }
    kept = {
        "rr": np.ones(len(rr), dtype=bool),
        "nn": normal[:-1] & normal[1:] if len(rr) else np.zeros(0, dtype=bool),
        "clean": ~ectopic_intervals(rr) if len(rr) >= MIN_BEATS else np.zeros(len(rr), dtype=bool),
    }
    for prefix, keep in kept.items():
        stats = rr_irregularity(rr[keep], np.diff(rr)[keep[:-1] & keep[1:]])
        features.update({f"{prefix}_{name}": value for name, value in stats.items()})
    features.update(ectopy_pattern(rr))
    features.update(p_wave_evidence(x, peaks, normal, fs))
    features.update(atrial_residual(x, peaks, fs))
    features.update(spectral_shape(x, rr, fs))
    return features


FEATURE_NAMES: tuple[str, ...] = tuple(window_rhythm_features(np.zeros(0), np.zeros(0, dtype=np.int64)))
"""Names of the columns of :func:`rhythm_features`, in order."""


def rhythm_features(windows: np.ndarray, fs: float = MODEL_FS) -> np.ndarray:
    """Rhythm and atrial-activity features of conditioned windows.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(n, n_samples)`` conditioned windows at ``fs`` Hz (a zero-padded tail is ignored).
    fs : float
        Sampling rate (Hz).

    Returns
    -------
    numpy.ndarray
        ``(n, len(FEATURE_NAMES))`` float32; NaN where a feature is undefined.

    Raises
    ------
    ValueError
        When ``windows`` is not 2-D.

    Example
    -------
    >>> rhythm_features(np.zeros((2, 3840))).shape == (2, len(FEATURE_NAMES))
    True
    """
    rows = [
        list(window_rhythm_features(x[: signal_length(x)], peaks, fs).values())
        for x, peaks in window_peaks(windows, fs)
    ]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(FEATURE_NAMES))
