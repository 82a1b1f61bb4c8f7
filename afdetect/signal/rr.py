"""RR-interval statistics of detected beats: irregularity features per window (``--method rr``).

Step 3 of the classical baseline (see :mod:`afdetect.signal.beats` for steps 1-2 and
:mod:`afdetect.detect.rr` for the logistic score): :func:`rr_features` (COSEn, normalised
RMSSD, turning-point ratio, ...), :func:`qrs_consistency` (how alike the detected beats look)
and :func:`window_features` for a batch of conditioned windows.
"""

from __future__ import annotations

import math

import numpy as np

from afdetect.config import MODEL_FS, RR_MIN_BEATS
from afdetect.signal.beats import QRS_HALF_WIDTH_S, window_peaks
from afdetect.signal.ragged import Rows

# --- Sample entropy (Lake & Moorman 2011) ----------------------------------------------
SAMPEN_R_START_S: float = 0.03
"""Initial matching tolerance r (s)."""


SAMPEN_R_STEP_S: float = 0.01
"""r grows in steps of this size (s) until ``SAMPEN_MIN_MATCHES`` length-2 matches exist."""


SAMPEN_MIN_MATCHES: int = 5


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
    sampen, r = sample_entropy_rows(Rows.from_list([np.asarray(rr, dtype=np.float64)]))
    return float(sampen[0]), float(r[0])


def sample_entropy_rows(rr: Rows, block: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """:func:`sample_entropy_rr` of each row of ``rr``.

    Rows of similar length are computed together, ``block`` at a time, over their template
    pairs only. Rows with fewer than 3 intervals get NaN (and r = ``SAMPEN_R_START_S``).

    Example
    -------
    >>> sampen, r = sample_entropy_rows(Rows.from_list([np.full(20, 0.8), np.full(9, 1.0)]))
    >>> sampen.tolist(), r.tolist()
    ([0.0, 0.0], [0.03, 0.03])
    """
    sampen = np.full(len(rr.count), np.nan)
    r = np.full(len(rr.count), SAMPEN_R_START_S)
    order = np.argsort(rr.count, kind="stable")
    order = order[rr.count[order] >= 3]
    for start in range(0, len(order), block):
        rows = order[start : start + block]
        width = int(rr.count[rows].max())
        sampen[rows], r[rows] = _sample_entropy_block(rr.values[rows, :width], rr.count[rows])
    return sampen, r


def _sample_entropy_block(v: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sample entropy and tolerance of rows ``v`` (``count`` ≥ 3 values each), all at once."""
    i, j = np.triu_indices(v.shape[1] - 1, k=1)  # template pairs i < j, both starting before the last value
    pairs = j < (count - 1)[:, None]
    d1 = np.abs(v[:, i] - v[:, j])
    d2 = np.maximum(d1, np.abs(v[:, i + 1] - v[:, j + 1]))
    need = np.minimum(SAMPEN_MIN_MATCHES, pairs.sum(axis=1))
    kth = min(SAMPEN_MIN_MATCHES, d2.shape[1]) - 1
    smallest = np.sort(np.partition(np.where(pairs, d2, np.inf), kth, axis=1)[:, : kth + 1], axis=1)
    r_need = np.take_along_axis(smallest, np.maximum(need - 1, 0)[:, None], axis=1)[:, 0]
    grow = (need > 0) & (r_need > SAMPEN_R_START_S)
    steps = np.ceil((np.where(grow, r_need, SAMPEN_R_START_S) - SAMPEN_R_START_S) / SAMPEN_R_STEP_S - 1e-9)
    r = np.where(grow, SAMPEN_R_START_S + steps * SAMPEN_R_STEP_S, SAMPEN_R_START_S)
    r = np.array([round(float(value), 6) for value in r])
    a = (pairs & (d2 <= r[:, None])).sum(axis=1)
    b = (pairs & (d1 <= r[:, None])).sum(axis=1)
    with np.errstate(divide="ignore"):
        return np.where((a > 0) & (b > 0), np.log(b / np.maximum(a, 1)), np.nan), r


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

    Peaks come from :func:`afdetect.signal.beats.window_peaks` (``chunk`` windows per
    vectorised envelope).

    Example
    -------
    >>> window_features(np.zeros((3, 3840)))["n_beats"].tolist()
    [0.0, 0.0, 0.0]
    """
    out = {name: np.full(len(x_windows), np.nan) for name in WINDOW_FEATURE_NAMES}
    for i, (x, peaks) in enumerate(window_peaks(x_windows, fs, chunk)):
        for name, value in rr_features(peaks, fs).items():
            out[name][i] = value
        out["qrs_corr"][i] = qrs_consistency(x, peaks, fs)
    return out
