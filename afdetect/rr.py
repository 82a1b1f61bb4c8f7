"""Classical baseline: R-peak detection plus RR-irregularity statistics (``--method rr``).

The deep model is compared against this detector, which looks only at the timing of the
heart beats. Pipeline per conditioned window (z-normalised, band-passed 0.5-40 Hz,
``MODEL_FS`` Hz, zero-padded tail):

1. :func:`qrs_envelope` - Pan-Tompkins-like feature: 5-15 Hz band-pass, 5-point
   derivative, squaring, 150 ms moving average. Squaring makes it blind to polarity.
2. :func:`detect_r_peaks` - envelope peaks above an adaptive threshold with a 250 ms
   refractory period, T-wave rejection and search-back for missed beats, each refined to
   the largest ``|x|`` nearby.
3. :func:`rr_features` - irregularity statistics of the RR intervals (s): coefficient of
   sample entropy (COSEn, Lake & Moorman 2011), normalised RMSSD, median ``|ΔRR|``,
   turning-point ratio, and more; :func:`qrs_consistency` - how alike the detected beats
   look (a signal-quality index: noise makes detections, hence RR, irregular too).
4. :func:`rr_af_probability` - a fixed logistic combination of four features
   (:data:`SCORE_FEATURES`: COSEn, turning-point ratio, heart rate, QRS consistency) with
   the coefficients below, fitted only on the training records of the default record-wise
   CinC 2017 split by ``benchmarks/fit_rr_baseline.py`` (the features were chosen on the
   validation records; the test records were not looked at).

Windows with fewer than ``RR_MIN_BEATS`` detected beats carry no rhythm evidence: they
get ``RR_UNDETERMINED_P`` (0.5), which the shipped ``RR_THRESHOLD`` (above 0.5) labels
non-AF.

The detector's internal constants (filter band, integration length, threshold
fractions) and the fitted coefficients live here, beside the algorithm they belong to;
the values other modules share (threshold, minimum beats) live in :mod:`afdetect.config`.

References
----------
Pan J, Tompkins WJ. A real-time QRS detection algorithm. IEEE Trans Biomed Eng 1985;32:230-6.
Lake DE, Moorman JR. Accurate estimation of entropy in very short physiological time
series: the problem of atrial fibrillation detection in implanted ventricular devices.
Am J Physiol Heart Circ Physiol 2011;300:H319-25.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from afdetect.config import MODEL_FS, RR_MIN_BEATS, RR_REFRACTORY_S, RR_UNDETERMINED_P
from afdetect.transforms import bandpass

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

# --- Sample entropy (Lake & Moorman 2011) ----------------------------------------------
SAMPEN_R_START_S: float = 0.03
"""Initial matching tolerance r (s)."""
SAMPEN_R_STEP_S: float = 0.01
"""r grows in steps of this size (s) until ``SAMPEN_MIN_MATCHES`` length-2 matches exist."""
SAMPEN_MIN_MATCHES: int = 5

# --- Fitted logistic score (benchmarks/fit_rr_baseline.py) ----------------------------
# Class-balanced logistic regression (ridge 1e-3) on 6,891 windows (590 AF) of the 5,254
# training records of runs/cinc2017.npz (split_records, val/test 0.15/0.15, seed 0: the
# trainer's default split). All four weights are positive: more irregular (COSEn), more
# often turning (TPR), faster (heart rate) and cleaner (QRS consistency) means more AF.
SCORE_FEATURES: tuple[str, ...] = ("cosen", "tpr", "heart_rate_bpm", "qrs_corr")
"""Features of the score, in the order of the coefficient arrays."""
SCORE_MEAN: tuple[float, ...] = (-1.8555, 0.4617, 76.4975, 0.9494)
"""Training mean of each feature (standardisation)."""
SCORE_SCALE: tuple[float, ...] = (0.6724, 0.1678, 19.1096, 0.104)
"""Training standard deviation of each feature (standardisation)."""
SCORE_WEIGHTS: tuple[float, ...] = (1.4664, 0.9642, 0.5103, 1.0909)
"""Logistic weights of the standardised features."""
SCORE_BIAS: float = -1.7427
"""Logistic intercept."""

FEATURE_NAMES: tuple[str, ...] = (
    "n_beats",
    "heart_rate_bpm",
    "cv",
    "nrmssd",
    "median_abs_drr",
    "pnn50",
    "tpr",
    "sampen",
    "cosen",
)
"""Keys of :func:`rr_features`."""

WINDOW_FEATURE_NAMES: tuple[str, ...] = (*FEATURE_NAMES, "qrs_corr")
"""Keys of :func:`window_features`: the RR features plus :func:`qrs_consistency`."""


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
    slope = ndimage.convolve1d(y, np.array([1.0, 2.0, 0.0, -2.0, -1.0]) * fs / 8, axis=-1, mode="nearest")
    width = max(1, int(round(INTEGRATION_S * fs)))
    return ndimage.uniform_filter1d(slope**2, width, axis=-1, mode="nearest")


def signal_length(x: np.ndarray) -> int:
    """Samples of real signal in a conditioned window (its zero-padded tail cut off).

    Example
    -------
    >>> signal_length(np.array([0.5, -1.0, 0.0, 0.0]))
    2
    """
    nonzero = np.flatnonzero(x)
    return int(nonzero[-1]) + 1 if len(nonzero) else 0


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
    n = signal_length(x)
    if n < int(fs):
        return np.zeros(0, dtype=np.int64)
    return _pick_peaks(x[:n], qrs_envelope(x[:n], fs), fs)


def _pick_peaks(x: np.ndarray, env: np.ndarray, fs: float) -> np.ndarray:
    """Adaptive-threshold peak picking on one envelope (see module docstring)."""
    seg = int(round(REFERENCE_SEGMENT_S * fs))
    n_seg = len(env) // seg
    reference = np.median(env[: n_seg * seg].reshape(n_seg, seg).max(axis=1)) if n_seg else env.max()
    if not reference > 0:
        return np.zeros(0, dtype=np.int64)
    threshold = PEAK_FRACTION * reference
    refractory = max(1, int(round(RR_REFRACTORY_S * fs)))
    candidates, props = sps.find_peaks(env, height=threshold, distance=refractory)
    heights = props["peak_heights"]

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
    peaks = np.asarray(kept, dtype=np.int64)
    return _refine(x, peaks, int(round(REFINE_S * fs)))


def _search_back(env: np.ndarray, peaks: np.ndarray, threshold: float, refractory: int) -> list[int]:
    """Add the highest sub-threshold envelope peak inside each overly long RR gap."""
    rr = np.diff(peaks)
    limit = SEARCHBACK_FACTOR * np.median(rr)
    found = []
    for a, b in zip(peaks[:-1][rr > limit].tolist(), peaks[1:][rr > limit].tolist(), strict=True):
        lo, hi = a + refractory, b - refractory
        if hi - lo < 3:
            continue
        cand, props = sps.find_peaks(env[lo:hi], height=threshold)
        if len(cand):
            found.append(lo + int(cand[np.argmax(props["peak_heights"])]))
    return sorted(peaks.tolist() + found)


def _refine(x: np.ndarray, peaks: np.ndarray, half: int) -> np.ndarray:
    """Move each peak to the largest ``|x|`` within ``half`` samples."""
    if len(peaks) == 0:
        return peaks
    offsets = np.arange(-half, half + 1)
    idx = np.clip(peaks[:, None] + offsets[None, :], 0, len(x) - 1)
    return idx[np.arange(len(peaks)), np.argmax(np.abs(x[idx]), axis=1)].astype(np.int64)


def sample_entropy_rr(rr: np.ndarray) -> tuple[float, float]:
    """Sample entropy (m = 1) of RR intervals with Lake & Moorman's growing tolerance.

    The tolerance r starts at ``SAMPEN_R_START_S`` and grows by ``SAMPEN_R_STEP_S`` until
    at least ``SAMPEN_MIN_MATCHES`` pairs of length-2 templates match, so short, very
    irregular series still get a finite estimate.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals (s), at least 3.

    Returns
    -------
    sampen : float
        ``-ln(A / B)``: A and B are the numbers of template pairs of length 2 and 1 within
        r (Chebyshev distance, self-matches excluded).
    r : float
        The tolerance used (s).

    Example
    -------
    >>> sample_entropy_rr(np.full(20, 0.8))
    (0.0, 0.03)
    """
    rr = np.asarray(rr, dtype=np.float64)
    m = len(rr) - 1  # templates start at 0 .. N-2 for both lengths
    d1 = np.abs(rr[:m, None] - rr[None, :m])
    d2 = np.maximum(d1, np.abs(rr[1 : m + 1, None] - rr[None, 1 : m + 1]))
    upper = np.triu_indices(m, k=1)
    d1, d2 = d1[upper], d2[upper]
    need = min(SAMPEN_MIN_MATCHES, len(d2))
    r = SAMPEN_R_START_S
    if need and len(d2):
        r_need = np.partition(d2, need - 1)[need - 1]
        if r_need > r:
            r += math.ceil((r_need - r) / SAMPEN_R_STEP_S - 1e-9) * SAMPEN_R_STEP_S
    r = round(r, 6)
    a = np.count_nonzero(d2 <= r)
    b = np.count_nonzero(d1 <= r)
    if a == 0 or b == 0:
        return float("nan"), r
    return float(np.log(b / a)), r


def rr_features(peaks: np.ndarray, fs: float = MODEL_FS) -> dict[str, float]:
    """RR-irregularity statistics of one window's beats.

    Parameters
    ----------
    peaks : numpy.ndarray
        R-peak sample indices, ascending (from :func:`detect_r_peaks`).
    fs : float
        Sampling rate (Hz) of the indices.

    Returns
    -------
    dict
        ``n_beats`` (count), ``heart_rate_bpm`` (60 / mean RR), ``cv`` (SD / mean of RR),
        ``nrmssd`` (RMS of successive RR differences / mean RR), ``median_abs_drr``
        (median ``|ΔRR|`` / mean RR; robust to isolated ectopic beats), ``pnn50`` (fraction
        of ``|ΔRR|`` > 50 ms), ``tpr`` (turning-point ratio: fraction of interior RR that
        are local extremes, about 2/3 for random series), ``sampen`` (see
        :func:`sample_entropy_rr`) and ``cosen`` (``sampen + ln(2 r) - ln(mean RR)``, r and
        RR in s). All but ``n_beats`` are NaN when fewer than ``RR_MIN_BEATS`` beats.

    Example
    -------
    >>> f = rr_features(np.arange(0, 3840, 128))  # 60 bpm, perfectly regular
    >>> round(f["heart_rate_bpm"]), f["nrmssd"], f["tpr"]
    (60, 0.0, 0.0)
    """
    peaks = np.asarray(peaks)
    features = dict.fromkeys(FEATURE_NAMES, float("nan"))
    features["n_beats"] = float(len(peaks))
    if len(peaks) < max(RR_MIN_BEATS, 4):
        return features
    rr = np.diff(peaks) / fs
    drr = np.diff(rr)
    mean_rr = float(rr.mean())
    sampen, r = sample_entropy_rr(rr)
    turning = np.count_nonzero(drr[:-1] * drr[1:] < 0)
    features.update(
        heart_rate_bpm=60.0 / mean_rr,
        cv=float(rr.std() / mean_rr),
        nrmssd=float(np.sqrt(np.mean(drr**2)) / mean_rr),
        median_abs_drr=float(np.median(np.abs(drr)) / mean_rr),
        pnn50=float(np.mean(np.abs(drr) > 0.05)),
        tpr=float(turning / (len(rr) - 2)),
        sampen=sampen,
        cosen=sampen + math.log(2 * r) - math.log(mean_rr),
    )
    return features


def qrs_consistency(x: np.ndarray, peaks: np.ndarray, fs: float = MODEL_FS) -> float:
    """Median correlation of each beat with the window's median beat (signal quality).

    Snippets of ``±QRS_HALF_WIDTH_S`` around each R peak are compared with their
    sample-wise median. Clean ECG, AF included, scores about 0.95-1; noise and artefacts,
    which also make the detected RR intervals irregular, score far lower.

    Parameters
    ----------
    x : numpy.ndarray
        One conditioned window ``(n_samples,)`` at ``fs`` Hz.
    peaks : numpy.ndarray
        R-peak sample indices in ``x``.
    fs : float
        Sampling rate (Hz).

    Returns
    -------
    float
        Pearson correlation in [-1, 1]; NaN when fewer than ``RR_MIN_BEATS`` beats have a
        whole snippet inside the window.

    Example
    -------
    >>> t = np.arange(3840) / 128
    >>> ecg = np.exp(-((t % 1.0 - 0.5) ** 2) / (2 * 0.012**2))
    >>> round(qrs_consistency(ecg, np.arange(64, 3840, 128)), 3)
    1.0
    """
    half = int(round(QRS_HALF_WIDTH_S * fs))
    peaks = np.asarray(peaks, dtype=np.int64)
    peaks = peaks[(peaks >= half) & (peaks < len(x) - half)]
    if len(peaks) < RR_MIN_BEATS:
        return float("nan")
    beats = np.asarray(x, dtype=np.float64)[peaks[:, None] + np.arange(-half, half + 1)]
    beats = beats - beats.mean(axis=1, keepdims=True)
    template = np.median(beats, axis=0)
    norms = np.linalg.norm(beats, axis=1) * np.linalg.norm(template)
    return float(np.median(beats @ template / np.maximum(norms, 1e-12)))


def window_features(x_windows: np.ndarray, fs: float = MODEL_FS, chunk: int = 512) -> dict[str, np.ndarray]:
    """:func:`rr_features` and :func:`qrs_consistency` (key ``qrs_corr``) of many
    conditioned windows ``(n, n_samples)``, as arrays ``(n,)``.

    The envelope of full-length windows is computed in vectorised chunks of ``chunk``
    windows; zero-padded windows are handled one by one on their real part.

    Example
    -------
    >>> window_features(np.zeros((3, 3840)))["n_beats"].tolist()
    [0.0, 0.0, 0.0]
    """
    x_windows = np.asarray(x_windows)
    if x_windows.ndim != 2:
        raise ValueError(f"expected windows (n, n_samples), got shape {x_windows.shape}")
    n = len(x_windows)
    out = {name: np.full(n, np.nan) for name in WINDOW_FEATURE_NAMES}
    for start in range(0, n, chunk):
        block = np.asarray(x_windows[start : start + chunk], dtype=np.float64)
        full = block[:, -1] != 0
        env = qrs_envelope(block[full], fs) if full.any() else None
        full_rows = np.flatnonzero(full)
        for i in range(len(block)):
            if full[i]:
                env_i = env[np.searchsorted(full_rows, i)]
                peaks = _pick_peaks(block[i], env_i, fs)
            else:
                peaks = detect_r_peaks(block[i], fs)
            for name, value in rr_features(peaks, fs).items():
                out[name][start + i] = value
            out["qrs_corr"][start + i] = qrs_consistency(block[i], peaks, fs)
    return out


@dataclass(frozen=True)
class RRScore:
    """Coefficients of the logistic AF score over :data:`SCORE_FEATURES` (standardised)."""

    mean: tuple[float, ...] = SCORE_MEAN
    scale: tuple[float, ...] = SCORE_SCALE
    weights: tuple[float, ...] = SCORE_WEIGHTS
    bias: float = SCORE_BIAS


SCORE_RIDGE: float = 1e-3
"""Ridge penalty of :func:`fit_score` on the standardised weights (not the intercept)."""


def fit_score(features: dict[str, np.ndarray], y: np.ndarray, ridge: float = SCORE_RIDGE) -> RRScore:
    """Fit the logistic score on labelled windows: class-balanced, lightly ridge-penalised.

    Windows with a NaN feature (fewer than ``RR_MIN_BEATS`` beats) are left out. This is how
    the shipped ``SCORE_*`` constants were fitted (``benchmarks/fit_rr_baseline.py``), and how
    cross-validation refits the baseline on each fold's training records.

    Parameters
    ----------
    features : dict of numpy.ndarray
        :func:`window_features` of the windows.
    y : numpy.ndarray
        Window labels, 1 AF and 0 non-AF (both classes present).
    ridge : float
        Penalty on the squared standardised weights.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 50)
    >>> feats = {k: rng.normal(size=100) + y for k in SCORE_FEATURES}
    >>> all(w > 0 for w in fit_score(feats, y).weights)
    True
    """
    from scipy import optimize

    x = np.stack([np.asarray(features[name], dtype=np.float64) for name in SCORE_FEATURES], axis=1)
    ok = np.all(np.isfinite(x), axis=1)
    x, target = x[ok], np.asarray(y, dtype=np.float64)[ok]
    if len(np.unique(target)) < 2:
        raise ValueError("fit_score needs windows of both classes with enough beats")
    std = x.std(axis=0)
    mean, scale = x.mean(axis=0), np.where(std > 0, std, 1.0)
    z = (x - mean) / scale
    sample_w = np.where(target == 1, 0.5 / target.mean(), 0.5 / (1 - target.mean()))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logit = z @ theta[1:] + theta[0]
        p = 1 / (1 + np.exp(-logit))
        value = np.mean(sample_w * (np.logaddexp(0, logit) - target * logit)) + ridge * np.sum(theta[1:] ** 2)
        g = sample_w * (p - target) / len(target)
        return value, np.concatenate([[g.sum()], z.T @ g + 2 * ridge * theta[1:]])

    theta = optimize.minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B").x
    return RRScore(_floats(mean), _floats(scale), _floats(theta[1:]), float(theta[0]))


def _floats(values: np.ndarray) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def score_features(
    features: dict[str, np.ndarray], undetermined: float = RR_UNDETERMINED_P, score: RRScore = RRScore()
) -> np.ndarray:
    """Logistic AF score from window features (:data:`SCORE_FEATURES`; default: the shipped coefficients).

    ``p = 1 / (1 + exp(-(bias + Σ w_k (f_k - mean_k) / scale_k)))``. Windows whose
    features are NaN (fewer than ``RR_MIN_BEATS`` beats) get ``undetermined``.

    Example
    -------
    >>> score_features({k: np.array([np.nan]) for k in SCORE_FEATURES}).tolist()
    [0.5]
    """
    z = np.stack([np.asarray(features[name], dtype=np.float64) for name in SCORE_FEATURES], axis=-1)
    z = (z - np.array(score.mean)) / np.array(score.scale)
    logit = score.bias + z @ np.array(score.weights)
    p = 1.0 / (1.0 + np.exp(-np.clip(logit, -50, 50)))
    return np.where(np.isfinite(p), p, undetermined)


def rr_af_probability(
    x_windows: np.ndarray, fs: float = MODEL_FS, undetermined: float = RR_UNDETERMINED_P, score: RRScore = RRScore()
) -> np.ndarray:
    """AF score in [0, 1] of conditioned windows, from RR irregularity alone.

    Parameters
    ----------
    x_windows : numpy.ndarray
        Conditioned windows ``(n, n_samples)`` at ``fs`` Hz (the model input).
    fs : float
        Sampling rate (Hz).
    undetermined : float
        Score of windows with fewer than ``RR_MIN_BEATS`` detected beats (no rhythm
        evidence); default ``RR_UNDETERMINED_P`` = 0.5, below the shipped ``RR_THRESHOLD``.
    score : RRScore
        Coefficients of the logistic score (default: the shipped ones).

    Returns
    -------
    numpy.ndarray
        float64 ``(n,)`` scores; call AF when ``>= RR_THRESHOLD``.

    Example
    -------
    >>> rr_af_probability(np.zeros((2, 3840))).tolist()  # flat: no beats
    [0.5, 0.5]
    """
    return score_features(window_features(x_windows, fs), undetermined, score)
