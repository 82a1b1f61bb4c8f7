"""Atrial activity of a chunk of windows, from their aligned beats: the P waves of sinus rhythm,
or their absence and the fibrillatory waves of AF.

In sinus rhythm every beat carries the same P wave at the same distance before its R peak. So:

* the P regions average into a clear template and each beat correlates with it
  (:func:`p_wave_evidence`);
* any two beats' P regions look alike, and so do the templates of the odd and of the even beats
  (:func:`p_wave_consistency`). In AF the P regions hold fibrillatory waves, unrelated from beat
  to beat: neighbours do not correlate, and two half-templates are two averages of noise.
  Averaging over half the beats keeps the split-half test working on noisy strips, where single
  beats say little.

The residual after cancelling the average QRST complex keeps the fibrillatory waves
(:func:`atrial_residual`). All functions take :class:`~afdetect.signal.snippets.Beats` and
return one float per window, NaN where too few beats fit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from afdetect.signal.ectopy import MIN_BEATS
from afdetect.signal.ragged import Rows, masked_median, masked_std, sorted_quantile
from afdetect.signal.snippets import QRS_HALF_S, Beats, region_samples, row_correlation, where_defined

P_REGION_S: tuple[float, float] = (-0.30, -0.08)
"""Where a P wave lies relative to its R peak (s)."""
P_NEAR_REGION_S: tuple[float, float] = (-0.25, -0.06)
"""A shorter P region, nearer the QRS (s from R): less of the previous T wave at fast rates."""
TQ_REGION_S: tuple[float, float] = (-0.45, -0.06)
"""The atrial stretch before R (s) that :func:`p_wave_consistency` compares where the preceding RR
interval is long enough to hold it after the previous beat's ``BEAT_SPAN_S``."""
BEAT_SPAN_S: tuple[float, float] = (-0.30, 0.45)
"""The QRST complex cancelled to expose atrial activity (s from R)."""
F_WAVE_HZ: tuple[float, float] = (4.0, 9.0)
"""Band of fibrillatory waves (Hz)."""
PRESENT_CORR: float = 0.5
"""Two P regions (or a P region and the template) that correlate above this show the same P wave."""
SPLIT_MIN_BEATS: int = 3
"""Fewest beats in each half (odd, even) of a split-half template, and fewest neighbour pairs."""


def atrial_beats(beats: Beats, normal: np.ndarray) -> np.ndarray:
    """The beats atrial activity is read from: the normal ones, or all where fewer than ``MIN_BEATS`` are."""
    return np.where((normal.sum(axis=1) >= MIN_BEATS)[:, None], normal, beats.valid)


def beat_regions(
    beats: Beats, region_s: tuple[float, float], among: np.ndarray, fs: float
) -> tuple[np.ndarray, np.ndarray]:
    """The signal ``region_s`` (s from R) around every beat ``(n, beats, samples)`` and which of the
    ``among`` beats hold all of it."""
    lo, hi = region_samples(region_s, fs)
    return beats.around(lo, hi), beats.fits(lo, hi, among=among)


def qrs_amplitude(beats: Beats, amplitude: np.ndarray, among: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Median QRS peak-to-peak amplitude of the ``among`` beats per window (floored at 1e-9), and
    whether any of them has a whole QRS."""
    fits = beats.fits(*region_samples((-QRS_HALF_S, QRS_HALF_S), fs), among=among)
    return np.maximum(np.nan_to_num(masked_median(amplitude, fits)), 1e-9), fits.any(axis=1)


@dataclass(frozen=True)
class PRegions:
    """The P regions (``P_REGION_S``) of the beats :func:`atrial_beats` picks, read once for both
    :func:`p_wave_evidence` and :func:`p_wave_consistency`: ``centred`` ``(n, beats, samples)``,
    each less its mean, ``fits`` (which of those beats hold the whole region), ``use`` (the beats
    picked), ``qrs_amp`` and ``has_qrs`` (:func:`qrs_amplitude` of those beats)."""

    centred: np.ndarray
    fits: np.ndarray
    use: np.ndarray
    qrs_amp: np.ndarray
    has_qrs: np.ndarray

    @classmethod
    def of(cls, beats: Beats, normal: np.ndarray, amplitude: np.ndarray, fs: float) -> PRegions:
        """The P regions of ``beats`` given which are ``normal`` and their QRS ``amplitude``."""
        use = atrial_beats(beats, normal)
        regions, fits = beat_regions(beats, P_REGION_S, use, fs)
        return cls(regions - regions.mean(axis=2, keepdims=True), fits, use, *qrs_amplitude(beats, amplitude, use, fs))


def p_wave_evidence(beats: Beats, p: PRegions, fs: float) -> dict[str, np.ndarray]:
    """P-wave evidence from the beats' P regions (``P_REGION_S`` before each R peak), per window.

    The P regions of the normal beats (all beats when fewer than ``MIN_BEATS`` are normal),
    each with its mean removed (``p``, :class:`PRegions`), are compared with their sample-wise
    median (the P template).

    Returns
    -------
    dict of numpy.ndarray
        ``p_amp`` (template peak-to-peak / median QRS peak-to-peak), ``p_snr`` (template
        peak-to-peak / mean absolute deviation of the beats from it), ``p_corr`` (median
        correlation of each beat's P region with the template), ``p_present`` (share of beats
        correlating above 0.5), ``p_pos_sd`` (SD of where each beat's P region peaks, s),
        ``p_peak_pos`` (where the template peaks, s after the region starts) and ``p_energy``
        (mean square of the P regions / squared QRS amplitude).
    """
    regions, fits, qrs_amp = p.centred, p.fits, p.qrs_amp
    n_fit = fits.sum(axis=1)
    ok = (n_fit >= MIN_BEATS) & p.has_qrs
    template = np.nan_to_num(masked_median(regions, fits))
    corr = row_correlation(regions, template)
    samples = np.maximum(n_fit, 1) * regions.shape[2]
    spread = (np.abs(regions - template[:, None]) * fits[:, :, None]).sum(axis=(1, 2)) / samples + 1e-9
    peak_at = Rows(np.argmax(np.abs(regions), axis=2).astype(np.float64), beats.count)
    features = {
        "p_amp": np.ptp(template, axis=1) / qrs_amp,
        "p_snr": np.ptp(template, axis=1) / spread,
        "p_corr": masked_median(corr, fits),
        "p_present": ((corr > 0.5) & fits).sum(axis=1) / np.maximum(n_fit, 1),
        "p_pos_sd": peak_at.select(fits).std() / fs,
        "p_peak_pos": np.argmax(np.abs(template), axis=1) / fs,
        "p_energy": (regions**2 * fits[:, :, None]).sum(axis=(1, 2)) / samples / qrs_amp**2,
    }
    return where_defined(ok, features)


def atrial_residual(x: np.ndarray, beats: Beats, fs: float) -> dict[str, np.ndarray]:
    """Atrial activity left after cancelling the median QRST complex at every beat, per window.

    The residual is taken from the first to the last cancelled sample, Hann-windowed and
    transformed on the window's own grid (zero-padded to the window length), so every window's
    spectrum has the same frequency resolution.

    Returns
    -------
    dict of numpy.ndarray
        ``res_ratio`` (residual SD / signal SD over the cancelled span), ``res_af_band``
        (share of the residual's 1-30 Hz power in ``F_WAVE_HZ``), ``res_dominant_hz``
        (dominant residual frequency in 3-12 Hz) and ``res_entropy`` (normalised spectral
        entropy of the residual over 1-30 Hz); NaN in windows with fewer than ``MIN_BEATS``
        whole QRST complexes.
    """
    lo, hi = region_samples(BEAT_SPAN_S, fs)
    fits = beats.fits(lo, hi)
    ok = fits.sum(axis=1) >= MIN_BEATS
    template = np.nan_to_num(masked_median(beats.around(lo, hi), fits))
    residual = x - _cancellation(beats, fits & ok[:, None], template, (lo, hi), x.shape[1])
    first = np.where(fits, beats.positions, x.shape[1]).min(axis=1) + lo
    size = np.where(fits, beats.positions, 0).max(axis=1) + hi + 1 - first
    offset = np.arange(x.shape[1]) - first[:, None]
    inside = (offset >= 0) & (offset < size[:, None])
    with np.errstate(invalid="ignore", divide="ignore"):
        hann = 0.5 - 0.5 * np.cos(2 * np.pi * offset / np.maximum(size - 1, 1)[:, None])
        features = _residual_spectrum(np.where(inside, residual * hann, 0.0), fs)
        features["res_ratio"] = masked_std(residual, inside) / np.maximum(masked_std(x, inside), 1e-9)
    names = ("res_ratio", "res_af_band", "res_dominant_hz", "res_entropy")
    return where_defined(ok, {name: features[name] for name in names})


def _cancellation(
    beats: Beats, use: np.ndarray, template: np.ndarray, span: tuple[int, int], samples: int
) -> np.ndarray:
    """Each window's QRST ``template`` laid at its ``use``d beats, ``(n, samples)``.

    Where two beats' spans (``span`` samples around R) overlap, the later beat's template counts.
    """
    lo, hi = span
    start = np.full((len(use), samples), -1, dtype=np.int64)
    row, beat = np.nonzero(use)
    start[row, beats.positions[row, beat] + lo] = beat
    latest = np.maximum.accumulate(start, axis=1)  # the last beat whose span starts at or before t
    at = np.take_along_axis(beats.positions, np.maximum(latest, 0), axis=1)
    offset = np.arange(samples) - at - lo
    covered = (latest >= 0) & (offset <= hi - lo)
    laid = np.take_along_axis(template, np.clip(offset, 0, hi - lo), axis=1)
    return np.where(covered, laid, 0.0)


def _residual_spectrum(tapered: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """``res_af_band``, ``res_dominant_hz`` and ``res_entropy`` of tapered residuals ``(n, samples)``."""
    spectrum = np.fft.rfft(tapered, axis=1)
    power = spectrum.real**2 + spectrum.imag**2
    freqs = np.fft.rfftfreq(tapered.shape[1], 1 / fs)
    band = (freqs >= 1) & (freqs <= 30)
    total = power[:, band].sum(axis=1) + 1e-12
    f_band = (freqs >= F_WAVE_HZ[0]) & (freqs <= F_WAVE_HZ[1])
    search = (freqs >= 3) & (freqs <= 12)
    share = power[:, band] / total[:, None]
    return {
        "res_af_band": power[:, f_band].sum(axis=1) / total,
        "res_dominant_hz": freqs[search][np.argmax(power[:, search], axis=1)],
        "res_entropy": -(share * np.log(share + 1e-12)).sum(axis=1) / math.log(int(band.sum())),
    }


def p_wave_consistency(beats: Beats, p: PRegions, fs: float) -> dict[str, np.ndarray]:
    """How alike the atrial stretches of a window's beats are: one P wave repeated, or none.

    Measured over the P region (``p_``, ``P_REGION_S``) and a shorter one nearer the QRS (``pn_``,
    ``P_NEAR_REGION_S``), on the beats :func:`atrial_beats` picks.

    Returns
    -------
    dict of numpy.ndarray
        Per region: ``split`` (correlation of the mean odd-beat and mean even-beat regions),
        ``consec`` (median correlation of neighbouring beats' regions), ``dsplit``, ``dcorr`` and
        ``damp`` (split-half correlation, median correlation with the template, and template
        peak-to-peak / QRS amplitude, each after removing every region's linear trend, the tilt
        a T wave or baseline gives it). For the P region also ``p_consec2`` (beats two apart),
        ``p_consec_frac`` (share of neighbours correlating above ``PRESENT_CORR``),
        ``p_consec_q25`` (their lower quartile) and ``p_consec_all`` (neighbours among all beats).
        ``beat_split`` (split-half correlation of the whole beat, ``BEAT_SPAN_S``) and
        ``qrs_consec`` (neighbours' QRS correlation) tell noise apart. ``tq_consec`` and
        ``tq_split`` compare the longer stretch ``TQ_REGION_S`` of beats after an RR interval that
        holds it.
    """
    use, qrs_amp = p.use, p.qrs_amp
    p_corr = lagged_correlation(p.centred, 1)
    near, near_fits = beat_regions(beats, P_NEAR_REGION_S, use, fs)
    near = near - near.mean(axis=2, keepdims=True)
    whole, whole_fits = beat_regions(beats, BEAT_SPAN_S, use, fs)
    qrs, qrs_fits = beat_regions(beats, (-QRS_HALF_S, QRS_HALF_S), beats.valid, fs)
    return {
        **_template_consistency(p.centred, p.fits, p_corr, qrs_amp, "p"),
        **_template_consistency(near, near_fits, lagged_correlation(near, 1), qrs_amp, "pn"),
        **_neighbour_spread(p.centred, p.fits, p_corr, beats.fits(*region_samples(P_REGION_S, fs))),
        "beat_split": split_half_correlation(whole, whole_fits),
        "qrs_consec": _median_over(*neighbour_correlation(qrs, qrs_fits, 1)),
        **_tq_consistency(beats, use, fs),
    }


def _neighbour_spread(
    centred: np.ndarray, fits: np.ndarray, corr: np.ndarray, all_fits: np.ndarray
) -> dict[str, np.ndarray]:
    """``p_consec2``, ``p_consec_frac``, ``p_consec_q25`` and ``p_consec_all`` of the P regions
    (``centred``, each less its mean; ``corr``: neighbours' correlation)."""
    pairs = fits[:, :-1] & fits[:, 1:]
    n_pairs = pairs.sum(axis=1)
    ok = n_pairs >= SPLIT_MIN_BEATS
    return {
        "p_consec2": _median_over(lagged_correlation(centred, 2), fits[:, :-2] & fits[:, 2:]),
        "p_consec_frac": np.where(ok, ((corr > PRESENT_CORR) & pairs).sum(axis=1) / np.maximum(n_pairs, 1), np.nan),
        "p_consec_q25": sorted_quantile(np.sort(np.where(pairs, corr, np.inf), axis=1), np.where(ok, n_pairs, 0), 0.25),
        "p_consec_all": _median_over(corr, all_fits[:, :-1] & all_fits[:, 1:]),
    }


def _tq_consistency(beats: Beats, use: np.ndarray, fs: float) -> dict[str, np.ndarray]:
    """``tq_consec`` and ``tq_split`` of the beats whose preceding RR interval holds the previous
    beat's QRST complex (``BEAT_SPAN_S``) and then all of ``TQ_REGION_S``."""
    room = region_samples(BEAT_SPAN_S, fs)[1] - region_samples(TQ_REGION_S, fs)[0]
    after_long = np.zeros_like(use)
    after_long[:, 1:] = np.diff(beats.positions, axis=1) > room
    regions, fits = beat_regions(beats, TQ_REGION_S, use & after_long, fs)
    return {
        "tq_consec": _median_over(*neighbour_correlation(regions, fits, 1)),
        "tq_split": split_half_correlation(regions, fits),
    }


def _template_consistency(
    centred: np.ndarray, fits: np.ndarray, corr: np.ndarray, qrs_amp: np.ndarray, prefix: str
) -> dict[str, np.ndarray]:
    """``split``, ``consec``, ``dsplit``, ``dcorr`` and ``damp`` of one region's snippets (``centred``,
    each less its mean; ``corr``: neighbours' correlation), see :func:`p_wave_consistency`."""
    flat = detrend_rows(centred)
    template = np.nan_to_num(masked_median(flat, fits))
    enough = fits.sum(axis=1) >= MIN_BEATS
    return {
        f"{prefix}_split": split_half_correlation(centred, fits),
        f"{prefix}_consec": _median_over(corr, fits[:, :-1] & fits[:, 1:]),
        f"{prefix}_dsplit": split_half_correlation(flat, fits),
        f"{prefix}_damp": np.where(enough, np.ptp(template, axis=1) / qrs_amp, np.nan),
        f"{prefix}_dcorr": np.where(enough, masked_median(row_correlation(flat, template), fits), np.nan),
    }


def _median_over(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Median of ``values`` where ``valid``, per window; NaN with fewer than ``SPLIT_MIN_BEATS``."""
    return np.where(valid.sum(axis=1) >= SPLIT_MIN_BEATS, masked_median(values, valid), np.nan)


def detrend_rows(regions: np.ndarray) -> np.ndarray:
    """Each snippet ``(n, beats, samples)`` less its least-squares line.

    Example
    -------
    >>> detrend_rows(np.array([[[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]]])).round(3).tolist()
    [[[0.0, 0.0, 0.0], [-0.333, 0.667, -0.333]]]
    """
    t = np.arange(regions.shape[2]) - (regions.shape[2] - 1) / 2
    slope = np.einsum("nbk,k->nb", regions, t)[:, :, None] / max(float(t @ t), 1e-12)
    return regions - regions.mean(axis=2, keepdims=True) - slope * t


def neighbour_correlation(regions: np.ndarray, fits: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    """Correlation of each beat's region with that of the beat ``lag`` later ``(n, beats - lag)``,
    and which pairs both fit.

    Example
    -------
    >>> r = np.array([[[0.0, 1, 0], [0, 2, 0], [1, 0, 0]]])
    >>> corr, pairs = neighbour_correlation(r, np.ones((1, 3), dtype=bool), 1)
    >>> corr.round(2).tolist(), pairs.tolist()
    ([[1.0, -0.5]], [[True, True]])
    """
    centred = regions - regions.mean(axis=2, keepdims=True)
    return lagged_correlation(centred, lag), fits[:, :-lag] & fits[:, lag:]


def lagged_correlation(centred: np.ndarray, lag: int) -> np.ndarray:
    """Correlation of each snippet (``(n, beats, samples)``, each less its mean) with the one ``lag`` later."""
    energy = np.einsum("nbk,nbk->nb", centred, centred)
    dots = np.einsum("nbk,nbk->nb", centred[:, :-lag], centred[:, lag:])
    return dots / np.maximum(np.sqrt(energy[:, :-lag] * energy[:, lag:]), 1e-12)


def split_half_correlation(regions: np.ndarray, fits: np.ndarray) -> np.ndarray:
    """Correlation of the mean region of the odd beats with that of the even beats, per window;
    NaN unless each half has ``SPLIT_MIN_BEATS`` beats that fit.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> p_wave = np.sin(np.linspace(0, np.pi, 20))
    >>> sinus = p_wave + 0.3 * rng.standard_normal((1, 12, 20))  # 12 beats: one P wave, noise
    >>> af = 0.3 * rng.standard_normal((1, 12, 20))  # fibrillatory waves, unrelated beat to beat
    >>> fits = np.ones((1, 12), dtype=bool)
    >>> [round(float(split_half_correlation(r, fits)[0]), 2) for r in (sinus, af)]
    [0.93, -0.01]
    """
    odd = fits & (np.arange(fits.shape[1]) % 2 == 1)
    even = fits & ~odd
    a, b = (
        np.einsum("nbk,nb->nk", regions, half.astype(regions.dtype)) / np.maximum(half.sum(axis=1), 1)[:, None]
        for half in (odd, even)
    )
    corr = row_correlation(a[:, None, :], b)[:, 0]
    enough = (odd.sum(axis=1) >= SPLIT_MIN_BEATS) & (even.sum(axis=1) >= SPLIT_MIN_BEATS)
    return np.where(enough, corr, np.nan)
