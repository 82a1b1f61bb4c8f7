"""WFDB record files of synthetic ECG (:mod:`afdetect.io.synthetic`): records, labels, the example.

Writers produce records the way PhysioNet distributes them:

* :func:`write_record` — ``.hea`` + ``.dat`` (format 16 or 212) through ``wfdb.wrsamp``;
* :func:`write_mat_record` — ``.hea`` + MATLAB v4 ``.mat`` (CinC 2017 / CinC 2020 /
  PTB-XL style, signal lines like ``A00001.mat 16+24 1000/mV 16 0 ...``);
* :func:`write_rhythm_annotations` — ``.atr`` with rhythm changes as aux notes on ``+``
  annotations (``(AFIB``, ``(AFL``, ``(N``) and optional beat annotations;
* :func:`write_reference_csv` — a CinC-style ``REFERENCE.csv``;
* :func:`write_example_record` — the record ``afdetect example`` writes.

Example
-------
>>> sig = rhythm_signal(250, [("sinus", 40), ("af", 60), ("sinus", 20)], seed=1)
>>> rec = write_record(tmp_path, "pa1", 250, sig.signal, fmt="212")  # doctest: +SKIP
>>> write_rhythm_annotations(rec, sig.changes, 250, beat_times=sig.beat_times_s)  # doctest: +SKIP
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import wfdb

from afdetect.io.synthetic import multi_lead, rhythm_signal

TWELVE_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
"""Standard 12-lead names (default signal names of multi-lead records)."""


DEFAULT_ADC_GAIN: dict[str, float] = {"16": 1000.0, "212": 200.0}
"""ADC gain (adu per mV) per WFDB format: ±32 mV in 16 bits, ±10 mV in 12 bits."""


FORMAT_RANGE: dict[str, tuple[int, int]] = {"16": (-32767, 32767), "212": (-2047, 2047)}
"""Representable digital values per format (the most negative value means 'invalid')."""


UNIT_SCALE: dict[str, float] = {"mV": 1.0, "uV": 1000.0, "V": 1e-3}
"""Physical units per mV, for records written in other units."""


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


def _default_names(n_leads: int) -> list[str]:
    if n_leads == 1:
        return ["ECG"]
    if n_leads <= len(TWELVE_LEADS):
        return list(TWELVE_LEADS[:n_leads])
    return [f"ECG{i + 1}" for i in range(n_leads)]


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
