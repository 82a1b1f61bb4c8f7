"""Calibration of ``p_af``: a logistic map of the model's log-odds, fitted on held-out windows.

Boosted trees with many rounds are over-confident: near 0 and 1 their P(AF) overstates both
certainties (on CinC 2017's held-out test windows the map below cut the expected calibration
error of the shipped trees from 0.030 to 0.017, ``benchmarks/results/RESULTS.md``). Platt scaling refits the
log-odds, ``p' = sigmoid(slope * logit(p) + intercept)``: two numbers, monotone (so the ranking
and AUROC are unchanged), fitted on windows the model never trained on, and stored beside the
model with the threshold, which is chosen on the calibrated scale.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from afdetect.errors import UsageError
from afdetect.models.logistic import fit_logistic

_EPS: float = 1e-6
"""Probabilities are clipped to ``[_EPS, 1 - _EPS]`` before taking log-odds."""


def log_odds(p: np.ndarray) -> np.ndarray:
    """``log(p / (1 - p))`` of probabilities clipped to ``[1e-6, 1 - 1e-6]``.

    Example
    -------
    >>> log_odds(np.array([0.5, 0.0])).round(2).tolist()
    [0.0, -13.82]
    """
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


@dataclass(frozen=True)
class PlattCalibration:
    """``p' = sigmoid(slope * logit(p) + intercept)``; the default is the identity.

    Example
    -------
    >>> PlattCalibration(slope=0.5).apply(np.array([0.9])).round(3).tolist()
    [0.75]
    >>> PlattCalibration().apply(np.array([0.2])).round(6).tolist()
    [0.2]
    """

    slope: float = 1.0
    intercept: float = 0.0

    @property
    def is_identity(self) -> bool:
        """Whether the map leaves ``p_af`` as the model gives it (slope 1, intercept 0)."""
        return self.slope == 1.0 and self.intercept == 0.0

    def apply(self, p: np.ndarray) -> np.ndarray:
        """Calibrated probabilities of ``p`` (same shape, float64; the identity returns ``p`` itself as float64)."""
        if self.is_identity:
            return np.asarray(p, dtype=np.float64)
        return 0.5 * (1.0 + np.tanh(0.5 * (self.slope * log_odds(p) + self.intercept)))

    def invert(self, p: np.ndarray) -> np.ndarray:
        """The probabilities that :meth:`apply` maps to ``p`` (for ``p`` in ``(1e-6, 1 - 1e-6)``): a
        threshold on the calibrated scale taken back to the model's own (float64; the identity returns ``p``).

        Example
        -------
        >>> calibration = PlattCalibration(0.5, -0.2)
        >>> calibration.invert(calibration.apply(np.array([0.3, 0.9]))).round(9).tolist()
        [0.3, 0.9]
        """
        if self.is_identity:
            return np.asarray(p, dtype=np.float64)
        return 0.5 * (1.0 + np.tanh(0.5 * (log_odds(p) - self.intercept) / self.slope))

    @classmethod
    def fit(cls, p: np.ndarray, y: np.ndarray) -> PlattCalibration:
        """Maximum-likelihood slope and intercept for probabilities ``p`` of binary truths ``y``.

        A logistic regression of ``y`` on ``logit(p)`` (:func:`~afdetect.models.logistic.fit_logistic`);
        ``p`` must come from windows the model did not train on (out-of-fold or validation), or the
        fit inherits its over-confidence.
        When the best slope is not positive (``p`` ranks AF no better than chance), the identity
        is returned: a monotone map cannot mend a ranking, and a stored map always has slope > 0.

        Raises
        ------
        ValueError
            When ``p`` and ``y`` differ in length or ``y`` holds a single class.

        Example
        -------
        >>> rng = np.random.default_rng(0)
        >>> y = rng.random(4000) < 0.3
        >>> p = 1 / (1 + np.exp(-(np.where(y, 2.0, -2.0) + rng.normal(0, 2, 4000)) * 3))  # over-confident
        >>> round(PlattCalibration.fit(p, y).slope, 1)
        0.3
        """
        z = log_odds(p).ravel()
        y = np.asarray(y, dtype=np.float64).ravel()
        if len(z) != len(y):
            raise ValueError(f"expected as many truths as probabilities, got {len(y)} and {len(z)}")
        if len(np.unique(y)) != 2:
            raise ValueError("calibration needs windows of both classes")
        intercept, (slope,) = fit_logistic(z[:, None], y)
        if slope <= 0:  # held-out p ranks AF no better than chance: no monotone map can mend that
            return cls()
        return cls(float(slope), intercept)

    def to_dict(self) -> dict[str, Any]:
        """``{"method": "platt", "slope": ..., "intercept": ...}``, as model files store it."""
        return {"method": "platt", **asdict(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None, source: Any = None) -> PlattCalibration:
        """Read a stored copy; ``None`` (a file made before calibration) is the identity.

        Raises
        ------
        UsageError
            When the entry is not a Platt map with finite slope > 0 and intercept (naming ``source``).
        """
        if values is None:
            return cls()
        try:
            slope, intercept = float(values["slope"]), float(values["intercept"])
            ok = values.get("method") == "platt" and np.isfinite([slope, intercept]).all() and slope > 0
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise UsageError(source, f"calibration entry is not a Platt map with slope > 0: {str(values)[:80]}")
        return cls(slope, intercept)


IDENTITY = PlattCalibration()
"""The map that leaves ``p_af`` as the model gives it."""
