"""Rhythm and atrial-activity features of conditioned windows (the evidence a cardiologist reads).

AF is told from other irregular rhythms by two things (``../shared/design/rhythm-features.md``
records what carried the signal on CinC 2017):

* **RR irregularity that survives ectopic beats** (:mod:`afdetect.signal.ectopy`).
  Irregularity is measured three times: over all RR intervals, over normal-to-normal
  intervals only (both beats match the window's dominant QRS shape), and after removing
  ectopic short-long pairs and outliers. Premature beats with a compensatory pause,
  bigeminy and trigeminy leave the last two regular; AF does not.
* **Atrial activity** (:mod:`afdetect.signal.atrial`). In sinus rhythm every beat carries a P
  wave at a fixed distance before its R peak, so the beats' P regions average into a clear
  template, correlate with it and with each other; in AF they do not. The residual after
  cancelling the average QRST complex keeps the fibrillatory waves (4-9 Hz).

Heart rate, QRS shape consistency, polarity and the window's spectrum add signal quality and
context. Every feature is a plain float; undefined values (too few beats) are NaN, which the
gradient-boosted trees of :mod:`afdetect.detect.trees` route on their own.

Input windows are what the conditioning stage makes: ``MODEL_FS`` Hz, band-passed, z-normalised,
a zero-padded tail for short records (ignored here).

Everything is computed for a chunk of windows at once: R peaks window by window, aligned to each
window's QRS template (:func:`~afdetect.signal.snippets.align_to_template`), then the
beats of all windows as one padded ``(windows, beats)`` array (:mod:`afdetect.signal.ragged`)
and the beat snippets as ``(windows, beats, samples)``, so each feature costs a few NumPy calls
per chunk rather than per window. Only the residual's spectrum, whose length follows each
window's beats, is taken window by window.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from afdetect.config import BANDPASS_HZ, MODEL_FS
from afdetect.signal.atrial import (
    BEAT_SPAN_S,
    P_NEAR_REGION_S,
    P_REGION_S,
    TQ_REGION_S,
    PRegions,
    atrial_residual,
    p_wave_consistency,
    p_wave_evidence,
)
from afdetect.signal.beats import signal_lengths, window_peaks
from afdetect.signal.conditioning import bandpass, normalise
from afdetect.signal.ectopy import MIN_BEATS, ectopic_intervals, ectopy_pattern, rr_irregularity
from afdetect.signal.ragged import Rows, masked_median, valid_mask
from afdetect.signal.snippets import QRS_HALF_S, Beats, align_to_template, row_correlation, where_defined
from afdetect.signal.template import MEDIAN_BEAT_S, median_beat_shape

# --- beat classification ---------------------------------------------------------------
NORMAL_CORR: float = 0.9
"""A beat is *normal* when its QRS correlates above this with the median QRS ..."""
NORMAL_AMPLITUDE: tuple[float, float] = (0.5, 2.0)
"""... and its peak-to-peak amplitude lies within these multiples of the median."""

SPECTRUM_BANDS_HZ: tuple[tuple[float, float], ...] = ((0.5, 3), (3, 9), (9, 15), (15, 25), (25, 40))
"""Bands of the window spectrum whose power shares are features (Hz)."""

FEATURE_BAND_HZ: tuple[float, float] = (1.0, BANDPASS_HZ[1])
"""Pass band (Hz) of the signal the features are measured on: conditioning's band with its low
edge raised from 0.5 to 1 Hz. The 0.5 Hz edge lets through much of the baseline wander of
breathing and electrode motion (about 40 % of a 0.45 Hz sine), which tilts the P regions and
the QRST-cancelled residual and shifts the spectral shares; above 1 Hz it is gone, while QRS
(10-40 Hz), P waves and f-waves (4-9 Hz) keep their shape. On CinC 2017 (3-fold record-wise
cross-validation of the trees) the raised edge added about a point of record F1(AF)."""

CHUNK_WINDOWS: int = 256
"""Windows whose features are computed together (bounds the working memory, about 100 MB)."""

FEATURE_THREADS: int = 2
"""Threads :func:`rhythm_features` shares a call's windows among by default (the two cores afdetect
is built for; the stream's reader thread shares them too)."""


def beat_morphology(beats: Beats, fs: float) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """QRS-shape features per window, which beats are *normal*, and each beat's QRS amplitude.

    Returns
    -------
    features : dict of numpy.ndarray
        ``qrs_corr`` (median correlation with the median QRS), ``normal_frac`` (share of
        normal beats), ``qrs_amp_cv`` (CV of QRS peak-to-peak amplitude), ``polarity`` (the
        median QRS at R over its largest ``|value|``: +1 upright, -1 inverted), ``qrs_width``
        (s the median QRS spends above half its peak ``|value|``); NaN in windows with fewer
        than ``MIN_BEATS`` whole QRS snippets.
    normal : numpy.ndarray
        bool ``(n, width)`` per beat; beats too near the window edge for a whole QRS are not normal.
    amplitude : numpy.ndarray
        QRS peak-to-peak amplitude ``(n, width)`` (meaningful where the QRS fits).
    """
    half = int(round(QRS_HALF_S * fs))
    fits = beats.fits(-half, half)
    qrs = beats.around(-half, half)
    n_fit = fits.sum(axis=1)
    ok = n_fit >= MIN_BEATS
    template = masked_median(qrs, fits)
    corr = row_correlation(qrs, np.nan_to_num(template))
    amp = np.ptp(qrs, axis=2)
    ratio = amp / np.maximum(np.nan_to_num(masked_median(amp, fits)), 1e-9)[:, None]
    lo, hi = NORMAL_AMPLITUDE
    normal = fits & ok[:, None] & (corr > NORMAL_CORR) & (ratio > lo) & (ratio < hi)
    peak = np.abs(template).max(axis=1)
    amps = Rows(amp, beats.count).select(fits)
    features = {
        "qrs_corr": masked_median(corr, fits),
        "normal_frac": normal.sum(axis=1) / np.maximum(n_fit, 1),
        "qrs_amp_cv": amps.std() / np.maximum(amps.mean(), 1e-9),
        "polarity": template[:, half] / np.maximum(peak, 1e-9),
        "qrs_width": (np.abs(template) > 0.5 * peak[:, None]).sum(axis=1) / fs,
    }
    return where_defined(ok, features), normal, amp


def spectral_shape(x: np.ndarray, length: np.ndarray, median_rr: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """Power shares in ``SPECTRUM_BANDS_HZ``, skewness, kurtosis, and the autocorrelation at the
    median RR (``acf_rr``: periodicity of the whole beat) of each window's real signal.

    ``x`` is ``(n, samples)``, zero-padded after each window's ``length`` samples; the spectrum
    is taken on the window's grid (the padding included), the moments over the real signal.
    ``median_rr`` (s, NaN when unknown) is per window. All NaN for a signal under 1 s.

    Example
    -------
    >>> x = np.sin(np.arange(3840) * 2 * np.pi * 6 / 128)[None]
    >>> f = spectral_shape(x, np.array([3840]), np.array([np.nan]), 128)
    >>> round(float(f["band_3_9"][0]), 3)
    1.0
    """
    names = (*(f"band_{lo:g}_{hi:g}" for lo, hi in SPECTRUM_BANDS_HZ), "skew", "kurtosis", "acf_rr")
    spectrum = np.fft.rfft(x, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    freqs = np.fft.rfftfreq(x.shape[1], 1 / fs)
    total = power[:, (freqs >= 0.5) & (freqs <= 40)].sum(axis=1) + 1e-12
    edges = np.searchsorted(freqs, np.asarray(SPECTRUM_BANDS_HZ, dtype=float).ravel())  # first bin ≥ each edge
    out = {name: power[:, edges[2 * i] : edges[2 * i + 1]].sum(axis=1) / total for i, name in enumerate(names[:-3])}
    real = valid_mask(length, x.shape[1])
    signal = Rows(x, length)
    z = np.where(real, (x - signal.mean()[:, None]) / (signal.std()[:, None] + 1e-9), 0.0)
    z2 = z * z
    with np.errstate(invalid="ignore", divide="ignore"):
        out["skew"] = np.einsum("ij,ij->i", z2, z) / length
        out["kurtosis"] = np.einsum("ij,ij->i", z2, z2) / length
    lags = np.round(np.nan_to_num(median_rr) * fs).astype(np.int64)
    out["acf_rr"] = np.array(
        [
            float(z[i, : n - lag] @ z[i, lag:n]) / n if 0 < lag < n // 2 else math.nan
            for i, (lag, n) in enumerate(zip(lags, length, strict=True))
        ]
    )
    return where_defined(length >= fs, out)


def chunk_features(x: np.ndarray, peaks: list[np.ndarray], fs: float = MODEL_FS) -> dict[str, np.ndarray]:
    """Every feature of a chunk of conditioned windows ``(n, samples)`` and their R peaks, per window.

    Keys are :data:`FEATURE_NAMES`, in order. ``duration_s`` is the real signal's length.

    Example
    -------
    >>> t = np.arange(3840) / 128
    >>> ecg = np.exp(-((t % 0.75 - 0.375) ** 2) / (2 * 0.012**2))  # 80 bpm, perfectly regular
    >>> f = chunk_features((ecg - ecg.mean())[None], [np.arange(48, 3840, 96)])
    >>> round(f["heart_rate_bpm"][0]), float(f["nn_nrmssd"][0]), float(f["normal_frac"][0])
    (80, 0.0, 1.0)
    """
    beats = Beats.of(x, align_to_template(x, peaks, fs), _snippet_span(fs))
    intervals = np.diff(beats.positions, axis=1) / fs
    rr = Rows(intervals, np.maximum(beats.count - 1, 0))
    morphology, normal, amplitude = beat_morphology(beats, fs)
    with np.errstate(invalid="ignore", divide="ignore"):
        features = {
            "duration_s": beats.length / fs,
            "n_beats": beats.count.astype(np.float64),
            "heart_rate_bpm": np.where(rr.count > 0, 60.0 / rr.mean(), np.nan),
            **morphology,
        }
    features.update(_rr_sets(rr, normal))
    features.update(ectopy_pattern(rr))
    p_regions = PRegions.of(beats, normal, amplitude, fs)
    features.update(p_wave_evidence(beats, p_regions, fs))
    features.update(p_wave_consistency(beats, p_regions, fs))
    features.update(atrial_residual(x, beats, fs))
    features.update(median_beat_shape(beats, fs))
    features.update(spectral_shape(x, beats.length, masked_median(rr.values, rr.valid), fs))
    return features


def _rr_sets(rr: Rows, normal: np.ndarray) -> dict[str, np.ndarray]:
    """:func:`rr_irregularity` over all intervals (``rr_``), normal-to-normal ones (``nn_``) and
    those left after removing ectopic pairs and outliers (``clean_``)."""
    kept = {
        "rr": rr.valid,
        "nn": normal[:, :-1] & normal[:, 1:],
        "clean": ~ectopic_intervals(rr) & (rr.count >= MIN_BEATS)[:, None],
    }
    drr = rr.diff()
    features = {}
    for prefix, keep in kept.items():
        stats = rr_irregularity(rr.select(keep), drr.select(keep[:, :-1] & keep[:, 1:]))
        features.update({f"{prefix}_{name}": value for name, value in stats.items()})
    return features


def _snippet_span(fs: float) -> tuple[int, int]:
    """Samples around R (from, to) that cover the QRS, the P region and the QRST complex."""
    bounds = [
        int(round(s * fs))
        for s in (*P_REGION_S, *P_NEAR_REGION_S, *TQ_REGION_S, *BEAT_SPAN_S, *MEDIAN_BEAT_S, -QRS_HALF_S, QRS_HALF_S)
    ]
    return min(bounds), max(bounds)


FEATURE_NAMES: tuple[str, ...] = tuple(chunk_features(np.zeros((1, 3840)), [np.zeros(0, dtype=np.int64)]))
"""Names of the columns of :func:`rhythm_features`, in order."""

FEATURES_VERSION: int = 5
"""Version of how the features are computed, raised whenever a definition changes under the same
names, so that features cached by ``preprocess`` under another version are computed again.
5: the median beat's P and T deflections (:func:`~afdetect.signal.template.median_beat_shape`);
4: beats aligned to the window's QRS template, and the P-wave consistency features
(:func:`~afdetect.signal.atrial.p_wave_consistency`);
3: measured on the signal band-passed to :data:`FEATURE_BAND_HZ` (:func:`feature_signal`);
2: ectopic intervals include premature beats that reset the rhythm (PACs,
:func:`~afdetect.signal.ectopy.ectopic_intervals`); 1 (files without a version): before."""


def feature_signal(x: np.ndarray, fs: float = MODEL_FS) -> np.ndarray:
    """The windows the features are measured on: each window's real signal band-passed to
    :data:`FEATURE_BAND_HZ` and z-normalised again (float64); a zero-padded tail stays zero, and
    windows with under a second of signal are left as they are.

    Example
    -------
    >>> t = np.arange(3840) / 128
    >>> beats = np.exp(-(((t % 1.0) - 0.5) ** 2) / (2 * 0.01**2))  # 60 bpm, QRS-like pulses
    >>> x = np.stack([beats + np.sin(2 * np.pi * 0.3 * t), beats + 0.1])  # with and without wander
    >>> x[1, 2560:] = 0.0  # 20 s of signal, then padding
    >>> y = feature_signal(x)
    >>> float(np.corrcoef(y[0], feature_signal(beats[None])[0])[0, 1]) > 0.99  # the wander is gone
    True
    >>> bool((y[1, 2560:] == 0).all()), round(float(y[1, :2560].std()), 3)
    (True, 1.0)
    """
    x = np.asarray(x, dtype=np.float64)
    out = x.copy()
    lengths = signal_lengths(x)
    full = lengths == x.shape[1]
    if full.any():
        out[full] = normalise(bandpass(x[full], fs, FEATURE_BAND_HZ))
    for i in np.flatnonzero(~full & (lengths >= fs)):
        out[i, : lengths[i]] = normalise(bandpass(x[i, : lengths[i]], fs, FEATURE_BAND_HZ))
    return out


def rhythm_features(
    windows: np.ndarray, fs: float = MODEL_FS, chunk: int = CHUNK_WINDOWS, threads: int = FEATURE_THREADS
) -> np.ndarray:
    """Rhythm and atrial-activity features of conditioned windows.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(n, n_samples)`` conditioned windows at ``fs`` Hz (a zero-padded tail is ignored).
    fs : float
        Sampling rate (Hz).
    chunk : int
        Windows computed together (bounds the working memory).
    threads : int
        Threads the chunks are shared among (chunks are cut smaller so each thread gets one).
        NumPy releases the interpreter lock in its array work, so two threads take about 0.55 of
        one thread's time on two cores; the features do not depend on the split.

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
    windows = np.asarray(windows)
    if windows.ndim != 2:
        raise ValueError(f"expected windows (n, n_samples), got shape {windows.shape}")
    out = np.empty((len(windows), len(FEATURE_NAMES)), dtype=np.float32)
    size = max(1, min(chunk, -(-len(windows) // max(threads, 1))))

    def compute(start: int) -> None:
        block = feature_signal(windows[start : start + size], fs)
        peaks = [p for _, p in window_peaks(block, fs, size)]
        features = chunk_features(block, peaks, fs)
        out[start : start + len(block)] = np.column_stack([features[name] for name in FEATURE_NAMES])

    starts = range(0, len(windows), size)
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(min(threads, len(starts))) as pool:
            list(pool.map(compute, starts))
    else:
        for start in starts:
            compute(start)
    return out
