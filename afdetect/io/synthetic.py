"""Synthetic ECG signals: the ``afdetect example`` record, test and benchmark records.

Signals are sums of Gaussian waves placed at beat times: sinus rhythm has regular RR
intervals and a P wave before every QRS; atrial fibrillation (AF) has irregular RR
intervals (uniform over ±45 % of the mean), no P waves and fibrillatory f-waves of 4-9 Hz;
atrial flutter has regular RR intervals and a 5 Hz saw-tooth of flutter waves. A sinus
segment may carry premature atrial or ventricular beats and an AF segment premature
ventricular beats (:mod:`afdetect.io.synthetic_ectopy`); a demand pacemaker may pace every
segment (:mod:`afdetect.io.synthetic_pacing`). :mod:`afdetect.io.synthetic_files` writes
them as WFDB records.

Example
-------
>>> ecg = rhythm_signal(250, [("sinus", 40), ("af", 60), ("sinus", 20, Ectopy("pvc", 0.1))], seed=1)
>>> ecg.changes, np.unique(ecg.beat_symbols).tolist()
([(0.0, '(N'), (40.0, '(AFIB'), (100.0, '(N')], ['N', 'V'])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import signal as sps

from afdetect.io.synthetic_ectopy import ECTOPIC_WAVES, Ectopy, ectopic_beats
from afdetect.io.synthetic_pacing import PACED_SYMBOL, PACED_WAVES, Pacing, demand_paced_beats

RHYTHM_NOTES: dict[str, str] = {"sinus": "(N", "af": "(AFIB", "flutter": "(AFL"}
"""Rhythm name to the WFDB rhythm aux note that starts it."""


# Beat template: (amplitude mV, centre s relative to the R peak, width s).
_QRST_WAVES = ((-0.12, -0.025, 0.008), (1.0, 0.0, 0.01), (-0.25, 0.027, 0.009), (0.3, 0.28, 0.05))


_P_WAVE = (0.15, -0.16, 0.025)

BEAT_WAVES: dict[str, tuple[tuple[float, float, float], ...]] = {**ECTOPIC_WAVES, PACED_SYMBOL: PACED_WAVES}
"""Waves of each beat symbol other than ``N``: besides the normal QRST (a PAC's P wave) or instead of it."""
REPLACED_QRST: tuple[str, ...] = ("V", PACED_SYMBOL)
"""Beat symbols whose waves replace the normal QRST (ventricular beats: ectopic or paced)."""


@dataclass(frozen=True)
class SynthECG:
    """A synthetic single-lead ECG and its ground truth.

    Attributes
    ----------
    signal : numpy.ndarray
        1-D float64 signal (mV).
    fs : float
        Sampling rate (Hz).
    beat_times_s : numpy.ndarray
        R-peak times (s).
    changes : list of (float, str)
        Rhythm changes ``(time_s, aux note)``, the first at 0 s.
    beat_symbols : numpy.ndarray
        WFDB beat symbol of each beat: ``N`` (sinus, or conducted in AF or flutter), ``A``
        (premature atrial beat), ``V`` (premature ventricular beat) or ``/`` (paced beat).
    """

    signal: np.ndarray
    fs: float
    beat_times_s: np.ndarray
    changes: list[tuple[float, str]]
    beat_symbols: np.ndarray

    @property
    def duration_s(self) -> float:
        """Signal duration (s)."""
        return len(self.signal) / self.fs


def beat_times(
    start_s: float, end_s: float, rhythm: str, hr_bpm: float, rng: np.random.Generator, first_s: float | None = None
) -> np.ndarray:
    """R-peak times (s) in ``[start_s, end_s)`` for one rhythm.

    Parameters
    ----------
    start_s, end_s : float
        Stretch of time to fill (s).
    rhythm : {"sinus", "af", "flutter"}
        Sinus and flutter: regular RR (±2 % jitter, slow respiratory modulation); AF: RR
        drawn uniformly from 55-145 % of the mean (coefficient of variation ≈ 0.26).
    hr_bpm : float
        Mean heart rate (beats per minute).
    rng : numpy.random.Generator
        Random source.
    first_s : float, optional
        Time of the first beat (default: a random time within one RR of ``start_s``).

    Returns
    -------
    numpy.ndarray
        Ascending beat times (s).
    """
    _check_rhythm(rhythm)
    mean_rr = 60.0 / hr_bpm
    t = start_s + rng.uniform(0.2, 1.0) * mean_rr if first_s is None else first_s
    times = []
    while t < end_s:
        times.append(t)
        if rhythm == "af":
            rr = mean_rr * rng.uniform(0.55, 1.45)
        else:
            rr = mean_rr * (1 + 0.04 * np.sin(2 * np.pi * 0.25 * t) + rng.normal(0, 0.02))
        t += max(rr, 0.3)
    return np.asarray(times, dtype=float)


Segment = tuple[str, float] | tuple[str, float, Ectopy | None]
"""A rhythm segment: ``(rhythm, duration_s)``, or ``(rhythm, duration_s, ectopy)``."""

EXTRA_REACH: float = 0.5
"""Extra share of a segment's length whose beats are drawn when it carries ectopy (PACs pull
the later beats forward; the beats past the segment's end are cut)."""


def segment_beats(
    start_s: float,
    end_s: float,
    rhythm: str,
    hr_bpm: float,
    rng: np.random.Generator,
    first_s: float | None = None,
    ectopy: Ectopy | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """R-peak times (s) in ``[start_s, end_s)`` for one rhythm, with its ectopic beats, and their symbols.

    Without ``ectopy`` (or with a burden of 0) the times are :func:`beat_times`'s, drawn
    the same way. With it, the rhythm's beats are drawn past ``end_s`` (by
    :data:`EXTRA_REACH` of the segment and two RR), some are made ectopic by
    :func:`~afdetect.io.synthetic_ectopy.ectopic_beats` and those from ``end_s`` on are cut.

    Parameters
    ----------
    start_s, end_s, rhythm, hr_bpm, rng, first_s
        As :func:`beat_times`.
    ectopy : Ectopy, optional
        Premature beats the segment carries (PACs: sinus only; PVCs: sinus or AF).

    Returns
    -------
    times : numpy.ndarray
        Ascending beat times (s).
    symbols : numpy.ndarray
        WFDB beat symbol of each (``N``, ``A`` or ``V``).

    Example
    -------
    >>> t, sym = segment_beats(0, 10, "sinus", 60, np.random.default_rng(0), ectopy=Ectopy("pac", pattern="bigeminy"))
    >>> "".join(sym[:4])
    'NANA'
    """
    if ectopy is None or not ectopy.active:
        times = beat_times(start_s, end_s, rhythm, hr_bpm, rng, first_s)
        return times, np.full(len(times), "N")
    mean_rr = 60.0 / hr_bpm
    reach = end_s + EXTRA_REACH * (end_s - start_s) + 2 * mean_rr
    times, symbols = ectopic_beats(
        beat_times(start_s, reach, rhythm, hr_bpm, rng, first_s), rhythm, mean_rr, ectopy, rng
    )
    keep = times < end_s
    return times[keep], symbols[keep]


def rhythm_signal(
    fs: float,
    segments: Sequence[Segment],
    hr_bpm: float = 70.0,
    seed: int = 0,
    amplitude_mv: float = 1.0,
    noise_mv: float = 0.01,
    pacing: Pacing | None = None,
) -> SynthECG:
    """Build a single-lead ECG from consecutive rhythm segments.

    Parameters
    ----------
    fs : float
        Sampling rate (Hz).
    segments : sequence of (rhythm, duration_s) or (rhythm, duration_s, ectopy)
        Rhythms (``sinus``, ``af``, ``flutter``) and their durations (s), in order; an
        :class:`~afdetect.io.synthetic_ectopy.Ectopy` (or ``None``) third adds premature beats.
    hr_bpm : float
        Mean heart rate (beats per minute) of every segment.
    seed : int
        Seed of the random generator (same seed, same signal).
    amplitude_mv : float
        Scale of the whole signal (R peak ≈ ``amplitude_mv`` mV).
    noise_mv : float
        Standard deviation of added white noise (mV, before scaling).
    pacing : Pacing, optional
        A demand pacemaker pacing the whole record (sinus P waves stay where the sinus node
        puts them, conducted or not).

    Returns
    -------
    SynthECG
        Signal, beat times and symbols, and rhythm changes (one per segment, at its start).

    Example
    -------
    >>> ecg = rhythm_signal(128, [("sinus", 10), ("af", 20)])
    >>> len(ecg.signal), ecg.changes
    (3840, [(0.0, '(N'), (10.0, '(AFIB')])
    >>> bigeminy = rhythm_signal(250, [("sinus", 60, Ectopy("pvc", pattern="bigeminy"))], hr_bpm=60)
    >>> "".join(bigeminy.beat_symbols[:6])
    'NVNVNV'
    >>> paced = rhythm_signal(250, [("af", 60)], hr_bpm=60, pacing=Pacing(60))
    >>> bool(np.diff(paced.beat_times_s).max() <= 1.0 + 1e-9), "/" in paced.beat_symbols
    (True, True)
    """
    rng = np.random.default_rng(seed)
    total_s = float(sum(segment[1] for segment in segments))
    n = int(round(total_s * fs))
    t = np.arange(n) / fs
    beats, symbols, p_waves, changes = [], [], [], []
    atrial = np.zeros(n)
    start, next_beat = 0.0, None
    for rhythm, duration, *ectopy in segments:
        end = start + duration
        seg_beats, seg_symbols = segment_beats(start, end, rhythm, hr_bpm, rng, next_beat, *ectopy)
        if len(seg_beats):
            next_beat = seg_beats[-1] + 60.0 / hr_bpm
        beats.append(seg_beats)
        symbols.append(seg_symbols)
        if rhythm == "sinus":
            p_waves.append(seg_beats[seg_symbols == "N"])
        in_seg = (t >= start) & (t < end)
        atrial[in_seg] = _atrial_waves(rhythm, t[in_seg], rng)
        changes.append((round(start, 6), RHYTHM_NOTES[rhythm]))
        start = end
    all_beats = np.concatenate(beats) if beats else np.zeros(0)
    all_symbols = np.concatenate(symbols) if symbols else np.zeros(0, dtype=str)
    if pacing is not None:
        all_beats, all_symbols = demand_paced_beats(all_beats, all_symbols, pacing)
    ecg = _place_waves(n, fs, all_beats[~np.isin(all_symbols, REPLACED_QRST)], _QRST_WAVES)
    if p_waves:
        ecg += _place_waves(n, fs, np.concatenate(p_waves), (_P_WAVE,))
    for symbol, waves in BEAT_WAVES.items():
        if (all_symbols == symbol).any():
            ecg += _place_waves(n, fs, all_beats[all_symbols == symbol], waves)
    ecg += atrial + rng.normal(0, noise_mv, n)
    return SynthECG(amplitude_mv * ecg, float(fs), all_beats, changes, all_symbols)


def _atrial_waves(rhythm: str, t: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Atrial activity (mV) at times ``t`` (s) of one segment: two f-waves of 4-9 Hz in AF, a 5 Hz
    saw-tooth in flutter, none in sinus rhythm."""
    atrial = np.zeros(len(t))
    if rhythm == "af":
        for _ in range(2):
            freq, amp = rng.uniform(4, 9), rng.uniform(0.03, 0.07)
            envelope = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t)
            atrial += amp * envelope * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))
    elif rhythm == "flutter":
        atrial += 0.12 * sps.sawtooth(2 * np.pi * 5.0 * t, width=0.8)
    return atrial


def ecg_signal(
    fs: float,
    duration_s: float,
    rhythm: str = "sinus",
    hr_bpm: float = 70.0,
    seed: int = 0,
    amplitude_mv: float = 1.0,
) -> np.ndarray:
    """One-rhythm single-lead ECG (mV): ``rhythm`` is ``sinus``, ``af`` or ``flutter``.

    Example
    -------
    >>> ecg_signal(300, 30, "af").shape
    (9000,)
    """
    return rhythm_signal(fs, [(rhythm, duration_s)], hr_bpm, seed, amplitude_mv).signal


def multi_lead(signal: np.ndarray, n_leads: int, seed: int = 0) -> np.ndarray:
    """Stack ``n_leads`` differently scaled (some inverted) copies of a lead: ``(n, n_leads)`` mV."""
    rng = np.random.default_rng(seed)
    gains = rng.uniform(0.5, 1.2, n_leads) * np.where(np.arange(n_leads) % 4 == 3, -1.0, 1.0)
    return np.stack([g * signal + rng.normal(0, 0.005, len(signal)) for g in gains], axis=1)


def _place_waves(n: int, fs: float, centres_s: np.ndarray, waves: Sequence[tuple[float, float, float]]) -> np.ndarray:
    """Sum of Gaussian waves ``(amplitude, offset_s, width_s)`` placed at every centre."""
    pre, post = int(round(0.35 * fs)), int(round(0.55 * fs))
    t = np.arange(-pre, post + 1) / fs
    kernel = sum(a * np.exp(-0.5 * ((t - mu) / sd) ** 2) for a, mu, sd in waves)
    train = np.zeros(n + pre + post + 1)
    idx = np.round(np.asarray(centres_s) * fs).astype(np.int64) + post
    idx = idx[(idx >= 0) & (idx < len(train))]
    np.add.at(train, idx, 1.0)
    full = sps.oaconvolve(train, kernel)
    return full[post + pre : post + pre + n]


def _check_rhythm(rhythm: str) -> None:
    if rhythm not in RHYTHM_NOTES:
        raise ValueError(f"unknown rhythm {rhythm!r}; expected one of {sorted(RHYTHM_NOTES)}")
