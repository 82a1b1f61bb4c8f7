"""Binary classification metrics for AF (positive class) against the rest.

Pure NumPy; no scikit-learn needed for these few formulas. :func:`challenge_f1` scores
four-class CinC 2017 record predictions the way the challenge did.
"""

from __future__ import annotations

import numpy as np

from afdetect.config import RECORD_AF_FRACTION


def confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """2×2 confusion matrix ``[[TN, FP], [FN, TP]]`` (rows: truth, columns: prediction)."""
    y_true, y_pred = np.asarray(y_true, int), np.asarray(y_pred, int)
    matrix = np.zeros((2, 2), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix


def auroc(y_true: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney U with tie correction); NaN with one class.

    Example
    -------
    >>> auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8]))
    0.75
    """
    y_true, score = np.asarray(y_true, int), np.asarray(score, float)
    n_pos, n_neg = int(y_true.sum()), int((1 - y_true).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    sorted_scores = score[order]
    # average ranks for ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2 + 1
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y_true == 1].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_curve(y_true: np.ndarray, score: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False- and true-positive rates over all thresholds (for plotting)."""
    order = np.argsort(-np.asarray(score, float), kind="mergesort")
    y = np.asarray(y_true, int)[order]
    tp = np.concatenate([[0], np.cumsum(y)])
    fp = np.concatenate([[0], np.cumsum(1 - y)])
    return fp / max(fp[-1], 1), tp / max(tp[-1], 1)


def binary_metrics(y_true: np.ndarray, p_af: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy, F1, sensitivity, specificity, PPV and AUROC of AF calls ``p_af >= threshold``.

    Returns
    -------
    dict
        ``n, accuracy, f1, sensitivity, specificity, ppv, auroc, tn, fp, fn, tp``; a ratio
        with an empty denominator is NaN.
    """
    y_true = np.asarray(y_true, int)
    p_af = np.asarray(p_af, float)
    (tn, fp), (fn, tp) = confusion(y_true, p_af >= threshold)

    def ratio(a: float, b: float) -> float:
        return float(a / b) if b else float("nan")

    return {
        "n": len(y_true),
        "accuracy": ratio(tp + tn, len(y_true)),
        "f1": ratio(2 * tp, 2 * tp + fp + fn),
        "sensitivity": ratio(tp, tp + fn),
        "specificity": ratio(tn, tn + fp),
        "ppv": ratio(tp, tp + fp),
        "auroc": auroc(y_true, p_af),
        "tn": int(tn),
        "fp": int(fp),
        "fn": int(fn),
        "tp": int(tp),
    }


def best_threshold(y_true: np.ndarray, p_af: np.ndarray) -> float:
    """Threshold on ``p_af`` that maximises F1(AF) (choose it on validation data only)."""
    candidates = np.unique(np.round(np.asarray(p_af, float), 3))
    candidates = candidates[(candidates > 0.02) & (candidates < 0.98)]
    if len(candidates) == 0:
        return 0.5
    scores = [binary_metrics(y_true, p_af, t)["f1"] for t in candidates]
    return float(candidates[int(np.nanargmax(scores))])


PLATEAU_F1: float = 0.005
"""F1 points (as a fraction) below the best that still count as the best, for :func:`plateau_threshold`."""


def plateau_threshold(y_true: np.ndarray, p_af: np.ndarray, tolerance: float = PLATEAU_F1) -> float:
    """The middle of the thresholds whose F1(AF) is within ``tolerance`` of the best.

    F1 is often flat over a wide range of thresholds, where the single best one is set by a few
    windows and moves far between data sets; the median of the near-best thresholds does not.

    Example
    -------
    >>> y = np.array([0, 0, 0, 1, 1, 1])
    >>> plateau_threshold(y, np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.8]))
    0.6
    """
    candidates = np.unique(np.round(np.asarray(p_af, float), 3))
    candidates = candidates[(candidates > 0.02) & (candidates < 0.98)]
    if len(candidates) == 0:
        return 0.5
    scores = np.array([binary_metrics(y_true, p_af, t)["f1"] for t in candidates])
    return plateau_middle(candidates, scores, tolerance)


def plateau_middle(candidates: np.ndarray, scores: np.ndarray, tolerance: float = PLATEAU_F1) -> float:
    """The middle one of the ascending ``candidates`` whose ``scores`` lie within ``tolerance`` of the best.

    Example
    -------
    >>> plateau_middle(np.array([0.5, 1.0, 1.5, 2.0]), np.array([0.70, 0.80, 0.801, 0.79]), 0.005)
    1.0
    """
    near = np.asarray(candidates)[scores >= np.nanmax(scores) - tolerance]
    return float(near[(len(near) - 1) // 2])


def record_scores(
    record_index: np.ndarray, p_af: np.ndarray, threshold: float, n_records: int
) -> tuple[np.ndarray, np.ndarray]:
    """Per record: fraction of windows called AF, and the mean ``p_af`` (for AUROC).

    Records with no window get NaN.
    """
    counts = np.bincount(record_index, minlength=n_records).astype(float)
    af = np.bincount(record_index, weights=(p_af >= threshold).astype(float), minlength=n_records)
    mean_p = np.bincount(record_index, weights=p_af, minlength=n_records)
    with np.errstate(invalid="ignore", divide="ignore"):
        return af / counts, mean_p / counts


def record_metrics(
    record_index: np.ndarray, record_truth: np.ndarray, p_af: np.ndarray, threshold: float
) -> dict[str, float]:
    """Record-level metrics: a record is AF when ``RECORD_AF_FRACTION`` of its windows are.

    AUROC ranks records by their AF-window fraction, ties broken by mean ``p_af``.
    """
    fraction, mean_p = record_scores(record_index, p_af, threshold, len(record_truth))
    seen = np.isfinite(fraction)
    called = (fraction[seen] >= RECORD_AF_FRACTION).astype(float)
    metrics = binary_metrics(record_truth[seen], called, 0.5)
    metrics["auroc"] = auroc(record_truth[seen], fraction[seen] + 1e-3 * mean_p[seen])
    return metrics


CHALLENGE_CLASSES: tuple[str, ...] = ("N", "A", "O")
"""Classes whose F1 the CinC 2017 challenge score averages (the noisy class ``~`` is not scored)."""


def challenge_f1(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """The CinC 2017 challenge score: F1 of the normal, AF and other-rhythm classes and their mean.

    Parameters
    ----------
    truth, predicted : numpy.ndarray
        Record classes as CinC labels (``N``, ``A``, ``O``, ``~``).

    Returns
    -------
    dict
        ``f1_N``, ``f1_A``, ``f1_O`` (``2 × correct / (true + predicted)`` of that class, NaN
        when neither has it) and ``mean`` (their mean: the challenge's F1(N, A, O)).

    Example
    -------
    >>> challenge_f1(np.array(["N", "A", "O", "~"]), np.array(["N", "A", "N", "~"]))
    {'f1_N': 0.6666666666666666, 'f1_A': 1.0, 'f1_O': 0.0, 'mean': 0.5555555555555555}
    """
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    scores = {}
    for cls in CHALLENGE_CLASSES:
        total = np.count_nonzero(truth == cls) + np.count_nonzero(predicted == cls)
        correct = np.count_nonzero((truth == cls) & (predicted == cls))
        scores[f"f1_{cls}"] = float(2 * correct / total) if total else float("nan")
    scores["mean"] = float(np.mean([scores[f"f1_{cls}"] for cls in CHALLENGE_CLASSES]))
    return scores


CALIBRATION_BINS: int = 10
"""Equal-width probability bins of :func:`calibration_metrics`' expected calibration error."""


def calibration_metrics(y_true: np.ndarray, p_af: np.ndarray, bins: int = CALIBRATION_BINS) -> dict[str, float]:
    """How well ``p_af`` matches the observed AF frequency.

    Returns
    -------
    dict
        ``ece``: expected calibration error, the window-weighted mean of ``|mean p_af − AF share|``
        over ``bins`` equal-width bins of ``p_af``; ``brier``: mean squared error of ``p_af``
        against the 0/1 truth. Both 0 for a perfect forecaster; NaN without windows.

    Example
    -------
    >>> m = calibration_metrics(np.array([0, 0, 1, 1]), np.array([0.0, 0.0, 1.0, 0.5]))
    >>> m["ece"], m["brier"]
    (0.125, 0.0625)
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(p_af, dtype=np.float64)
    if len(y) == 0:
        return {"ece": float("nan"), "brier": float("nan")}
    which = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    gap = np.abs(np.bincount(which, weights=p, minlength=bins) - np.bincount(which, weights=y, minlength=bins))
    return {"ece": float(gap.sum() / count.sum()), "brier": float(np.mean((p - y) ** 2))}
