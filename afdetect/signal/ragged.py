"""Ragged rows: per-window series of different lengths (beats, RR intervals) as one padded array.

Features of many windows are computed at once over a ``(n_windows, width)`` array whose row
``i`` holds ``count[i]`` values packed to the left (the rest is padding, never read as data).
Row-wise statistics then cost a few NumPy calls per chunk of windows instead of a few per
window. The functions here give, row by row, what the usual NumPy call gives on the row's
values alone (``numpy.median``, ``numpy.quantile``'s linear interpolation, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rows:
    """``values[i, :count[i]]`` are row ``i``'s values (float64); the rest is padding.

    Example
    -------
    >>> rows = Rows.from_list([np.array([3.0, 1.0]), np.array([2.0])])
    >>> rows.values.shape, rows.count.tolist(), row_median(rows).tolist()
    ((2, 2), [2, 1], [2.0, 2.0])
    """

    values: np.ndarray
    count: np.ndarray

    @classmethod
    def from_list(cls, arrays: list[np.ndarray], width: int | None = None) -> Rows:
        """Pack 1-D arrays into rows, at least ``width`` wide (default: the longest)."""
        count = np.array([len(a) for a in arrays], dtype=np.int64)
        width = max(int(count.max(initial=0)), width or 0, 1)
        values = np.zeros((len(arrays), width))
        values[valid_mask(count, width)] = np.concatenate(arrays) if len(arrays) else []
        return cls(values, count)

    @property
    def valid(self) -> np.ndarray:
        """bool ``(n, width)``: which entries are data."""
        return valid_mask(self.count, self.values.shape[1])

    def select(self, keep: np.ndarray) -> Rows:
        """The entries where ``keep`` (bool, the shape of ``values``) holds, packed to the left, in order."""
        keep = keep & self.valid
        order = np.argsort(~keep, axis=1, kind="stable")
        return Rows(np.take_along_axis(self.values, order, axis=1), keep.sum(axis=1))

    def diff(self) -> Rows:
        """Successive differences within each row (``count - 1`` of them, at least 0)."""
        width = max(self.values.shape[1] - 1, 1)
        values = np.zeros((len(self.count), width))
        values[:, : self.values.shape[1] - 1] = np.diff(self.values, axis=1)
        return Rows(values, np.maximum(self.count - 1, 0))

    def filled(self, fill: float) -> np.ndarray:
        """``values`` with the padding set to ``fill``."""
        return np.where(self.valid, self.values, fill)

    def sum(self) -> np.ndarray:
        """Sum of each row's values (0 for an empty row)."""
        return self.filled(0.0).sum(axis=1)

    def mean(self) -> np.ndarray:
        """Mean of each row's values (NaN for an empty row)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return self.sum() / self.count

    def std(self) -> np.ndarray:
        """Population standard deviation of each row's values (NaN for an empty row)."""
        return masked_std(self.values, self.valid)

    def sorted(self) -> np.ndarray:
        """Each row's values ascending, padding (``+inf``) after them."""
        return np.sort(self.filled(np.inf), axis=1)


def valid_mask(count: np.ndarray, width: int) -> np.ndarray:
    """bool ``(n, width)``: ``True`` in the first ``count[i]`` entries of row ``i``."""
    return np.arange(width) < np.asarray(count)[:, None]


def sorted_quantile(ordered: np.ndarray, count: np.ndarray, q: float) -> np.ndarray:
    """Quantile ``q`` of each row's first ``count`` values, sorted ascending along the last axis.

    Linear interpolation between order statistics (``numpy.quantile``'s default); NaN for an
    empty row. ``ordered`` is ``(n, width)``, e.g. :meth:`Rows.sorted`.

    Example
    -------
    >>> sorted_quantile(np.array([[1.0, 2.0, 4.0, np.inf]]), np.array([3]), 0.75).tolist()
    [3.0]
    """
    count = np.asarray(count)
    position = q * np.maximum(count - 1, 0)
    low = position.astype(np.int64)
    high = np.minimum(low + 1, np.maximum(count - 1, 0))
    lo = np.take_along_axis(ordered, low[:, None], axis=1)[:, 0]
    hi = np.take_along_axis(ordered, high[:, None], axis=1)[:, 0]
    with np.errstate(invalid="ignore"):
        out = lo + (position - low) * (hi - lo)
    return np.where(count > 0, out, np.nan)


def row_median(rows: Rows) -> np.ndarray:
    """Median of each row's values, as ``numpy.median`` of the row (NaN for an empty row)."""
    return sorted_median(rows.sorted(), rows.count)


def sorted_median(ordered: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Median of each row's first ``count`` values, sorted ascending along axis 1.

    ``ordered`` is ``(n, width)`` or ``(n, width, k)`` (``k`` medians per row at once, e.g. a
    beat template sample by sample). Even counts average the two middle values, as
    ``numpy.median`` does.

    Example
    -------
    >>> sorted_median(np.array([[1.0, 2.0, 4.0, 8.0]]), np.array([4])).tolist()
    [3.0]
    """
    count = np.asarray(count)
    shape = (-1, 1) + (1,) * (ordered.ndim - 2)
    low = np.maximum((count - 1) // 2, 0).reshape(shape)
    high = np.maximum(count // 2, 0).reshape(shape)
    high = np.minimum(high, ordered.shape[1] - 1)
    a = np.take_along_axis(ordered, low, axis=1)[:, 0]
    b = np.take_along_axis(ordered, high, axis=1)[:, 0]
    with np.errstate(invalid="ignore"):
        median = (a + b) / 2
    empty = (count == 0).reshape((-1,) + (1,) * (ordered.ndim - 2))
    return np.where(empty, np.nan, median)


def masked_median(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Median along axis 1 of the entries where ``valid`` (bool ``(n, width)``) holds.

    ``values`` is ``(n, width)`` or ``(n, width, k)``; the result is ``(n,)`` or ``(n, k)``,
    NaN where a row has no valid entry.

    Example
    -------
    >>> masked_median(np.array([[5.0, 1.0, 9.0]]), np.array([[True, True, False]])).tolist()
    [3.0]
    """
    fill = valid if values.ndim == 2 else valid[:, :, None]
    ordered = np.sort(np.where(fill, values, np.inf), axis=1)
    return sorted_median(ordered, valid.sum(axis=1))


def masked_std(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Population standard deviation along axis 1 of the entries where ``valid`` holds (NaN if none).

    Example
    -------
    >>> masked_std(np.array([[1.0, 3.0, 100.0]]), np.array([[True, True, False]])).tolist()
    [1.0]
    """
    count = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(valid, values, 0.0).sum(axis=1) / count
        centred = np.where(valid, values - mean[:, None], 0.0)
        return np.sqrt((centred * centred).sum(axis=1) / count)


def gather_snippets(x: np.ndarray, positions: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """``x[i, positions[i, j] + lo .. + hi]`` for every row ``i`` and position ``j``.

    Samples outside ``0 .. x.shape[1] - 1`` are clipped to the edge (callers mask such
    snippets out). Returns ``(n, width, hi - lo + 1)``.

    Example
    -------
    >>> gather_snippets(np.arange(10.0)[None], np.array([[2, 5]]), -1, 1).tolist()
    [[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]
    """
    index = np.clip(positions[:, :, None] + np.arange(lo, hi + 1), 0, x.shape[1] - 1)
    rows = np.arange(len(x))[:, None, None]
    return x[rows, index]
