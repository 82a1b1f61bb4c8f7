"""Reference labels: ``REFERENCE.csv`` and rhythm intervals turned into window and record labels.

Labels come from either source:

* rhythm annotations (``.atr`` aux notes such as ``(AFIB``, ``(AFL``, ``(N``; see
  :func:`afdetect.io.annotations.read_rhythm_intervals`);
* a ``REFERENCE.csv`` of record-level labels (CinC 2017 style: ``N``, ``A``, ``O``, ``~``).

Window labels from rhythm intervals:

* AF (1) when at least ``AF_MIN_FRACTION`` of the window's signal lies in AF;
* non-AF (0) when at most ``NON_AF_MAX_FRACTION`` lies in AF and none in atrial flutter;
* ``IGNORE_LABEL`` (-1) otherwise: the window straddles a rhythm change or touches
  flutter (flutter is neither AF nor clean non-AF, and EC57 leaves it out of AF
  statistics). Such windows are kept out of training and window-level metrics.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from afdetect.config import (
    AF_MIN_FRACTION,
    AF_RHYTHMS,
    CINC_LABEL_MAP,
    FLUTTER_RHYTHMS,
    IGNORE_LABEL,
    LABEL_NAMES,
    NON_AF_MAX_FRACTION,
)
from afdetect.errors import RecordError, UsageError
from afdetect.io.annotations import RhythmInterval, read_rhythm_intervals
from afdetect.io.header import RecordInfo

REFERENCE_FILE = "REFERENCE.csv"


def read_reference_labels(directory: str | Path) -> dict[str, str]:
    """Read a CinC-2017-style ``REFERENCE.csv`` (``record,label`` lines, no header).

    Returns
    -------
    dict
        Record name to label (``N``, ``A``, ``O`` or ``~``); empty when there is no file.
    """
    ref = Path(directory) / REFERENCE_FILE
    if not ref.is_file():
        return {}
    labels = {}
    with ref.open(newline="") as handle:
        for row in csv.reader(handle):
            if len(row) >= 2 and row[0].strip():
                labels[row[0].strip()] = row[1].strip()
    if not labels:
        raise UsageError(ref, "holds no 'record,label' lines")
    return labels


def af_fractions(
    start_s: np.ndarray, end_s: np.ndarray, intervals: Sequence[RhythmInterval]
) -> tuple[np.ndarray, np.ndarray]:
    """Fraction of each window ``[start_s, end_s)`` spent in AF and in atrial flutter."""
    start_s, end_s = np.asarray(start_s, float), np.asarray(end_s, float)
    duration = np.maximum(end_s - start_s, 1e-9)
    af = np.zeros(len(start_s))
    flutter = np.zeros(len(start_s))
    for iv in intervals:
        overlap = np.clip(np.minimum(end_s, iv.end_s) - np.maximum(start_s, iv.start_s), 0, None)
        if iv.rhythm in AF_RHYTHMS:
            af += overlap
        elif iv.rhythm in FLUTTER_RHYTHMS:
            flutter += overlap
    return af / duration, flutter / duration


def label_windows(start_s: np.ndarray, end_s: np.ndarray, intervals: Sequence[RhythmInterval]) -> np.ndarray:
    """Label windows from rhythm intervals: 1 AF, 0 non-AF, ``IGNORE_LABEL`` mixed/flutter.

    Example
    -------
    >>> from afdetect.io.annotations import RhythmInterval
    >>> ivs = [RhythmInterval(0, 40, "(N"), RhythmInterval(40, 100, "(AFIB")]
    >>> label_windows(np.array([0, 15, 30, 45]), np.array([30, 45, 60, 75]), ivs).tolist()
    [0, -1, -1, 1]
    """
    af, flutter = af_fractions(start_s, end_s, intervals)
    labels = np.full(len(af), IGNORE_LABEL, dtype=np.int64)
    labels[(af >= AF_MIN_FRACTION)] = 1
    labels[(af <= NON_AF_MAX_FRACTION) & (flutter == 0)] = 0
    return labels


def record_af_truth(record_index: np.ndarray, labels: np.ndarray, n_records: int) -> np.ndarray:
    """Record-level AF truth ``(n_records,)``: 1 when any window of the record is labelled AF.

    Example
    -------
    >>> record_af_truth(np.array([0, 0, 1, 2]), np.array([0, 1, 0, -1]), 3).tolist()
    [1, 0, 0]
    """
    target = np.zeros(n_records, dtype=np.int64)
    np.maximum.at(target, record_index, (labels == 1).astype(np.int64))
    return target


def record_key(path: Path) -> str:
    """Name a record by its folder and stem (``cinc2017/A00001``) so sources stay apart."""
    return f"{path.parent.name}/{path.name}"


@dataclass(frozen=True)
class RecordLabels:
    """Reference labels of one record: the window labeller, the record-level label and its rhythm."""

    label_windows: Callable[[np.ndarray, np.ndarray], np.ndarray]
    """Maps window starts and ends (s) to labels (1 AF, 0 non-AF, ``IGNORE_LABEL``)."""
    source_label: str
    """``AF``/``non-AF`` from rhythm annotations, else the ``REFERENCE.csv`` label (``A``, ``N``, ...)."""
    rhythm: list[RhythmInterval] | None
    """The ``.atr`` rhythm intervals; ``None`` for a record labelled by ``REFERENCE.csv``."""


def record_labeller(record: RecordInfo | Path, references: dict[Path, dict[str, str]]) -> RecordLabels:
    """Reference labels of one record, from its ``.atr`` rhythm annotations or a ``REFERENCE.csv`` beside it.

    ``record`` is the record's header (read once by the caller, see
    :class:`afdetect.io.record.Record`) or its path. ``references`` caches the
    ``REFERENCE.csv`` of each folder already read (pass the same dict for every record of a run).

    Raises
    ------
    RecordError
        When the record has neither annotations nor a known ``REFERENCE.csv`` label.

    Example
    -------
    >>> labels = record_labeller(Path("../shared/data/cinc2017/A00004"), {})  # doctest: +SKIP
    >>> labels.source_label, labels.label_windows(np.array([0.0]), np.array([30.0]))  # doctest: +SKIP
    ('A', array([1]))
    """
    path = record.path if isinstance(record, RecordInfo) else Path(record)
    if path.with_suffix(".atr").is_file():
        intervals = read_rhythm_intervals(record)
        has_af = any(iv.rhythm in AF_RHYTHMS for iv in intervals)
        return RecordLabels(lambda s, e: label_windows(s, e, intervals), LABEL_NAMES[int(has_af)], intervals)
    if path.parent not in references:
        references[path.parent] = read_reference_labels(path.parent)
    label = references[path.parent].get(path.name)
    if label is None:
        raise RecordError(path, "no label: no .atr annotation and not in REFERENCE.csv")
    if label not in CINC_LABEL_MAP:
        raise RecordError(path, f"unknown REFERENCE.csv label {label!r}; expected one of {list(CINC_LABEL_MAP)}")
    cls = CINC_LABEL_MAP[label]
    return RecordLabels(lambda s, e: np.full(len(s), cls, dtype=np.int64), label, None)
