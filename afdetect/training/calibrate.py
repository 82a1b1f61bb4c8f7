"""Calibration of ECGCNN's ``p_af`` on validation windows: at each validation of a training run, and
after the fact for weights trained before ``train`` calibrated (the shipped ``se`` and ``l`` until 0.1.0).

:func:`fit_validation_calibration` is the one fit: the training loop
(:meth:`~afdetect.training.loop.Trainer.validate`) calls it on every validation, and
:func:`calibrate_weights` on the validation records of a finished run. The Platt map
(:class:`~afdetect.models.calibration.PlattCalibration`) is strictly increasing, so mapping the
threshold through it keeps every AF call ``p_af >= threshold`` as it was: the calibration changes
what ``p_af`` says, never what afdetect calls AF.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from afdetect import __version__
from afdetect.config import AF_CLASS
from afdetect.detect.predictor import Predictor
from afdetect.errors import ParameterError, UsageError
from afdetect.evaluate.metrics import calibration_metrics
from afdetect.evaluate.records import check_preprocessing, select_split
from afdetect.models.calibration import IDENTITY, PlattCalibration
from afdetect.models.files import update_manifest
from afdetect.models.weights import update_weights
from afdetect.training.cache import load_window_set


def fit_validation_calibration(raw_p: np.ndarray, y: np.ndarray) -> tuple[PlattCalibration, dict[str, Any]]:
    """The Platt map of validation windows' own P(AF), and the record of it that weights store.

    Parameters
    ----------
    raw_p : numpy.ndarray
        ``(n,)`` the model's P(AF) (softmax column :data:`~afdetect.config.AF_CLASS`, before any
        calibration) of the validation windows.
    y : numpy.ndarray
        ``(n,)`` their truths (0/1).

    Returns
    -------
    calibration : PlattCalibration
        The fitted map; the identity when the windows hold a single class.
    record : dict
        ``method``, ``slope``, ``intercept`` and the expected calibration error and Brier score of
        the windows ``before`` and ``after`` the map (:func:`~afdetect.evaluate.metrics.calibration_metrics`),
        as ``training.best.val.calibration`` of a weights file.

    Example
    -------
    >>> calibration, record = fit_validation_calibration(np.array([0.9, 0.8, 0.95, 0.1]), np.array([0, 1, 1, 0]))
    >>> calibration.slope < 1, record["after"]["brier"] < record["before"]["brier"]
    (True, True)
    """
    calibration = PlattCalibration.fit(raw_p, y) if len(np.unique(y)) == 2 else IDENTITY
    record = {
        **calibration.to_dict(),
        "before": calibration_metrics(y, raw_p),
        "after": calibration_metrics(y, calibration.apply(raw_p)),
    }
    return calibration, record


def calibrate_weights(
    weights: str | Path, windows: str | Path, output: str | Path | None = None, *, force: bool = False
) -> dict[str, Any]:
    """Calibrate ``p_af`` of ECGCNN weights on their own validation records, keeping every AF call.

    The validation windows (the records the weights' training info names as ``val_records``) are
    scored with the model's own, uncalibrated P(AF); :func:`fit_validation_calibration` fits the
    Platt map on them, as the training loop does; the stored threshold is mapped through the same
    strictly increasing map, so ``p_af >= threshold`` holds for exactly the windows it held for
    before. The map, the new threshold, the calibration record (``training.best.val.calibration``:
    ECE and Brier score before and after) and where it came from
    (``training.calibrated_after_training``) are written; the parameters and every other entry
    are kept as stored.

    Parameters
    ----------
    weights : str or Path
        ECGCNN weights file (``best.pt`` of a run, a shipped file).
    windows : str or Path
        Windows file holding all the weights' validation records, made with their preprocessing
        (the file they were trained on, or one rebuilt from the same records).
    output : str or Path, optional
        File to write (default: ``weights``, replaced atomically). When a ``SHA256SUMS`` beside it
        lists it (the shipped files), its digest there is updated.
    force : bool
        Refit weights that already carry a calibration (their threshold is taken back to the
        model's own scale first).

    Returns
    -------
    dict
        ``calibration`` (the stored record), ``threshold`` (new), and the stored
        ``calibrated_after_training`` entries: ``threshold_before``, ``calibration_before``,
        ``windows`` (file), ``val_windows`` (count), ``afdetect_version``.

    Raises
    ------
    UsageError
        When the weights are unreadable or already calibrated (without ``force``), the windows file
        was made with other preprocessing, or it lacks validation records the weights name.

    Example
    -------
    >>> summary = calibrate_weights("runs/se50/best.pt", "runs/cinc2017.npz")  # doctest: +SKIP
    >>> before, after = summary["calibration"]["before"], summary["calibration"]["after"]  # doctest: +SKIP
    >>> round(before["ece"], 3), round(after["ece"], 3)  # doctest: +SKIP
    (0.064, 0.014)
    """
    predictor = Predictor.from_weights(weights)
    before: PlattCalibration = predictor.meta["calibration"]
    if not before.is_identity and not force:
        raise ParameterError(
            f"already carries a calibration of p_af (slope {before.slope:.4g}, intercept {before.intercept:.4g});"
            " {force} refits it",
            weights,
        )
    named = len(set(predictor.meta.get("training", {}).get("val_records", [])))
    if not named:
        raise UsageError(weights, "names no validation records in its training info: nothing to calibrate on")
    ws = load_window_set(windows)
    check_preprocessing(predictor, ws)
    val = select_split(ws, "val", predictor.meta)
    if val.sum() < named:
        raise UsageError(windows, f"holds {val.sum()} of the {named} validation records the weights name")
    idx = np.flatnonzero(val[ws.record_index] & (ws.labels >= 0))
    raw_p = predictor.scorer.class_probabilities(np.asarray(ws.windows[idx], dtype=np.float32))[:, AF_CLASS]
    calibration, record = fit_validation_calibration(raw_p, ws.labels[idx])
    threshold = float(calibration.apply(before.invert(np.array([predictor.threshold])))[0])
    provenance = {
        "threshold_before": float(predictor.threshold),
        "calibration_before": before.to_dict(),
        "windows": str(windows),
        "val_windows": len(idx),
        "afdetect_version": __version__,
    }
    training = dict(predictor.meta["training"])
    best = dict(training.get("best", {}))
    training["best"] = {**best, "threshold": threshold, "val": {**best.get("val", {}), "calibration": record}}
    training["calibrated_after_training"] = provenance
    destination = Path(weights if output is None else output)
    update_weights(
        weights, destination, {"threshold": threshold, "calibration": calibration.to_dict(), "training": training}
    )
    update_manifest(destination)
    return {"calibration": record, "threshold": threshold, **provenance}
