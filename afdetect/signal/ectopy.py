"""RR irregularity that survives ectopic beats: the rhythm half of the AF evidence.

Premature beats with a compensatory pause, bigeminy and trigeminy make the RR series of a
regular rhythm irregular; AF's irregularity has no such pattern. :func:`ectopic_intervals`
marks the intervals of ectopic short-long pairs and outliers so they can be left out,
:func:`rr_irregularity` measures a set of intervals (spread, successive differences,
entropy, Poincaré and Lorenz-plot shape), and :func:`ectopy_pattern` describes the ectopy
itself. :mod:`afdetect.signal.features` applies them to all, normal-to-normal and cleaned
intervals of each window.

Every function works on many windows at once: the RR intervals (s) of window ``i`` are row
``i`` of a :class:`~afdetect.signal.ragged.Rows`, and each statistic is an array over windows.
"""

from __future__ import annotations

import numpy as np

from afdetect.signal.ragged import Rows, row_median, sorted_quantile, valid_mask
from afdetect.signal.rr import sample_entropy_rows

MIN_BEATS: int = 4
"""Fewest beats (or intervals) a statistic is computed from; fewer give NaN."""

RUNNING_MEDIAN_BEATS: int = 7
"""Length (intervals) of the running median an interval is judged against."""
PREMATURE: float = 0.85
"""An interval shorter than this fraction of the running median is premature ..."""
PAUSE: float = 1.1
"""... and one longer than this multiple after it is its compensatory pause."""
REGULAR: float = 0.15
"""A premature interval between two intervals within this fraction of the running median is a
premature beat that reset the rhythm (a PAC)."""
OUTLIER: tuple[float, float] = (0.6, 1.6)
"""Intervals outside these multiples of the window's median are dropped as outliers."""
LORENZ_CELL_S: float = 0.025
"""Cell size (s) of the successive-difference (Lorenz) plot."""
HISTOGRAM_EDGES: np.ndarray = np.linspace(0.4, 2.0, 17)
"""Bins of the RR / median histogram whose entropy is ``hist_entropy``."""

RR_STATISTICS: tuple[str, ...] = (
    "n", "mean", "cv", "nrmssd", "mad", "pnn50", "pnn20", "tpr", "sd1sd2", "iqr", "sampen", "cosen", "lorenz",
)  # fmt: skip
"""Names of :func:`rr_irregularity`'s statistics (each prefixed by the interval set)."""

PATTERN_STATISTICS: tuple[str, ...] = (
    "within10", "hist_entropy", "max_min", "acf1", "acf2", "premature_frac", "pause_frac", "clusters",
)  # fmt: skip
"""Names of :func:`ectopy_pattern`'s statistics."""


def rr_irregularity(rr: Rows, drr: Rows) -> dict[str, np.ndarray]:
    """Irregularity statistics of one set of RR intervals per window.

    Parameters
    ----------
    rr : Rows
        RR intervals (s) of each window.
    drr : Rows
        Successive differences (s) between intervals that are adjacent in the beat series
        (computed by the caller, so that dropping ectopic intervals does not invent new
        neighbours).

    Returns
    -------
    dict of numpy.ndarray
        Per window: ``n`` intervals; ``mean`` RR (s); ``cv`` (SD / mean); ``nrmssd`` (RMS of
        ``drr`` / mean); ``mad`` (median ``|drr|`` / mean); ``pnn50``, ``pnn20`` (share of
        ``|drr|`` over 50 and 20 ms); ``tpr`` (turning-point ratio); ``sd1sd2`` (Poincaré SD1 /
        SD2); ``iqr`` (interquartile range / mean); ``sampen`` and ``cosen`` (sample entropy,
        and its coefficient after Lake & Moorman); ``lorenz`` (occupied ``LORENZ_CELL_S`` cells
        of the ``(drr_i, drr_i+1)`` plot per point, an AFEv-like dispersion). NaN when fewer
        than ``MIN_BEATS`` intervals or 3 differences.

    Example
    -------
    >>> rr = np.full(20, 0.8)
    >>> f = rr_irregularity(Rows.from_list([rr]), Rows.from_list([np.diff(rr)]))
    >>> round(float(f["mean"][0]), 6), float(f["nrmssd"][0]), float(f["tpr"][0])
    (0.8, 0.0, 0.0)
    """
    m, k = rr.count, drr.count
    ok = (m >= MIN_BEATS) & (k >= 3)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = rr.mean()
        variance = rr.std() ** 2
        d = drr.filled(0.0)
        size = Rows(np.abs(drr.values), k).sorted()
        sd1 = drr.std() / np.sqrt(2)
        ordered = rr.sorted()
        out = {
            "n": m.astype(np.float64),
            "mean": mean,
            "cv": np.sqrt(variance) / mean,
            "nrmssd": np.sqrt((d * d).sum(axis=1) / k) / mean,
            "mad": sorted_quantile(size, k, 0.5) / mean,
            "pnn50": ((size > 0.05) & drr.valid).sum(axis=1) / k,
            "pnn20": ((size > 0.02) & drr.valid).sum(axis=1) / k,
            "tpr": _turning_points(drr) / (k - 1),
            "sd1sd2": sd1 / np.sqrt(np.maximum(2 * variance - sd1**2, 1e-12)),
            "iqr": (sorted_quantile(ordered, m, 0.75) - sorted_quantile(ordered, m, 0.25)) / mean,
            "lorenz": _lorenz_dispersion(drr) / (k - 1),
        }
    entropy = np.flatnonzero(ok & (m > MIN_BEATS))
    sampen, r = sample_entropy_rows(Rows(rr.values[entropy], m[entropy]))
    out["sampen"] = np.full(len(m), np.nan)
    out["cosen"] = np.full(len(m), np.nan)
    out["sampen"][entropy] = sampen
    out["cosen"][entropy] = sampen + np.log(2 * r) - np.log(mean[entropy])
    for name in RR_STATISTICS[1:]:
        out[name] = np.where(ok, out[name], np.nan)
    return {name: out[name] for name in RR_STATISTICS}


def _turning_points(drr: Rows) -> np.ndarray:
    """Sign changes between successive differences, per row."""
    d = drr.values
    pairs = valid_mask(drr.count - 1, d.shape[1] - 1)
    return ((d[:, :-1] * d[:, 1:] < 0) & pairs).sum(axis=1)


def _lorenz_dispersion(drr: Rows) -> np.ndarray:
    """Distinct occupied cells of the successive-difference (Lorenz) plot, per row."""
    cells = np.clip(np.round(drr.values / LORENZ_CELL_S), -20, 20)
    if cells.shape[1] < 2:
        return np.zeros(len(drr.count))
    codes = Rows(cells[:, :-1] * 100 + cells[:, 1:], np.maximum(drr.count - 1, 0))
    ordered = codes.sorted()
    steps = valid_mask(codes.count - 1, ordered.shape[1] - 1)
    return np.where(codes.count > 0, 1 + ((np.diff(ordered, axis=1) != 0) & steps).sum(axis=1), 0)


def running_median(rr: Rows, k: int = RUNNING_MEDIAN_BEATS) -> np.ndarray:
    """Centred running median of length ``k`` along each row (edges padded with the row's median).

    Rows shorter than ``k`` get their median everywhere. Returns ``(n, width)``.

    Example
    -------
    >>> running_median(Rows.from_list([np.array([1.0, 1.0, 5.0, 1.0, 1.0])]), 3).tolist()
    [[1.0, 1.0, 1.0, 1.0, 1.0]]
    """
    median = row_median(rr)
    half = k // 2
    padded = np.repeat(median[:, None], rr.values.shape[1] + 2 * half, axis=1)
    padded[:, half:-half] = np.where(rr.valid, rr.values, median[:, None])
    windows = np.lib.stride_tricks.sliding_window_view(padded, k, axis=1)
    running = np.sort(windows, axis=2)[:, :, half]
    return np.where((rr.count < k)[:, None], median[:, None], running)


def ectopic_intervals(rr: Rows) -> np.ndarray:
    """Mask ``(n, width)`` of intervals that belong to an ectopic beat or are outliers.

    Three patterns are marked:

    * a premature interval (below ``PREMATURE`` × the running median) followed by a
      compensatory one (above ``PAUSE`` ×), both: a PVC, or a PAC with a pause;
    * a premature interval between two regular ones (within ``REGULAR`` of the running
      median): a PAC that reset the sinus node, whose next interval is about one ordinary
      cycle, so no pause follows; in AF, where successive intervals are independent, few short
      intervals sit between two regular ones;
    * intervals outside ``OUTLIER`` × the window median.

    Padding is never marked.

    Example
    -------
    >>> pvc = [0.8, 0.8, 0.5, 1.1, 0.8, 0.8, 0.8]  # premature, compensatory pause
    >>> pac = [0.8, 0.8, 0.6, 0.84, 0.8, 0.8, 0.8]  # premature, reset: an ordinary cycle follows
    >>> ectopic_intervals(Rows.from_list([np.array(pvc), np.array(pac)])).astype(int).tolist()
    [[0, 0, 1, 1, 0, 0, 0], [0, 0, 1, 0, 0, 0, 0]]
    """
    v, valid = rr.values, rr.valid
    med = running_median(rr)
    with np.errstate(invalid="ignore"):
        premature = (v < PREMATURE * med) & valid
        regular = (np.abs(v - med) <= REGULAR * med) & valid
        pair = premature[:, :-1] & (v[:, 1:] > PAUSE * med[:, 1:]) & valid[:, 1:]
        mask = np.zeros(v.shape, dtype=bool)
        mask[:, :-1] |= pair
        mask[:, 1:] |= pair
        mask[:, 1:-1] |= premature[:, 1:-1] & regular[:, :-2] & regular[:, 2:]
        overall = row_median(rr)[:, None]
        return (mask | (v < OUTLIER[0] * overall) | (v > OUTLIER[1] * overall)) & valid


def ectopy_pattern(rr: Rows) -> dict[str, np.ndarray]:
    """Shape of the RR series beyond its spread: ectopy, bigeminy, clusters (per window).

    Returns ``within10`` (share of intervals within 10 % of the median), ``hist_entropy``
    (entropy of the RR / median histogram over ``HISTOGRAM_EDGES``), ``max_min`` (longest /
    shortest interval), ``acf1`` and ``acf2`` (RR autocorrelation at lags 1 and 2: bigeminy
    is strongly negative at lag 1, AF near 0), ``premature_frac`` (share of premature
    intervals), ``pause_frac`` (share of those followed by a compensatory pause) and
    ``clusters`` (groups of RR / median values more than 0.08 apart). NaN for windows with
    fewer than ``MIN_BEATS`` intervals.

    Example
    -------
    >>> round(float(ectopy_pattern(Rows.from_list([np.tile([0.6, 1.0], 10)]))["acf1"][0]), 2)  # bigeminy
    -0.95
    """
    v, valid, m = rr.values, rr.valid, rr.count
    with np.errstate(invalid="ignore", divide="ignore"):
        med = row_median(rr)[:, None]
        centred = np.where(valid, v - rr.mean()[:, None], 0.0)
        power = np.maximum((centred * centred).sum(axis=1), 1e-12)
        premature = (v < PREMATURE * med) & valid
        follows = premature[:, :-1] & valid[:, 1:]
        ratio = Rows(v / med, m)
        out = {
            "within10": ((np.abs(v - med) < 0.1 * med) & valid).sum(axis=1) / m,
            "hist_entropy": _histogram_entropy(ratio),
            "max_min": rr.filled(-np.inf).max(axis=1) / np.maximum(rr.filled(np.inf).min(axis=1), 1e-3),
            "acf1": (centred[:, :-1] * centred[:, 1:]).sum(axis=1) / power,
            "acf2": (centred[:, :-2] * centred[:, 2:]).sum(axis=1) / power,
            "premature_frac": premature.sum(axis=1) / m,
            "pause_frac": _pause_share(v, med, follows),
            "clusters": 1.0 + ((np.diff(ratio.sorted(), axis=1) > 0.08) & valid[:, 1:]).sum(axis=1),
        }
    return {name: np.where(m >= MIN_BEATS, out[name], np.nan) for name in PATTERN_STATISTICS}


def _pause_share(v: np.ndarray, med: np.ndarray, follows: np.ndarray) -> np.ndarray:
    """Share of premature intervals followed by a compensatory pause (0 when none is premature)."""
    paused = (follows & (v[:, 1:] > PAUSE * med)).sum(axis=1)
    n = follows.sum(axis=1)
    return np.where(n > 0, paused / np.maximum(n, 1), 0.0)


def _histogram_entropy(ratio: Rows) -> np.ndarray:
    """Entropy of each row's histogram over ``HISTOGRAM_EDGES`` (``numpy.histogram``'s bins)."""
    n_bins = len(HISTOGRAM_EDGES) - 1
    v = ratio.values
    index = np.searchsorted(HISTOGRAM_EDGES, v, side="right") - 1
    index = np.where(v == HISTOGRAM_EDGES[-1], n_bins - 1, index)
    inside = ratio.valid & (index >= 0) & (index < n_bins)
    rows = np.broadcast_to(np.arange(len(v))[:, None], v.shape)
    counts = np.zeros((len(v), n_bins))
    np.add.at(counts, (rows[inside], index[inside]), 1.0)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(counts > 0, share * np.log(share), 0.0)
    return -terms.sum(axis=1)
