"""``--method blend``: the rhythm trees and the signal ResNet, each measured against its own threshold.

The two read different evidence: the trees, hand-made rhythm and atrial-activity features of the
window (:mod:`afdetect.signal.features`); the ResNet, the signal alone
(:mod:`afdetect.models.resnet1d`). Each member's calibrated ``p_af`` is put on one scale by its
log-odds *relative to its own AF threshold* (chosen on its validation records), and the blend
is their mean::

    z = mean_i (logit p_i − logit t_i),   p_af = sigmoid(z),   AF when p_af ≥ 0.5 (z ≥ 0)

Nothing is fitted for the blend itself, so it is scored as honestly as its members. A window is
AF when the members' evidence, each in units of its own decision margin, leans to AF on average.
The other CinC classes (N, O, ~) of a window take the normalised geometric mean of the members'
class probabilities, scaled to share ``1 − p_af``.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from afdetect.config import AF_CLASS, CINC_CLASSES
from afdetect.models.calibration import log_odds

BLEND_THRESHOLD: float = 0.5
"""AF threshold of the blend's ``p_af`` (a mean relative log-odds of zero)."""


class BlendScorer:
    """AF probability of conditioned windows from several four-class scorers and their thresholds.

    Parameters
    ----------
    members : sequence of (scorer, float)
        Scorers with CinC ``classes``, ``class_probabilities`` and ``af_probability``
        (:class:`~afdetect.detect.trees.TreesScorer`, a four-class
        :class:`~afdetect.detect.cnn.ModelScorer`), each with its AF threshold.

    Example
    -------
    >>> class Fixed:
    ...     classes = CINC_CLASSES
    ...     def __init__(self, p): self.p = np.array([p])
    ...     def class_probabilities(self, x): return np.tile(self.p, (len(x), 1))
    ...     def af_probability(self, class_p): return class_p[:, AF_CLASS]
    >>> blend = BlendScorer([(Fixed([0.2, 0.6, 0.1, 0.1]), 0.3), (Fixed([0.7, 0.2, 0.05, 0.05]), 0.4)])
    >>> p = blend(np.zeros((1, 3840)))  # mean of (logit .6 - logit .3) = 1.25 and (logit .2 - logit .4) = -0.98
    >>> round(float(p[0]), 3)
    0.534
    """

    classes: tuple[str, ...] = CINC_CLASSES
    """The classes of :meth:`class_probabilities`' columns."""

    def __init__(self, members: Sequence[tuple[Any, float]]) -> None:
        if not members:
            raise ValueError("a blend needs at least one member")
        for scorer, _ in members:
            if tuple(getattr(scorer, "classes", ())) != CINC_CLASSES:
                raise ValueError(f"blend members must give the CinC classes {CINC_CLASSES}")
        self.members = list(members)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """``p_af`` ``(n,)`` of conditioned windows ``(n, samples)``."""
        return self.af_probability(self.class_probabilities(x))

    def af_probability(self, class_p: np.ndarray) -> np.ndarray:
        """``p_af`` ``(n,)`` from :meth:`class_probabilities`: its AF column, which holds the blend's ``p_af``."""
        return class_p[:, AF_CLASS]

    def class_probabilities(self, x: np.ndarray) -> np.ndarray:
        """``(n, 4)``: the blend's ``p_af`` in the AF column, the members' shares of the other classes
        in the rest (:func:`blend_class_probabilities`).

        The members score on threads of their own, at once: the trees' features are NumPy and the
        CNN is torch, both of which release the GIL, so on two cores the CNN runs beside the
        features instead of after them."""
        with ThreadPoolExecutor(len(self.members), thread_name_prefix="afdetect-blend") as pool:
            member_p = list(pool.map(lambda member: member[0].class_probabilities(x), self.members))
        p_af = [scorer.af_probability(p) for (scorer, _), p in zip(self.members, member_p, strict=True)]
        return blend_class_probabilities(member_p, p_af, [threshold for _, threshold in self.members])


def blend_class_probabilities(
    class_p: Sequence[np.ndarray], p_af: Sequence[np.ndarray], thresholds: Sequence[float | np.ndarray]
) -> np.ndarray:
    """The blend of members' predictions of the same windows (see the module docstring).

    Parameters
    ----------
    class_p : sequence of numpy.ndarray
        Each member's CinC class probabilities ``(n, 4)``.
    p_af : sequence of numpy.ndarray
        Each member's calibrated ``p_af`` ``(n,)``.
    thresholds : sequence of float or numpy.ndarray
        Each member's AF threshold on ``p_af`` (a scalar, or one per window).

    Returns
    -------
    numpy.ndarray
        ``(n, 4)``: the blend's ``p_af`` (sigmoid of the mean relative log-odds) in column
        :data:`~afdetect.config.AF_CLASS`; the normalised geometric mean of the members'
        probabilities of the other classes, scaled to ``1 − p_af``, in the rest.

    Example
    -------
    >>> even = np.array([[0.25, 0.25, 0.25, 0.25]])
    >>> blend_class_probabilities([even, even], [np.array([0.5]), np.array([0.5])], [0.5, 0.5]).round(3).tolist()
    [[0.167, 0.5, 0.167, 0.167]]
    """
    z = np.mean([relative_log_odds(p, t) for p, t in zip(p_af, thresholds, strict=True)], axis=0)
    blended = 1.0 / (1.0 + np.exp(-z))
    log_p = np.mean([np.log(np.clip(p, 1e-9, 1.0)) for p in class_p], axis=0)
    others = np.exp(log_p - log_p.max(axis=1, keepdims=True))
    others[:, AF_CLASS] = 0.0
    out = others / others.sum(axis=1, keepdims=True) * (1.0 - blended)[:, None]
    out[:, AF_CLASS] = blended
    return out


def relative_log_odds(p_af: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """``logit p_af − logit threshold``: a member's evidence in units of its own decision margin
    (≥ 0 where it calls AF).

    Example
    -------
    >>> relative_log_odds(np.array([0.5, 0.2]), 0.5).round(3).tolist()
    [0.0, -1.386]
    """
    return log_odds(p_af) - log_odds(np.asarray(threshold))
