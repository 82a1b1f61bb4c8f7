"""Training targets of the windows: AF against the rest, or CinC 2017's four classes.

Shared by the rhythm trees (always four classes) and ECGCNN (``train --classes 2|4``); light to
import (no torch, no LightGBM). Whatever the targets, validation, the threshold and early stopping
use the binary window labels (``WindowSet.labels``) against P(AF), the probability of class
:data:`~afdetect.config.AF_CLASS`, which is AF in both class lists.
"""

from __future__ import annotations

import numpy as np

from afdetect.config import AF_CLASS, CINC_CLASSES, IGNORE_LABEL, MODEL_CLASSES
from afdetect.training.cache import WindowSet


def four_class_targets(ws: WindowSet) -> np.ndarray:
    """Class index into :data:`~afdetect.config.CINC_CLASSES` per window (-1: not used).

    Windows of CinC-labelled records take their record's class (``N``/``A``/``O``/``~``);
    windows of rhythm-annotated records are ``A`` when labelled AF and ``N`` when labelled
    non-AF; ignored windows (mixed rhythm, flutter) are -1.

    Example
    -------
    >>> ws = WindowSet(np.zeros((4, 8)), np.array([1, 0, 1, -1]), np.array([0, 1, 2, 2]), *[np.zeros(4)] * 2,
    ...                np.array(["a", "b", "c"]), np.array(["A", "O", "AF"]))
    >>> four_class_targets(ws).tolist()
    [1, 2, 1, -1]
    """
    record_class = np.array([CINC_CLASSES.index(label) if label in CINC_CLASSES else -1 for label in ws.record_labels])
    targets = record_class[ws.record_index]
    annotated = targets < 0
    targets[annotated] = np.where(ws.labels[annotated] == 1, AF_CLASS, CINC_CLASSES.index("N"))
    targets[ws.labels < 0] = IGNORE_LABEL
    return targets


def class_targets(ws: WindowSet, n_classes: int) -> np.ndarray:
    """Class index per window into ``MODEL_CLASSES[n_classes]`` (-1: not used): the binary window
    labels for two classes, :func:`four_class_targets` for four.

    Raises
    ------
    ValueError
        For a number of classes afdetect has no class list for.
    """
    if n_classes not in MODEL_CLASSES:
        raise ValueError(f"no class list of {n_classes} classes (known: {sorted(MODEL_CLASSES)})")
    return four_class_targets(ws) if MODEL_CLASSES[n_classes] == CINC_CLASSES else ws.labels


def balanced_class_weights(counts: np.ndarray) -> np.ndarray:
    """Loss weight per class, inversely proportional to its count: ``n / (K * count)``.

    With equal counts every weight is 1; a class absent from the training windows gets the weight
    of a class of one window (it enters no loss term anyway).

    Example
    -------
    >>> balanced_class_weights(np.array([30, 10])).tolist()
    [0.6666666666666666, 2.0]
    """
    return counts.sum() / (len(counts) * np.maximum(counts, 1))
