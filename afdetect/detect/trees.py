"""``--method trees``: AF probability from gradient-boosted trees on rhythm features.

The scorer computes :func:`~afdetect.signal.features.rhythm_features` of the conditioned
windows and returns the trees' probability of the ``A`` (AF) class, calibrated by the trees
file's Platt map; the other classes' share is weighed by the file's class weights
(the model and its file format live in :mod:`afdetect.models.trees`).
LightGBM is imported only when this method is used.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from afdetect.config import AF_CLASS, CINC_CLASSES, MODEL_FS
from afdetect.models.calibration import IDENTITY, PlattCalibration
from afdetect.models.trees import EQUAL_WEIGHTS, weigh_other_classes
from afdetect.signal.features import FEATURE_THREADS, rhythm_features

SPLIT_ROWS: int = 64
"""Fewest windows whose prediction is shared among threads (below, one call does it)."""


class TreesScorer:
    """AF probability of conditioned windows from a four-class trees booster (a picklable scorer).

    Example
    -------
    >>> from afdetect.models.trees import default_trees, load_trees
    >>> scorer = TreesScorer(load_trees(default_trees())[0])  # doctest: +SKIP
    >>> scorer(np.zeros((3, 3840), np.float32)).shape  # doctest: +SKIP
    (3,)
    """

    classes: tuple[str, ...] = CINC_CLASSES
    """The classes of :meth:`class_probabilities`' columns."""

    def __init__(
        self,
        booster: Any,
        fs: float = MODEL_FS,
        calibration: PlattCalibration = IDENTITY,
        class_weights: np.ndarray = EQUAL_WEIGHTS,
    ) -> None:
        self.booster, self.fs, self.calibration, self.class_weights = booster, fs, calibration, class_weights

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Calibrated P(AF) ``(n,)`` of conditioned windows ``(n, samples)`` at ``fs`` Hz (the file's model rate)."""
        return self.af_probability(self.class_probabilities(x))

    def af_probability(self, class_p: np.ndarray) -> np.ndarray:
        """``p_af`` ``(n,)`` from :meth:`class_probabilities`: P(``A``) through the file's calibration."""
        return self.calibration.apply(class_p[:, AF_CLASS])

    def class_probabilities(self, x: np.ndarray) -> np.ndarray:
        """The booster's probabilities ``(n, len(classes))`` of CinC 2017's four classes for conditioned
        windows, the share of the classes other than ``A`` weighed by ``class_weights``
        (:func:`~afdetect.models.trees.weigh_other_classes`; not calibrated: they rank the
        other classes of records not called AF)."""
        return weigh_other_classes(self.predict_rows(rhythm_features(x, self.fs)), self.class_weights)

    def predict_rows(self, features: np.ndarray, threads: int = FEATURE_THREADS) -> np.ndarray:
        """The booster's class probabilities of feature rows, the rows shared among ``threads``.

        Each LightGBM call runs on one thread of its own: its OpenMP pool, once started in a
        parent, would hang a forked ``--jobs`` worker that asked it for more. The rows are shared
        among Python threads instead (LightGBM's C calls release the interpreter lock): 2,400
        windows in 0.47 s against 0.91 s on two cores, the same probabilities.
        """
        if threads < 2 or len(features) < SPLIT_ROWS:
            return self.booster.predict(features, num_threads=1)
        parts = np.array_split(features, threads)
        with ThreadPoolExecutor(threads) as pool:
            return np.vstack(list(pool.map(lambda rows: self.booster.predict(rows, num_threads=1), parts)))
