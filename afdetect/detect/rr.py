"""The RR baseline scorer (``--method rr``): a fixed logistic score of four RR features.

Step 4 of the classical baseline (:mod:`afdetect.signal.beats`, :mod:`afdetect.signal.rr`):
:func:`rr_af_probability` combines :data:`SCORE_FEATURES` (COSEn, turning-point ratio, heart
rate, QRS consistency) with coefficients fitted only on the training records of the default
record-wise CinC 2017 split by ``benchmarks/fit_rr_baseline.py``; :func:`fit_score` refits them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from afdetect.config import MODEL_FS, RR_UNDETERMINED_P
from afdetect.models.logistic import fit_logistic
from afdetect.signal.rr import window_features

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
    x = np.stack([np.asarray(features[name], dtype=np.float64) for name in SCORE_FEATURES], axis=1)
    ok = np.all(np.isfinite(x), axis=1)
    x, target = x[ok], np.asarray(y, dtype=np.float64)[ok]
    if len(np.unique(target)) < 2:
        raise ValueError("fit_score needs windows of both classes with enough beats")
    std = x.std(axis=0)
    mean, scale = x.mean(axis=0), np.where(std > 0, std, 1.0)
    sample_w = np.where(target == 1, 0.5 / target.mean(), 0.5 / (1 - target.mean()))
    bias, weights = fit_logistic((x - mean) / scale, target, sample_w, ridge)
    return RRScore(_floats(mean), _floats(scale), _floats(weights), bias)


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
