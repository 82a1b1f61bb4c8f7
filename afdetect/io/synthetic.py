"""Synthetic ECG signals and WFDB records: the ``afdetect example`` record and benchmark records.

Signals are sums of Gaussian waves placed at beat times: sinus rhythm has regular RR
intervals and a P wave before every QRS; atrial fibrillation (AF) has irregular RR
intervals (uniform over ±45 % of the mean), no P waves and fibrillatory f-waves of 4-9 Hz;
atrial flutter has regular RR intervals and a 5 Hz saw-tooth of flutter waves.

Writers produce records the way PhysioNet distributes them:

* :func:`write_record` — ``.hea`` + ``.dat`` (format 16 or 212) through ``wfdb.wrsamp``;
* :func:`write_mat_record` — ``.hea`` + MATLAB v4 ``.mat`` (CinC 2017 / CinC 2020 /
  PTB-XL style, signal lines like ``A00001.mat 16+24 1000/mV 16 0 ...``);
* :func:`write_rhythm_annotations` — ``.atr`` with rhythm changes as aux notes on ``+``
  annotations (``(AFIB``, ``(AFL``, ``(N``) and optional ``N`` beat annotations;
* :func:`write_reference_csv` — a CinC-style ``REFERENCE.csv``.

Example
-------
>>> sig = rhythm_signal(250, [("sinus", 40), ("af", 60), ("sinus", 20)], seed=1)
>>> rec = write_record(tmp_path, "pa1", 250, sig.signal, fmt="212")  # doctest: +SKIP
>>> write_rhythm_annotations(rec, sig.changes, 250, beat_times=sig.beat_times_s)  # doctest: +SKIP
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb
from scipy import signal as sps

RHYTHM_NOTES: dict[str, str] = {"sinus": "(N", "af": "(AFIB", "flutter": "(AFL"}
"""Rhythm name to the WFDB rhythm aux note that starts it."""


TWELVE_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
"""Standard 12-lead names (default signal names of multi-lead records)."""


DEFAULT_ADC_GAIN: dict[str, float] = {"16": 1000.0, "212": 200.0}
"""ADC gain (adu per mV) per WFDB format: ±32 mV in 16 bits, ±10 mV in 12 bits."""


FORMAT_RANGE: dict[str, tuple[int, int]] = {"16": (-32767, 32767), "212": (-2047, 2047)}
"""Representable digital values per format (the most negative value means 'invalid')."""


UNIT_SCALE: dict[str, float] = {"mV": 1.0, "uV": 1000.0, "V": 1e-3}
"""Physical units per mV, for records written in other units."""


# Beat template: (amplitude mV, centre s relative to the R peak, width s).
_QRST_WAVES = ((-0.12, -0.025, 0.008), (1.0, 0.0, 0.01), (-0.25, 0.027, 0.009), (0.3, 0.28, 0.05))


_P_WAVE = (0.15, -0.16, 0.025)


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
    """

    signal: np.ndarray
    fs: float
    beat_times_s: np.ndarray
    changes: list[tuple[float, str]]

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


def rhythm_signal(
    fs: float,
    segments: Sequence[tuple[str, float]],
    hr_bpm: float = 70.0,
    seed: int = 0,
    amplitude_mv: float = 1.0,
    noise_mv: float = 0.01,
) -> SynthECG:
    """Build a single-lead ECG from consecutive rhythm segments.

    Parameters
    ----------
    fs : float
        Sampling rate (Hz).
    segments : sequence of (rhythm, duration_s)
        Rhythms (``sinus``, ``af``, ``flutter``) and their durations (s), in order.
    hr_bpm : float
        Mean heart rate (beats per minute) of every segment.
    seed : int
        Seed of the random generator (same seed, same signal).
    amplitude_mv : float
        Scale of the whole signal (R peak ≈ ``amplitude_mv`` mV).
    noise_mv : float
        Standard deviation of added white noise (mV, before scaling).

    Returns
    -------
    SynthECG
        Signal, beat times and rhythm changes (one per segment, at its start).

    Example
    -------
    >>> ecg = rhythm_signal(128, [("sinus", 10), ("af", 20)])
    >>> len(ecg.signal), ecg.changes
    (3840, [(0.0, '(N'), (10.0, '(AFIB')])
    """
    rng = np.random.default_rng(seed)
    total_s = float(sum(duration for _, duration in segments))
    n = int(round(total_s * fs))
    t = np.arange(n) / fs
    beats, p_waves, changes = [], [], []
    atrial = np.zeros(n)
    start, next_beat = 0.0, None
    for rhythm, duration in segments:
        end = start + duration
        seg_beats = beat_times(start, end, rhythm, hr_bpm, rng, first_s=next_beat)
        if len(seg_beats):
            next_beat = seg_beats[-1] + 60.0 / hr_bpm
        beats.append(seg_beats)
        if rhythm == "sinus":
            p_waves.append(seg_beats)
        in_seg = (t >= start) & (t < end)
        if rhythm == "af":
            for _ in range(2):
                freq, amp = rng.uniform(4, 9), rng.uniform(0.03, 0.07)
                envelope = 1 + 0.3 * np.sin(2 * np.pi * rng.uniform(0.1, 0.3) * t[in_seg])
                atrial[in_seg] += amp * envelope * np.sin(2 * np.pi * freq * t[in_seg] + rng.uniform(0, 2 * np.pi))
        elif rhythm == "flutter":
            atrial[in_seg] += 0.12 * sps.sawtooth(2 * np.pi * 5.0 * t[in_seg], width=0.8)
        changes.append((round(start, 6), RHYTHM_NOTES[rhythm]))
        start = end
    all_beats = np.concatenate(beats) if beats else np.zeros(0)
    ecg = _place_waves(n, fs, all_beats, _QRST_WAVES)
    if p_waves:
        ecg += _place_waves(n, fs, np.concatenate(p_waves), (_P_WAVE,))
    ecg += atrial + rng.normal(0, noise_mv, n)
    return SynthECG(signal=amplitude_mv * ecg, fs=float(fs), beat_times_s=all_beats, changes=changes)


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


def write_record(
    directory: str | Path,
    name: str,
    fs: float,
    signals_mv: np.ndarray,
    sig_names: Sequence[str] | None = None,
    fmt: str = "16",
    units: str = "mV",
    comments: Sequence[str] | None = None,
    adc_gain: float | None = None,
) -> Path:
    """Write a ``.hea`` + ``.dat`` record with ``wfdb.wrsamp``.

    Parameters
    ----------
    directory : str or Path
        Folder to write into (created when missing).
    name : str
        Record name.
    fs : float
        Sampling rate (Hz).
    signals_mv : numpy.ndarray
        ``(n,)`` or ``(n, leads)`` signals in mV; NaN is written as WFDB's invalid sample,
        values beyond the format's range are clipped to it.
    sig_names : sequence of str, optional
        Signal names (default ``ECG`` for one lead, else the 12-lead names).
    fmt : {"16", "212"}
        WFDB storage format (16-bit, or 12-bit packed).
    units : {"mV", "uV", "V"}
        Physical unit written in the header; the samples are converted to it, so reading
        the record back in mV gives ``signals_mv`` again.
    comments : sequence of str, optional
        Header comment lines (without ``#``).
    adc_gain : float, optional
        ADC gain in adu per mV (default :data:`DEFAULT_ADC_GAIN` of the format).

    Returns
    -------
    Path
        The record path without extension.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x = np.asarray(signals_mv, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    n_leads = x.shape[1]
    names = list(sig_names) if sig_names is not None else _default_names(n_leads)
    gain_mv = DEFAULT_ADC_GAIN[fmt] if adc_gain is None else adc_gain
    lo, hi = FORMAT_RANGE[fmt]
    x = np.where(np.isnan(x), np.nan, np.clip(x, lo / gain_mv, hi / gain_mv))
    scale = UNIT_SCALE[units]
    wfdb.wrsamp(
        name,
        fs=fs,
        units=[units] * n_leads,
        sig_name=names,
        p_signal=x * scale,
        fmt=[fmt] * n_leads,
        adc_gain=[gain_mv / scale] * n_leads,
        baseline=[0] * n_leads,
        comments=list(comments or []),
        write_dir=str(directory),
    )
    return directory / name


def write_mat_record(
    directory: str | Path,
    name: str,
    fs: float,
    signals: np.ndarray,
    sig_names: Sequence[str] | None = None,
    adc_gain: float = 1000.0,
    comments: Sequence[str] | None = None,
) -> Path:
    """Write a record as PhysioNet's MATLAB-v4 ``.mat`` WFDB records are written.

    The ``.mat`` file is a 24-byte MATLAB v4 matrix header (five little-endian int32:
    type 30 = int16 numeric, rows = signals, columns = samples, no imaginary part, name
    length 4) followed by the name ``val\\0`` and the ``int16`` matrix in column-major order
    (samples interleaved, as format 16). The header's signal lines read
    ``NAME.mat 16+24 GAIN/mV 16 0 FIRST CHECKSUM 0 SIGNAME``: format 16 from byte 24.

    Parameters
    ----------
    directory : str or Path
        Folder to write into (created when missing).
    name : str
        Record name.
    fs : float
        Sampling rate (Hz).
    signals : numpy.ndarray
        ``(n,)`` or ``(n, leads)`` signals in mV (NaN → invalid sample -32768).
    sig_names : sequence of str, optional
        Signal names (default ``ECG`` for one lead, else the 12-lead names).
    adc_gain : float
        adu per mV (CinC uses 1000).
    comments : sequence of str, optional
        Header comments, e.g. ``["Age: 74", "Sex: Male", "Dx: 164889003"]``.

    Returns
    -------
    Path
        The record path without extension.

    Example
    -------
    >>> rec = write_mat_record(tmp_path, "A0001", 500, np.zeros((5000, 12)))  # doctest: +SKIP
    >>> wfdb.rdrecord(str(rec)).p_signal.shape  # doctest: +SKIP
    (5000, 12)
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    x = np.asarray(signals, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    n, n_leads = x.shape
    names = list(sig_names) if sig_names is not None else _default_names(n_leads)
    if len(names) != n_leads:
        raise ValueError(f"{len(names)} signal names for {n_leads} signals")
    digital = np.clip(np.round(np.nan_to_num(x * adc_gain, nan=0.0)), -32767, 32767).astype(np.int16)
    digital[np.isnan(x)] = -32768
    mat_header = struct.pack("<5i", 30, n_leads, n, 0, 4) + b"val\x00"
    (directory / f"{name}.mat").write_bytes(mat_header + digital.astype("<i2").tobytes(order="C"))
    lines = [f"{name} {n_leads} {fs:g} {n}"]
    for lead in range(n_leads):
        column = digital[:, lead].astype(np.int64)
        checksum = (int(column.sum()) + 32768) % 65536 - 32768
        lines.append(f"{name}.mat 16+24 {adc_gain:g}/mV 16 0 {int(column[0])} {checksum} 0 {names[lead]}")
    lines += [f"#{c}" for c in comments or []]
    (directory / f"{name}.hea").write_text("\n".join(lines) + "\n")
    return directory / name


def write_rhythm_annotations(
    record_path: str | Path,
    changes: Sequence[tuple[float, str]],
    fs: float,
    beat_times: Sequence[float] | np.ndarray | None = None,
    extension: str = "atr",
) -> Path:
    """Write rhythm changes (and beats) as a WFDB annotation file with ``wfdb.wrann``.

    Parameters
    ----------
    record_path : str or Path
        Record path without extension (as returned by :func:`write_record`).
    changes : sequence of (float, str)
        ``(time_s, aux note)`` pairs, e.g. ``[(0, "(N"), (40, "(AFIB"), (100, "(N")]``;
        each becomes a ``+`` annotation carrying the note.
    fs : float
        Sampling rate (Hz) of the record.
    beat_times : array-like, optional
        Beat times (s), written as ``N`` annotations with no aux note.
    extension : str
        Annotation file extension.

    Returns
    -------
    Path
        The annotation file.
    """
    record_path = Path(record_path)
    entries = [(int(round(t * fs)), 0, "+", note) for t, note in changes]
    if beat_times is not None:
        entries += [(int(round(t * fs)), 1, "N", "") for t in beat_times]
    entries.sort(key=lambda e: (e[0], e[1]))
    wfdb.wrann(
        record_path.name,
        extension,
        sample=np.array([e[0] for e in entries], dtype=np.int64),
        symbol=[e[2] for e in entries],
        aux_note=[e[3] for e in entries],
        fs=fs,
        write_dir=str(record_path.parent),
    )
    return record_path.with_suffix(f".{extension}")


def write_reference_csv(directory: str | Path, labels: Mapping[str, str]) -> Path:
    """Write a CinC-2017-style ``REFERENCE.csv`` (``record,label`` lines, no header)."""
    path = Path(directory) / "REFERENCE.csv"
    path.write_text("".join(f"{name},{label}\n" for name, label in labels.items()))
    return path


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


def _default_names(n_leads: int) -> list[str]:
    if n_leads == 1:
        return ["ECG"]
    if n_leads <= len(TWELVE_LEADS):
        return list(TWELVE_LEADS[:n_leads])
    return [f"ECG{i + 1}" for i in range(n_leads)]


def _check_rhythm(rhythm: str) -> None:
    if rhythm not in RHYTHM_NOTES:
        raise ValueError(f"unknown rhythm {rhythm!r}; expected one of {sorted(RHYTHM_NOTES)}")


def write_example_record(directory: str | Path, name: str = "example", seed: int = 7) -> Path:
    """Write a 10-minute two-lead 250 Hz format-212 record: sinus, 4 min of AF, sinus.

    The record carries ``.atr`` reference rhythm annotations, so both ``afdetect predict``
    and ``afdetect eval`` can be tried on it without any download.

    Example
    -------
    >>> write_example_record("example")  # doctest: +SKIP
    PosixPath('example/example')
    """
    ecg = rhythm_signal(250, [("sinus", 180), ("af", 240), ("sinus", 180)], hr_bpm=72, seed=seed)
    record = write_record(
        directory,
        name,
        250,
        multi_lead(ecg.signal, 2, seed=seed),
        sig_names=["MLII", "V1"],
        fmt="212",
        comments=["synthetic example: sinus 0-180 s, AF 180-420 s, sinus 420-600 s"],
    )
    write_rhythm_annotations(record, ecg.changes, 250, beat_times=ecg.beat_times_s)
    return record
