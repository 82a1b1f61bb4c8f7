"""Logistic regression by L-BFGS: the one fit behind the RR baseline's score and Platt calibration.

SciPy is imported only when a fit runs (training and calibration, never prediction).
"""

from __future__ import annotations

import numpy as np


def fit_logistic(
    z: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None, ridge: float = 0.0
) -> tuple[float, np.ndarray]:
    """Bias and weights minimising ``mean(w · log-loss) + ridge · |weights|²``, from zero by L-BFGS.

    Parameters
    ----------
    z : numpy.ndarray
        ``(n, k)`` predictors (standardise them first when a ridge is used).
    y : numpy.ndarray
        ``(n,)`` 0/1 truths.
    sample_weight : numpy.ndarray, optional
        ``(n,)`` weights of the windows' losses (default: all 1).
    ridge : float
        Penalty on the squared weights (the bias is not penalised).

    Returns
    -------
    bias : float
    weights : numpy.ndarray
        ``(k,)``.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> z = rng.normal(size=(4000, 1))
    >>> y = (rng.random(4000) < 1 / (1 + np.exp(-(2 * z[:, 0] - 1)))).astype(float)
    >>> bias, weights = fit_logistic(z, y)
    >>> round(bias, 1), round(float(weights[0]), 1)
    (-1.0, 2.0)
    """
    from scipy import optimize

    target = np.asarray(y, dtype=np.float64)
    w = np.ones(len(target)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        logit = z @ theta[1:] + theta[0]
        with np.errstate(over="ignore"):  # exp overflows to inf for very negative logits: p is then 0
            p = 1 / (1 + np.exp(-logit))
        value = np.mean(w * (np.logaddexp(0, logit) - target * logit)) + ridge * np.sum(theta[1:] ** 2)
        g = w * (p - target) / len(target)
        return value, np.concatenate([[g.sum()], z.T @ g + 2 * ridge * theta[1:]])

    theta = optimize.minimize(loss, np.zeros(z.shape[1] + 1), jac=True, method="L-BFGS-B").x
    return float(theta[0]), theta[1:]
