"""``--method trees``: AF probability from gradient-boosted trees on rhythm features.

The scorer computes :func:`~afdetect.signal.features.rhythm_features` of the conditioned
windows once and scores them with every member of the trees file's bag: ``p_af`` is the mean of
the members' probabilities of the ``A`` (AF) class, each calibrated by the member's Platt map;
the other classes take the members' mean probabilities, each member's share of them weighed by
its class weights (the model and its file format live in :mod:`afdetect.models.trees`).
LightGBM is imported only when this method is used.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from afdetect.config import AF_CLASS, CINC_CLASSES, MODEL_FS
from afdetect.models.trees import TreesMember, weigh_other_classes
from afdetect.signal.features import FEATURE_THREADS, rhythm_features

SPLIT_ROWS: int = 64
"""Fewest windows whose prediction is shared among threads (below, one call does it)."""


class TreesScorer:
    """AF probability of conditioned windows from a bag of four-class trees (a picklable scorer).

    Example
    -------
    >>> from afdetect.models.trees import default_trees, load_trees
    >>> scorer = TreesScorer(load_trees(default_trees())[0])  # doctest: +SKIP
    >>> scorer(np.zeros((3, 3840), np.float32)).shape  # doctest: +SKIP
    (3,)
    """

    classes: tuple[str, ...] = CINC_CLASSES
    """The classes of :meth:`class_probabilities`' columns."""

    def __init__(self, members: list[TreesMember], fs: float = MODEL_FS) -> None:
        if not members:
            raise ValueError("a trees scorer needs at least one member")
        self.members, self.fs = list(members), fs

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Calibrated P(AF) ``(n,)`` of conditioned windows ``(n, samples)`` at ``fs`` Hz (the file's model rate)."""
        return self.af_probability(self.class_probabilities(x))

    def af_probability(self, class_p: np.ndarray) -> np.ndarray:
        """``p_af`` ``(n,)`` from :meth:`class_probabilities`: its AF column, which holds the bag's ``p_af``."""
        return class_p[:, AF_CLASS]

    def class_probabilities(self, x: np.ndarray) -> np.ndarray:
        """``(n, len(classes))`` for conditioned windows: the bag's ``p_af`` in the AF column, the
        members' mean probabilities of CinC 2017's other classes, each weighed by the member's
        ``class_weights`` (:func:`~afdetect.models.trees.weigh_other_classes`), in the rest,
        scaled to share ``1 − p_af`` (:meth:`bag_probabilities`)."""
        return self.bag_probabilities(rhythm_features(x, self.fs))

    def bag_probabilities(self, features: np.ndarray) -> np.ndarray:
        """:meth:`class_probabilities` of feature rows ``(n, len(FEATURE_NAMES))``."""
        p_af = np.zeros(len(features))
        others = np.zeros((len(features), len(CINC_CLASSES)))
        for member in self.members:
            class_p = weigh_other_classes(self.predict_rows(member.booster, features), member.class_weights)
            p_af += member.calibration.apply(class_p[:, AF_CLASS])
            others += class_p
        p_af /= len(self.members)
        others[:, AF_CLASS] = 0.0
        total = others.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(total > 0, others / total, 1.0 / (len(CINC_CLASSES) - 1)) * (1.0 - p_af)[:, None]
        out[:, AF_CLASS] = p_af
        return out

    def uncalibrated_af_probability(self, x: np.ndarray) -> np.ndarray:
        """The members' mean P(``A``) ``(n,)`` before their calibration (for calibration reports)."""
        features = rhythm_features(x, self.fs)
        return np.mean([self.predict_rows(m.booster, features)[:, AF_CLASS] for m in self.members], axis=0)

    @staticmethod
    def predict_rows(booster: Any, features: np.ndarray, threads: int = FEATURE_THREADS) -> np.ndarray:
        """A booster's class probabilities of feature rows, the rows shared among ``threads``.

        Each LightGBM call runs on one thread of its own: its OpenMP pool, once started in a
        parent, would hang a forked ``--jobs`` worker that asked it for more. The rows are shared
        among Python threads instead (LightGBM's C calls release the interpreter lock): 2,400
        windows in 0.47 s against 0.91 s on two cores, the same probabilities.
        """
        if threads < 2 or len(features) < SPLIT_ROWS:
            return booster.predict(features, num_threads=1)
        parts = np.array_split(features, threads)
        with ThreadPoolExecutor(threads) as pool:
            return np.vstack(list(pool.map(lambda rows: booster.predict(rows, num_threads=1), parts)))
