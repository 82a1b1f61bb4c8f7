"""WFDB rhythm annotations, read and written in one place.

Reading (:func:`read_rhythm_intervals`): rhythm aux notes such as ``(AFIB``, ``(AFL``, ``(N``
each mark where a rhythm starts; it lasts until the next rhythm note or the end of the
record. Time before the first rhythm note, and a whole record whose annotation file holds no
rhythm note at all (CPSC 2021 non-AF records), count as non-AF rhythm ``(N``.

Writing (:func:`write_rhythm_annotations`): detected AF episodes as PhysioNet rhythm changes.
The file holds one rhythm-change annotation (symbol ``+``) per change, at the record's own
sampling rate: the rhythm at sample 0 first (``(AFIB`` or ``(N``), then ``(AFIB`` at each
episode onset and ``(N`` at each episode offset that falls before the record end. ``wfdb.rdann``,
``rdann``, ``epicmp`` and the other PhysioNet tools read it like a reference ``.atr`` file, and
:func:`read_rhythm_intervals` reads it back (``extension="afd"``). ``(N`` means "not AF" here:
afdetect tells AF from everything else, it does not label other rhythms.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from afdetect.config import AF_AUX_NOTE, ANNOTATION_EXTENSION, NON_AF_AUX_NOTE
from afdetect.errors import ParameterError, RecordError, UsageError
from afdetect.io.header import RecordInfo, describe_error, read_header


@dataclass(frozen=True)
class RhythmInterval:
    """A stretch of one rhythm, ``start_s`` inclusive to ``end_s`` exclusive (s)."""

    start_s: float
    end_s: float
    rhythm: str


def read_rhythm_intervals(record: RecordInfo | str | Path, extension: str = "atr") -> list[RhythmInterval]:
    """Read rhythm intervals from a record's annotation file.

    Parameters
    ----------
    record : RecordInfo or str or Path
        The record's header (read once by the caller) or its path (with or without ``.hea``).
    extension : str
        Annotation file extension.

    Returns
    -------
    list of RhythmInterval
        Consecutive intervals covering the whole record.

    Raises
    ------
    RecordError
        When the annotation file is missing or corrupt.

    Example
    -------
    >>> read_rhythm_intervals("../shared/data/cpsc2021/data_8_10")  # doctest: +SKIP
    [RhythmInterval(start_s=0.0, end_s=61.455, rhythm='(AFIB')]
    """
    info = record if isinstance(record, RecordInfo) else read_header(record)
    ann_file = info.path.with_suffix(f".{extension}")
    if not ann_file.is_file():
        raise RecordError(ann_file, "annotation file not found")
    _check_annotation_file(ann_file)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ann = wfdb.rdann(str(info.path), extension)
    except Exception as exc:
        raise RecordError(ann_file, f"corrupt annotation file: {describe_error(exc)}") from None
    if len(ann.sample) == 0:
        raise RecordError(ann_file, "annotation file holds no annotations")
    marks = [
        (int(sample), note.strip().rstrip("\x00"))
        for sample, note in zip(ann.sample, ann.aux_note or [""] * len(ann.sample), strict=False)
        if note and note.strip().startswith("(")
    ]
    marks.sort(key=lambda m: m[0])
    if not marks or marks[0][0] > 0:
        marks.insert(0, (0, "(N"))
    intervals = []
    for (start, rhythm), (end, _) in zip(marks, [*marks[1:], (info.n_samples, "")], strict=True):
        start, end = max(start, 0), min(end, info.n_samples)
        if end > start:
            intervals.append(RhythmInterval(start / info.fs, end / info.fs, rhythm))
    return intervals


def _check_annotation_file(ann_file: Path) -> None:
    """Check the WFDB (MIT format) annotation framing that ``wfdb.rdann`` does not.

    The file is a sequence of 16-bit words ending with the end-of-file word 0; ``rdann``
    reads an empty file, or a text file of even length, as valid annotations.
    """
    size = ann_file.stat().st_size
    if size == 0:
        raise RecordError(ann_file, "annotation file is empty")
    if size % 2:
        raise RecordError(ann_file, f"corrupt annotation file: {size} bytes is not a whole number of 16-bit words")
    with ann_file.open("rb") as handle:
        handle.seek(size - 2)
        if handle.read(2) != b"\x00\x00":
            raise RecordError(
                ann_file, "corrupt annotation file: no end-of-file word (truncated, or not a WFDB annotation file)"
            )


RHYTHM_SYMBOL = "+"
"""WFDB annotation symbol of a rhythm change."""


RESERVED_EXTENSIONS = frozenset({"hea", "dat", "mat"})
"""Extensions of record files, never used for annotation output."""


def check_annotation_extension(extension: str) -> str:
    """Validate an annotator name for output (letters only, as WFDB requires).

    Raises
    ------
    UsageError
        When the name is empty, holds other characters, or is a record file extension.
    """
    if not re.fullmatch(r"[A-Za-z]+", extension or ""):
        raise ParameterError(f"{{extension}} extension must be letters only (WFDB annotator name), got {extension!r}")
    if extension.lower() in RESERVED_EXTENSIONS:
        raise ParameterError(f"{{extension}} extension {extension!r} is a record file extension; choose e.g. 'afd'")
    return extension


def writable_folder(directory: str | Path) -> bool:
    """Whether annotation files may be written into ``directory``.

    A folder without any write permission bit counts as read-only even for a user (root)
    the system would let write there: read-only data folders must stay untouched.
    """
    directory = Path(directory)
    return os.access(directory, os.W_OK) and bool(directory.stat().st_mode & 0o222)


def rhythm_changes(episodes: pd.DataFrame, info: RecordInfo) -> tuple[np.ndarray, list[str]]:
    """Sample numbers and aux notes of the rhythm changes that encode ``episodes``.

    Parameters
    ----------
    episodes : pandas.DataFrame
        One record's episodes (``onset_s``, ``offset_s`` in s).
    info : RecordInfo
        The record's header (sampling rate, length).

    Returns
    -------
    samples : numpy.ndarray
        Strictly increasing int64 sample numbers, the first 0.
    notes : list of str
        ``(AFIB`` or ``(N``, alternating.

    Example
    -------
    >>> from afdetect.io.header import RecordInfo
    >>> info = RecordInfo(Path("r"), 200.0, 20000, ["II"], ["mV"], [])
    >>> eps = pd.DataFrame({"onset_s": [22.5], "offset_s": [52.5]})
    >>> samples, notes = rhythm_changes(eps, info)
    >>> samples.tolist(), notes
    ([0, 4500, 10500], ['(N', '(AFIB', '(N'])
    """
    marks: list[tuple[int, str]] = [(0, NON_AF_AUX_NOTE)]
    order = np.argsort(episodes["onset_s"].to_numpy(float), kind="mergesort")
    onsets = episodes["onset_s"].to_numpy(float)[order]
    offsets = episodes["offset_s"].to_numpy(float)[order]
    for onset, offset in zip(onsets, offsets, strict=True):
        start = _to_sample(onset, info)
        stop = _to_sample(offset, info)
        if stop <= start:
            continue
        marks.append((start, AF_AUX_NOTE))
        if stop < info.n_samples:
            marks.append((stop, NON_AF_AUX_NOTE))
    samples: list[int] = []
    notes: list[str] = []
    for sample, note in marks:
        if samples and sample <= samples[-1]:  # a later change at the same sample replaces the earlier
            samples.pop()
            notes.pop()
        if notes and notes[-1] == note:
            continue
        samples.append(sample)
        notes.append(note)
    return np.asarray(samples, dtype=np.int64), notes


def write_rhythm_annotations(
    record: RecordInfo | str | Path,
    episodes: pd.DataFrame,
    *,
    extension: str = ANNOTATION_EXTENSION,
    out_dir: str | Path | None = None,
) -> Path:
    """Write a record's detected AF episodes as a WFDB rhythm annotation file, atomically.

    Parameters
    ----------
    record : RecordInfo or str or Path
        The record's header, or its path (``rec`` or ``rec.hea``): it gives the sampling rate
        and length.
    episodes : pandas.DataFrame
        The record's AF episodes (columns ``onset_s, offset_s``), already merged from its
        per-window table (:func:`afdetect.rhythm.episodes.merge_episodes`).
    extension : str
        Annotator name (file extension), letters only; default ``afd``.
    out_dir : str or Path, optional
        Folder to write into (default: the record's own folder).

    Returns
    -------
    Path
        The written file, ``out_dir/<record name>.<extension>``.

    Raises
    ------
    UsageError
        Bad extension, ``atr`` next to the record (the reference annotations), or an output
        folder that is missing or not writable.
    RecordError
        When the record's header cannot be read or its name is not a valid WFDB record name.

    Example
    -------
    >>> table = Predictor.from_weights().predict_record("rec")  # doctest: +SKIP
    >>> write_rhythm_annotations("rec", merge_episodes(table))  # doctest: +SKIP
    PosixPath('rec.afd')
    """
    check_annotation_extension(extension)
    info = record if isinstance(record, RecordInfo) else read_header(record)
    if not {"onset_s", "offset_s"} <= set(episodes.columns):
        raise ValueError("expected an episodes table (columns onset_s, offset_s)")
    directory = info.path.parent if out_dir is None else Path(out_dir)
    target = directory / f"{info.name}.{extension}"
    if extension.lower() == "atr" and directory.resolve() == info.path.parent.resolve():
        raise UsageError(target, "refusing to overwrite the record's reference annotations; use another extension")
    if not directory.is_dir():
        raise UsageError(directory, "annotation output folder does not exist")
    if not writable_folder(directory):
        raise ParameterError("annotation output folder is not writable (choose one with {out_dir})", directory)
    if not re.fullmatch(r"[-\w]+", info.name):
        raise RecordError(info.path, "record name is not a valid WFDB record name; cannot name its annotation file")
    samples, notes = rhythm_changes(episodes, info)
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{info.name}.{extension}.", suffix=".part", dir=directory))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wfdb.wrann(
                info.name,
                extension,
                samples,
                symbol=[RHYTHM_SYMBOL] * len(samples),
                aux_note=notes,
                fs=_header_fs(info.fs),
                write_dir=str(tmp_dir),
            )
        (tmp_dir / target.name).chmod(_default_mode())
        (tmp_dir / target.name).replace(target)
    except OSError as exc:
        raise UsageError(target, f"cannot write annotation file: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def _to_sample(t_s: float, info: RecordInfo) -> int:
    return int(min(max(round(t_s * info.fs), 0), info.n_samples))


def _header_fs(fs: float) -> float | int:
    return int(fs) if float(fs).is_integer() else fs


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask
