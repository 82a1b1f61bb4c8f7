"""Signal quality: flag windows that are flat, clipped or otherwise unreadable before scoring."""

from __future__ import annotations

import numpy as np

from afdetect.config import (
    CLIP_FRACTION,
    FLAT_STD_MV,
    MAX_INVALID_FRACTION,
)


def assess_quality(x: np.ndarray) -> str | None:
    """Say why a raw window (mV, NaN = invalid sample) cannot be judged, or ``None``.

    A window is unreadable when more than ``MAX_INVALID_FRACTION`` of its samples are
    invalid, its standard deviation is below ``FLAT_STD_MV`` (flat line, lead off), or more
    than ``CLIP_FRACTION`` of its samples sit at its extreme values (saturated amplifier).

    Example
    -------
    >>> assess_quality(np.zeros(3840))
    'flat'
    """
    valid = x[np.isfinite(x)]
    if len(valid) < (1 - MAX_INVALID_FRACTION) * len(x):
        return "invalid samples"
    return _flat_or_clipped(valid[None])[0]


def _flat_or_clipped(x: np.ndarray) -> list[str | None]:
    """The flat and clipped rules of :func:`assess_quality` for rows of finite samples ``(n, k)``."""
    flat = x.std(axis=1) < FLAT_STD_MV
    lo, hi = x.min(axis=1, keepdims=True), x.max(axis=1, keepdims=True)
    at_rails = np.count_nonzero(x <= lo, axis=1) + np.count_nonzero(x >= hi, axis=1)
    clipped = at_rails > CLIP_FRACTION * x.shape[1]
    return ["flat" if f else "clipped" if c else None for f, c in zip(flat, clipped, strict=True)]


def assess_windows(windows: np.ndarray, valid: np.ndarray) -> list[str | None]:
    """:func:`assess_quality` of every window of a batch, vectorised over the windows.

    Windows that are complete and hold no invalid sample (nearly all of a record) are judged
    together by the same rule function :func:`assess_quality` applies to one window, so the
    verdicts are identical; the others (padded tail, NaN) go through
    :func:`assess_quality` one by one.

    Parameters
    ----------
    windows : numpy.ndarray
        Raw windows ``(n, n_samples)`` in mV (NaN = invalid sample).
    valid : numpy.ndarray
        Real (unpadded) samples in each window.

    Returns
    -------
    list of str or None
        Per window, why it is unreadable, or ``None``.

    Example
    -------
    >>> assess_windows(np.zeros((2, 3840)), np.array([3840, 3840]))
    ['flat', 'flat']
    """
    n, length = windows.shape
    valid = np.asarray(valid)
    problems: list[str | None] = [None] * n
    whole = (valid == length) & np.isfinite(windows).all(axis=1)
    rows = np.flatnonzero(whole)
    if len(rows):
        for i, problem in zip(rows, _flat_or_clipped(windows[rows]), strict=True):
            problems[i] = problem
    for i in np.flatnonzero(~whole):
        problems[i] = assess_quality(windows[i, : valid[i]])
    return problems
