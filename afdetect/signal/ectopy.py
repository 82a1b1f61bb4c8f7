"""RR irregularity that survives ectopic beats: the rhythm half of the AF evidence.

Premature beats with a compensatory pause, bigeminy and trigeminy make the RR series of a
regular rhythm irregular; AF's irregularity has no such pattern. :func:`ectopic_intervals`
marks the intervals of ectopic short-long pairs and outliers so they can be left out,
:func:`rr_irregularity` measures a set of intervals (spread, successive differences,
entropy, Poincaré and Lorenz-plot shape), and :func:`ectopy_pattern` describes the ectopy
itself. :mod:`afdetect.signal.features` applies them to all, normal-to-normal and cleaned
intervals of each window.
"""

from __future__ import annotations

import math

import numpy as np

from afdetect.signal.rr import sample_entropy_rr

MIN_BEATS: int = 4
"""Fewest beats (or intervals) a statistic is computed from; fewer give NaN."""

RUNNING_MEDIAN_BEATS: int = 7
"""Length (intervals) of the running median an interval is judged against."""
PREMATURE: float = 0.85
"""An interval shorter than this fraction of the running median is premature ..."""
PAUSE: float = 1.1
"""... and one longer than this multiple after it is its compensatory pause."""
OUTLIER: tuple[float, float] = (0.6, 1.6)
"""Intervals outside these multiples of the window's median are dropped as outliers."""

RR_STATISTICS: tuple[str, ...] = (
    "n", "mean", "cv", "nrmssd", "mad", "pnn50", "pnn20", "tpr", "sd1sd2", "iqr", "sampen", "cosen", "lorenz",
)  # fmt: skip
"""Names of :func:`rr_irregularity`'s statistics (each prefixed by the interval set)."""


def rr_irregularity(rr: np.ndarray, drr: np.ndarray) -> dict[str, float]:
    """Irregularity statistics of one set of RR intervals.

    Parameters
    ----------
    rr : numpy.ndarray
        RR intervals (s).
    drr : numpy.ndarray
        Successive differences (s) between intervals that are adjacent in the beat series
        (computed by the caller, so that dropping ectopic intervals does not invent new
        neighbours).

    Returns
    -------
    dict
        ``n`` intervals; ``mean`` RR (s); ``cv`` (SD / mean); ``nrmssd`` (RMS of ``drr`` / mean);
        ``mad`` (median ``|drr|`` / mean); ``pnn50``, ``pnn20`` (share of ``|drr|`` over 50 and
        20 ms); ``tpr`` (turning-point ratio); ``sd1sd2`` (Poincaré SD1 / SD2); ``iqr``
        (interquartile range / mean); ``sampen`` and ``cosen`` (sample entropy, and its
        coefficient after Lake & Moorman); ``lorenz`` (occupied 25 ms cells of the
        ``(drr_i, drr_i+1)`` plot per point, an AFEv-like dispersion). NaN when fewer than
        ``MIN_BEATS`` intervals or 3 differences.

    Example
    -------
    >>> rr = np.full(20, 0.8)
    >>> f = rr_irregularity(rr, np.diff(rr))
    >>> round(f["mean"], 6), f["nrmssd"], f["tpr"]
    (0.8, 0.0, 0.0)
    """
    out = dict.fromkeys(RR_STATISTICS, math.nan)
    out["n"] = float(len(rr))
    if len(rr) < MIN_BEATS or len(drr) < 3:
        return out
    mean = float(rr.mean())
    variance = float(rr.var())
    size = np.sort(np.abs(drr))
    sd1 = float(np.std(drr)) / math.sqrt(2)
    out.update(
        mean=mean,
        cv=math.sqrt(variance) / mean,
        nrmssd=math.sqrt(float(drr @ drr) / len(drr)) / mean,
        mad=_quantile(size, 0.5) / mean,
        pnn50=float(np.count_nonzero(size > 0.05)) / len(size),
        pnn20=float(np.count_nonzero(size > 0.02)) / len(size),
        tpr=float(np.count_nonzero(drr[:-1] * drr[1:] < 0)) / (len(drr) - 1),
        sd1sd2=sd1 / math.sqrt(max(2 * variance - sd1**2, 1e-12)),
        iqr=(_quantile(np.sort(rr), 0.75) - _quantile(np.sort(rr), 0.25)) / mean,
        lorenz=_lorenz_dispersion(drr),
    )
    if len(rr) > MIN_BEATS:
        sampen, r = sample_entropy_rr(rr)
        out["sampen"] = sampen
        out["cosen"] = sampen + math.log(2 * r) - math.log(mean) if math.isfinite(sampen) else math.nan
    return out


def _quantile(ordered: np.ndarray, q: float) -> float:
    """Quantile ``q`` of ascending values, interpolated linearly (``numpy.quantile``'s default)."""
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (position - low) * (ordered[high] - ordered[low]))


def _lorenz_dispersion(drr: np.ndarray, cell_s: float = 0.025) -> float:
    """Occupied cells of the successive-difference (Lorenz) plot per point."""
    cells = np.clip(np.round(drr / cell_s), -20, 20)
    return float(len(np.unique(cells[:-1] * 100 + cells[1:]))) / (len(drr) - 1)


def running_median(x: np.ndarray, k: int = RUNNING_MEDIAN_BEATS) -> np.ndarray:
    """Centred running median of length ``k`` (edges padded with the median of ``x``).

    Example
    -------
    >>> running_median(np.array([1.0, 1.0, 5.0, 1.0, 1.0]), 3).tolist()
    [1.0, 1.0, 1.0, 1.0, 1.0]
    """
    if len(x) < k:
        return np.full(len(x), np.median(x))
    padded = np.pad(x, k // 2, constant_values=np.median(x))
    return np.median(padded[np.arange(len(x))[:, None] + np.arange(k)], axis=1)


def ectopic_intervals(rr: np.ndarray) -> np.ndarray:
    """Mask of intervals that belong to an ectopic short-long pair or are outliers.

    A premature interval (below ``PREMATURE`` × the running median) followed by a
    compensatory one (above ``PAUSE`` ×) marks both; intervals outside ``OUTLIER`` × the
    window median are marked too.

    Example
    -------
    >>> ectopic_intervals(np.array([0.8, 0.8, 0.5, 1.1, 0.8, 0.8, 0.8])).tolist()
    [False, False, True, True, False, False, False]
    """
    med = running_median(rr)
    pair = (rr[:-1] < PREMATURE * med[:-1]) & (rr[1:] > PAUSE * med[1:])
    mask = np.zeros(len(rr), dtype=bool)
    mask[:-1] |= pair
    mask[1:] |= pair
    overall = np.median(rr)
    return mask | (rr < OUTLIER[0] * overall) | (rr > OUTLIER[1] * overall)


def ectopy_pattern(rr: np.ndarray) -> dict[str, float]:
    """Shape of the RR series beyond its spread: ectopy, bigeminy, clusters.

    Returns ``within10`` (share of intervals within 10 % of the median), ``hist_entropy``
    (entropy of the RR / median histogram, 0.1-wide bins over 0.4-2), ``max_min`` (longest /
    shortest interval), ``acf1`` and ``acf2`` (RR autocorrelation at lags 1 and 2: bigeminy
    is strongly negative at lag 1, AF near 0), ``premature_frac`` (share of premature
    intervals), ``pause_frac`` (share of those followed by a compensatory pause) and
    ``clusters`` (groups of RR / median values more than 0.08 apart).

    Example
    -------
    >>> round(ectopy_pattern(np.tile([0.6, 1.0], 10))["acf1"], 2)  # bigeminy
    -0.95
    """
    names = ("within10", "hist_entropy", "max_min", "acf1", "acf2", "premature_frac", "pause_frac", "clusters")
    out = dict.fromkeys(names, math.nan)
    if len(rr) < MIN_BEATS:
        return out
    med = float(np.median(rr))
    counts, _ = np.histogram(rr / med, bins=np.linspace(0.4, 2.0, 17))
    share = counts[counts > 0] / max(counts.sum(), 1)
    centred = rr - rr.mean()
    power = max(float(centred @ centred), 1e-12)
    premature = rr < PREMATURE * med
    follows = rr[1:][premature[:-1]]
    out.update(
        within10=float(np.mean(np.abs(rr - med) < 0.1 * med)),
        hist_entropy=float(-(share * np.log(share)).sum()),
        max_min=float(rr.max() / max(rr.min(), 1e-3)),
        acf1=float(centred[:-1] @ centred[1:]) / power,
        acf2=float(centred[:-2] @ centred[2:]) / power,
        premature_frac=float(premature.mean()),
        pause_frac=float(np.mean(follows > PAUSE * med)) if len(follows) else 0.0,
        clusters=float(1 + np.count_nonzero(np.diff(np.sort(rr / med)) > 0.08)),
    )
    return out
