"""Classical baseline: R-peak detection plus RR-irregularity statistics (``--method rr``).

The deep model is compared against this detector, which looks only at the timing of the
heart beats. Pipeline per conditioned window (z-normalised, band-passed 0.5-40 Hz,
``MODEL_FS`` Hz, zero-padded tail):

1. :func:`qrs_envelope` - Pan-Tompkins-like feature: 5-15 Hz band-pass, 5-point
   derivative, squaring, 150 ms moving average. Squaring makes it blind to polarity.
2. :func:`detect_r_peaks` - envelope peaks above an adaptive threshold with a 250 ms
   refractory period, T-wave rejection and search-back for missed beats, each refined to
   the largest ``|x|`` nearby.
3. :func:`afdetect.signal.rr.rr_features` - irregularity statistics of the RR intervals
   (s): coefficient of sample entropy (COSEn, Lake & Moorman 2011), normalised RMSSD,
   median ``|ΔRR|``, turning-point ratio, and more;
   :func:`afdetect.signal.rr.qrs_consistency` - how alike the detected beats look (a
   signal-quality index: noise makes detections, hence RR, irregular too).
4. :func:`afdetect.detect.rr.rr_af_probability` - a fixed logistic combination of four
   features (COSEn, turning-point ratio, heart rate, QRS consistency) with coefficients
   fitted only on the training records of the default record-wise CinC 2017 split by
   ``benchmarks/fit_rr_baseline.py`` (the features were chosen on the validation records;
   the test records were not looked at).

Windows with fewer than ``RR_MIN_BEATS`` detected beats carry no rhythm evidence: they
get ``RR_UNDETERMINED_P`` (0.5), which the shipped ``RR_THRESHOLD`` (above 0.5) labels
non-AF.

The detector's internal constants (filter band, integration length, threshold
fractions) live here, beside the algorithm they belong to (the fitted coefficients live
beside the score, in :mod:`afdetect.detect.rr`); the values other modules share
(threshold, minimum beats) live in :mod:`afdetect.config`.

References
----------
Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng 1985;32:230-6.
Lake DE, Moorman JR. Accurate estimation of entropy in very short physiological time
series: the problem of atrial fibrillation detection in implanted ventricular devices.
Am J Physiol Heart Circ Physiol 2011;300:H319-25.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from afdetect.config import MODEL_FS, RR_REFRACTORY_S
from afdetect.signal.conditioning import bandpass

# --- R-peak detector (Pan & Tompkins 1985, simplified to a whole-window pass) ---------
QRS_BAND_HZ: tuple[float, float] = (5.0, 15.0)
"""Pass band (Hz) that keeps QRS energy and suppresses P/T waves and baseline."""


INTEGRATION_S: float = 0.15
"""Moving-average length (s) of the squared derivative (about one QRS width)."""


REFERENCE_SEGMENT_S: float = 2.0
"""The envelope's reference level is the median of its maxima over segments this long (s);
at any rate above 30 bpm each segment holds a beat, and the median ignores artefact bursts."""


PEAK_FRACTION: float = 0.3
"""Detection threshold as a fraction of the reference level."""


T_WAVE_S: float = 0.36
"""A candidate this close (s) to the previous beat is a T wave unless its envelope is at
least ``T_WAVE_RATIO`` times the previous beat's."""


T_WAVE_RATIO: float = 0.5


SEARCHBACK_FACTOR: float = 1.66
"""An RR interval longer than this multiple of the median RR is searched again at half the
threshold for a missed beat."""


REFINE_S: float = 0.06
"""Each beat is moved to the largest ``|x|`` within this distance (s) of its envelope peak."""


QRS_HALF_WIDTH_S: float = 0.1
"""Half-length (s) of the beat snippets :func:`qrs_consistency` compares."""


def qrs_envelope(x: np.ndarray, fs: float = MODEL_FS) -> np.ndarray:
    """Polarity-blind QRS energy envelope along the last axis.

    5-15 Hz zero-phase band-pass, 5-point derivative, squaring and a centred
    ``INTEGRATION_S`` moving average, so the envelope peaks at the middle of each QRS
    complex whichever way it points.

    Parameters
    ----------
    x : numpy.ndarray
        Conditioned signals ``(..., n_samples)`` at ``fs`` Hz.
    fs : float
        Sampling rate (Hz).

    Returns
    -------
    numpy.ndarray
        float64 envelope, same shape as ``x`` (squared amplitude per sample).

    Example
    -------
    >>> qrs_envelope(np.zeros((2, 3840))).shape
    (2, 3840)
    """
    y = bandpass(np.asarray(x, dtype=np.float64), fs, QRS_BAND_HZ).astype(np.float64)
    edged = np.concatenate([y[..., :1], y[..., :1], y, y[..., -1:], y[..., -1:]], axis=-1)  # "nearest" edges
    n = y.shape[-1]
    slope = (edged[..., 4:] + 2 * edged[..., 3 : n + 3] - 2 * edged[..., 1 : n + 1] - edged[..., :n]) * (fs / 8)
    return moving_average(slope**2, max(1, int(round(INTEGRATION_S * fs))))


def moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of ``width`` samples along the last axis, edges extended by their value.

    (``scipy.ndimage.uniform_filter1d(x, width, mode="nearest")``, to rounding.)

    Example
    -------
    >>> moving_average(np.array([0.0, 0.0, 3.0, 0.0, 0.0]), 3).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0]
    """
    before = width // 2
    after = width - 1 - before
    edged = np.concatenate([np.repeat(x[..., :1], before, axis=-1), x, np.repeat(x[..., -1:], after, axis=-1)], axis=-1)
    total = np.cumsum(edged, axis=-1)
    total = np.concatenate([np.zeros_like(total[..., :1]), total], axis=-1)
    return (total[..., width:] - total[..., :-width]) / width


def detect_r_peaks(x: np.ndarray, fs: float = MODEL_FS) -> np.ndarray:
    """R-peak sample indices in one conditioned window.

    Parameters
    ----------
    x : numpy.ndarray
        One conditioned window ``(n_samples,)`` at ``fs`` Hz (z-normalised, band-passed;
        either polarity; a zero-padded tail is ignored).
    fs : float
        Sampling rate (Hz).

    Returns
    -------
    numpy.ndarray
        int64 sample indices of the detected R peaks, ascending, at least
        ``RR_REFRACTORY_S`` apart (except rarely after refinement); empty for a flat window.

    Example
    -------
    >>> t = np.arange(3840) / 128
    >>> ecg = np.exp(-((t % 1.0 - 0.5) ** 2) / (2 * 0.012**2))  # a spike at 0.5 s, 1.5 s, ...
    >>> len(detect_r_peaks(ecg - ecg.mean()))
    30
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1:
        raise ValueError(f"detect_r_peaks takes one window (1-D), got shape {x.shape}")
    return next(window_peaks(x[None], fs))[1]


def window_peaks(
    windows: np.ndarray, fs: float = MODEL_FS, chunk: int = 512
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Each conditioned window (float64) and its R-peak sample indices, in order.

    The same peaks as :func:`detect_r_peaks` window by window, faster: the envelope of
    full-length windows is computed in vectorised chunks of ``chunk`` windows; zero-padded
    windows are handled one by one on their real part.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(n, n_samples)`` conditioned windows at ``fs`` Hz.
    fs : float
        Sampling rate (Hz).
    chunk : int
        Windows per vectorised envelope computation (bounds the float64 working memory).

    Yields
    ------
    x : numpy.ndarray
        The window, float64 (zero-padded tail included).
    peaks : numpy.ndarray
        Its R peaks (int64 sample indices).

    Example
    -------
    >>> [len(peaks) for _, peaks in window_peaks(np.zeros((2, 3840)))]
    [0, 0]
    """
    windows = np.asarray(windows)
    if windows.ndim != 2:
        raise ValueError(f"expected windows (n, n_samples), got shape {windows.shape}")
    for start in range(0, len(windows), chunk):
        block = np.asarray(windows[start : start + chunk], dtype=np.float64)
        lengths = signal_lengths(block)
        full = lengths == block.shape[1]
        env = iter(qrs_envelope(block[full], fs)) if full.any() else iter(())
        found = [
            pick_peaks(next(env), fs) if is_full else _padded_window_peaks(x[:n], fs)
            for x, n, is_full in zip(block, lengths, full, strict=True)
        ]
        yield from zip(block, refine_peaks(block, found, lengths, fs), strict=True)


def _padded_window_peaks(x: np.ndarray, fs: float) -> np.ndarray:
    """Unrefined peaks of a padded window's real part ``x`` (none under 1 s)."""
    return pick_peaks(qrs_envelope(x, fs), fs) if len(x) >= int(fs) else np.zeros(0, dtype=np.int64)


def signal_lengths(windows: np.ndarray) -> np.ndarray:
    """Samples of real signal in each conditioned window ``(n, samples)`` (the zero-padded tail cut off).

    Example
    -------
    >>> signal_lengths(np.array([[0.5, -1.0, 0.0], [1.0, 1.0, 1.0]])).tolist()
    [2, 3]
    """
    nonzero = windows != 0
    return np.where(nonzero.any(axis=1), windows.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0)


def pick_peaks(env: np.ndarray, fs: float) -> np.ndarray:
    """Adaptive-threshold peak picking on one envelope (see module docstring), before refinement."""
    seg = int(round(REFERENCE_SEGMENT_S * fs))
    n_seg = len(env) // seg
    reference = np.median(env[: n_seg * seg].reshape(n_seg, seg).max(axis=1)) if n_seg else env.max()
    if not reference > 0:
        return np.zeros(0, dtype=np.int64)
    threshold = PEAK_FRACTION * reference
    refractory = max(1, int(round(RR_REFRACTORY_S * fs)))
    candidates = find_peaks(env, threshold, refractory)
    heights = env[candidates]

    t_wave = T_WAVE_S * fs
    kept: list[int] = []
    kept_h: list[float] = []
    for p, h in zip(candidates.tolist(), heights.tolist(), strict=True):
        if kept and p - kept[-1] < t_wave and h < T_WAVE_RATIO * kept_h[-1]:
            continue
        kept.append(p)
        kept_h.append(h)

    if len(kept) >= 3:
        kept = _search_back(env, np.array(kept), threshold / 2, refractory)
    return np.asarray(kept, dtype=np.int64)


def find_peaks(x: np.ndarray, height: float, distance: int = 1) -> np.ndarray:
    """Local maxima of ``x`` at least ``height`` high and ``distance`` samples apart, ascending.

    A flat top counts once, at its middle; the edges are never peaks. Where two peaks are closer
    than ``distance``, the higher one stays (``scipy.signal.find_peaks(x, height=height,
    distance=distance)``, without importing SciPy's signal module).

    Example
    -------
    >>> find_peaks(np.array([0.0, 2.0, 0.0, 3.0, 3.0, 0.0, 1.0, 0.0]), height=1.5).tolist()
    [1, 3]
    >>> find_peaks(np.array([0.0, 2.0, 0.0, 3.0, 0.0]), height=0.0, distance=3).tolist()
    [3]
    """
    steps = np.flatnonzero(np.diff(x))  # x changes between steps[k] and steps[k] + 1
    rising = np.diff(x)[steps] > 0
    top = rising[:-1] & ~rising[1:]  # a rise, then (after a flat stretch) a fall
    peaks = (steps[:-1][top] + 1 + steps[1:][top]) // 2
    peaks = peaks[x[peaks] >= height]
    return peaks if distance <= 1 or len(peaks) < 2 else peaks[_keep_apart(peaks, x[peaks], distance)]


def _keep_apart(peaks: np.ndarray, priority: np.ndarray, distance: int) -> np.ndarray:
    """Which peaks stay when, highest first, each removes the others closer than ``distance``."""
    keep = np.ones(len(peaks), dtype=bool)
    positions = peaks.tolist()
    for j in np.argsort(priority)[::-1].tolist():
        if not keep[j]:
            continue
        k = j - 1
        while k >= 0 and positions[j] - positions[k] < distance:
            keep[k] = False
            k -= 1
        k = j + 1
        while k < len(positions) and positions[k] - positions[j] < distance:
            keep[k] = False
            k += 1
    return keep


def _search_back(env: np.ndarray, peaks: np.ndarray, threshold: float, refractory: int) -> list[int]:
    """Add the highest sub-threshold envelope peak inside each overly long RR gap."""
    rr = np.diff(peaks)
    limit = SEARCHBACK_FACTOR * np.median(rr)
    found = []
    for a, b in zip(peaks[:-1][rr > limit].tolist(), peaks[1:][rr > limit].tolist(), strict=True):
        lo, hi = a + refractory, b - refractory
        if hi - lo < 3:
            continue
        cand = find_peaks(env[lo:hi], threshold)
        if len(cand):
            found.append(lo + int(cand[np.argmax(env[lo:hi][cand])]))
    return sorted(peaks.tolist() + found)


def refine_peaks(windows: np.ndarray, peaks: list[np.ndarray], lengths: np.ndarray, fs: float) -> list[np.ndarray]:
    """Move each window's peaks to the largest ``|x|`` within ``REFINE_S`` (inside its real signal).

    Example
    -------
    >>> x = np.zeros((1, 100)); x[0, 52] = -3.0
    >>> refine_peaks(x, [np.array([50])], np.array([100]), 128.0)[0].tolist()
    [52]
    """
    count = np.array([len(p) for p in peaks])
    if count.sum() == 0:
        return [np.zeros(0, dtype=np.int64) for _ in peaks]
    half = int(round(REFINE_S * fs))
    positions = np.zeros((len(peaks), int(count.max())), dtype=np.int64)
    positions[np.arange(positions.shape[1]) < count[:, None]] = np.concatenate(peaks)
    index = np.clip(positions[:, :, None] + np.arange(-half, half + 1), 0, np.maximum(lengths - 1, 0)[:, None, None])
    values = np.abs(windows[np.arange(len(peaks))[:, None, None], index])
    best = np.take_along_axis(index, np.argmax(values, axis=2)[:, :, None], axis=2)[:, :, 0]
    return [best[i, :c] for i, c in enumerate(count)]
