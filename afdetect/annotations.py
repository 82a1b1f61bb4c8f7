"""WFDB rhythm annotation output: detected AF episodes as PhysioNet rhythm changes.

The file holds one rhythm-change annotation (symbol ``+``) per change, at the record's own
sampling rate: the rhythm at sample 0 first (``(AFIB`` or ``(N``), then ``(AFIB`` at each
episode onset and ``(N`` at each episode offset that falls before the record end. ``wfdb.rdann``,
``rdann``, ``epicmp`` and the other PhysioNet tools read it like a reference ``.atr`` file, and
:func:`afdetect.records.read_rhythm_intervals` reads it back (``extension="afd"``). ``(N``
means "not AF" here: afdetect tells AF from everything else, it does not label other rhythms.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from afdetect.config import AF_AUX_NOTE, ANNOTATION_EXTENSION, NON_AF_AUX_NOTE
from afdetect.episodes import merge_episodes
from afdetect.errors import RecordError, UsageError
from afdetect.records import RecordInfo, read_header

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
        raise UsageError(None, f"--annotate extension must be letters only (WFDB annotator name), got {extension!r}")
    if extension.lower() in RESERVED_EXTENSIONS:
        raise UsageError(None, f"--annotate extension {extension!r} is a record file extension; choose e.g. 'afd'")
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
    >>> from afdetect.records import RecordInfo
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
    record_path: str | Path,
    table_or_episodes: pd.DataFrame,
    extension: str = ANNOTATION_EXTENSION,
    out_dir: str | Path | None = None,
) -> Path:
    """Write a record's detected AF episodes as a WFDB rhythm annotation file, atomically.

    Parameters
    ----------
    record_path : str or Path
        The record (``rec`` or ``rec.hea``); its header gives the sampling rate and length.
    table_or_episodes : pandas.DataFrame
        The record's episodes (columns ``onset_s, offset_s``) or its per-window predict table
        (columns ``start_s, end_s, label``; episodes are then merged with the defaults of
        :func:`afdetect.episodes.merge_episodes`).
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
    >>> write_rhythm_annotations("rec", table)  # doctest: +SKIP
    PosixPath('rec.afd')
    """
    check_annotation_extension(extension)
    info = read_header(record_path)
    if "onset_s" in table_or_episodes.columns:
        episodes = table_or_episodes
    elif "label" in table_or_episodes.columns:
        episodes = merge_episodes(table_or_episodes)
    else:
        raise ValueError("expected an episodes table (onset_s, offset_s) or a per-window table (start_s, end_s, label)")
    directory = info.path.parent if out_dir is None else Path(out_dir)
    target = directory / f"{info.name}.{extension}"
    if extension.lower() == "atr" and directory.resolve() == info.path.parent.resolve():
        raise UsageError(target, "refusing to overwrite the record's reference annotations; use another extension")
    if not directory.is_dir():
        raise UsageError(directory, "annotation output folder does not exist")
    if not writable_folder(directory):
        raise UsageError(directory, "annotation output folder is not writable (choose one with --annotate-dir)")
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
