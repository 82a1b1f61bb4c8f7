"""WFDB record I/O: find records, read one lead in mV, read labels.

Labels come from either source:

* rhythm annotations (``.atr`` aux notes such as ``(AFIB``, ``(AFL``, ``(N``), each marking
  where a rhythm starts; it lasts until the next rhythm note or the end of the record. Time
  before the first rhythm note, and a whole record whose annotation file holds no rhythm
  note at all (CPSC 2021 non-AF records), count as non-AF rhythm ``(N``;
* a ``REFERENCE.csv`` of record-level labels (CinC 2017 style: ``N``, ``A``, ``O``, ``~``).
"""

from __future__ import annotations

import csv
import re
import sys
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

from afdetect.errors import RecordError, UsageError

ECG_LEAD_NAMES = frozenset(
    name.lower()
    for name in [
        "I",
        "II",
        "III",
        "aVR",
        "aVL",
        "aVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V6",
        "MLI",
        "MLII",
        "MLIII",
        "ML2",
        "ML5",
        "MV1",
        "MV2",
        "V",
        "ECG",
        "ECG1",
        "ECG2",
        "ECG3",
        "ECG4",
        "CM5",
        "CC5",
        "D1",
        "D2",
        "D3",
        "ECG_I",
        "ECG_II",
        "lead_I",
        "lead_II",
    ]
)
"""Signal names taken for ECG leads when no ``--lead`` is given."""

UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nu": 1.0}
"""Scale factors from a header's unit to mV (``NU``/empty: taken as mV)."""

WFDB_BYTES_PER_SAMPLE: dict[str, float] = {
    "8": 1,
    "16": 2,
    "24": 3,
    "32": 4,
    "61": 2,
    "80": 1,
    "160": 2,
    "212": 1.5,
    "310": 4 / 3,
    "311": 4 / 3,
}
"""Bytes per sample of each uncompressed WFDB signal format (for the file-size check)."""

WFDB_COMPRESSED_FORMATS = ("508", "516", "524")
"""FLAC-compressed WFDB formats: read by ``wfdb``, size not checkable."""

REFERENCE_FILE = "REFERENCE.csv"


@dataclass(frozen=True)
class RecordInfo:
    """A record's header facts.

    Attributes
    ----------
    path : Path
        Record path without extension (``dir/name``).
    fs : float
        Sampling rate (Hz).
    n_samples : int
        Samples per signal.
    sig_names : list of str
        Signal (lead) names.
    units : list of str
        Physical units per signal.
    comments : list of str
        Header comment lines.
    """

    path: Path
    fs: float
    n_samples: int
    sig_names: list[str]
    units: list[str]
    comments: list[str]

    @property
    def name(self) -> str:
        """Record name (file stem)."""
        return self.path.name

    @property
    def duration_s(self) -> float:
        """Record duration (s)."""
        return self.n_samples / self.fs


@dataclass(frozen=True)
class RhythmInterval:
    """A stretch of one rhythm, ``start_s`` inclusive to ``end_s`` exclusive (s)."""

    start_s: float
    end_s: float
    rhythm: str


def record_base(path: str | Path) -> Path:
    """Return the record path without extension for ``rec``, ``rec.hea`` or ``rec.dat``."""
    path = Path(path)
    if path.suffix.lower() in {".hea", ".dat", ".mat", ".atr"}:
        return path.with_suffix("")
    return path


def find_records(inputs: Iterable[str | Path], recursive: bool = False) -> list[Path]:
    """Expand record arguments into record paths (without extension).

    Parameters
    ----------
    inputs : iterable of str or Path
        Each is a record (``rec.hea`` or ``rec``), a directory of records (its ``RECORDS``
        file when present, else every ``*.hea``), a ``RECORDS`` file, or ``-`` for record
        paths read from standard input, one a line.
    recursive : bool
        Search directories recursively for ``*.hea``.

    Returns
    -------
    list of Path
        Record paths in the order given (directories sorted), without duplicates.

    Raises
    ------
    RecordError
        For an input that is neither a record, a directory nor a RECORDS file, or a
        directory that holds no record.

    Example
    -------
    >>> find_records(["../shared/data/cpsc2021"])  # doctest: +SKIP
    [PosixPath('../shared/data/cpsc2021/data_0_1'), ...]
    """
    found: list[Path] = []
    for item in inputs:
        if str(item) == "-":
            lines = [line.strip() for line in sys.stdin]
            found.extend(find_records([line for line in lines if line], recursive))
            continue
        path = Path(item)
        if path.is_dir():
            found.extend(_records_in_directory(path, recursive))
        elif path.is_file() and path.name == "RECORDS":
            found.extend(_records_in_list(path))
        else:
            base = record_base(path)
            if not base.with_suffix(".hea").is_file():
                what = "no such record" if not path.exists() else "not a WFDB record (.hea)"
                raise RecordError(path, f"{what}: expected a .hea header, a directory or RECORDS")
            found.append(base)
    return list(dict.fromkeys(found))


def _records_in_list(records_file: Path) -> list[Path]:
    names = [line.strip() for line in records_file.read_text().splitlines() if line.strip()]
    return [record_base(records_file.parent / name) for name in names]


def _records_in_directory(directory: Path, recursive: bool) -> list[Path]:
    if not recursive and (directory / "RECORDS").is_file():
        records = _records_in_list(directory / "RECORDS")
    else:
        pattern = "**/*.hea" if recursive else "*.hea"
        records = sorted(record_base(p) for p in directory.glob(pattern))
    if not records:
        raise RecordError(directory, "directory holds no WFDB record (*.hea)")
    return records


def read_header(path: str | Path) -> RecordInfo:
    """Read and validate a record's header, and check its signal files against it.

    Besides what ``wfdb`` parses, this checks what ``wfdb`` lets through or reports
    vaguely: record and signal lines must be text, the record line must declare a
    positive sampling frequency (Hz) and a whole, positive number of samples, the number
    of signal lines must match the declared number of signals, every signal format must
    be one ``wfdb`` reads, and every signal file must exist and hold at least the bytes
    the header declares (so a truncated file fails here, before any window is produced).

    Raises
    ------
    RecordError
        When the header is missing, unreadable or holds impossible values, or a signal
        file is missing or shorter than the header declares.

    Example
    -------
    >>> read_header("../shared/data/cinc2017/A00001.hea").fs  # doctest: +SKIP
    300.0
    """
    base = record_base(path)
    header = base.with_suffix(".hea")
    if not header.is_file():
        raise RecordError(header, "header file not found")
    lines = _header_lines(header)
    n_sig, n_seg = _check_record_line(header, lines[0])
    if n_seg is None and len(lines) - 1 != n_sig:
        raise RecordError(
            header, f"record line declares {n_sig} signals but the header has {len(lines) - 1} signal lines"
        )
    for number, line in enumerate(lines[1:] if n_seg is None else [], 1):
        fields = line.split()
        if len(fields) < 2 or _FORMAT_FIELD.fullmatch(fields[1]) is None:
            got = repr(fields[1]) if len(fields) > 1 else "nothing"
            raise RecordError(
                header, f"signal line {number}: format must be a WFDB format number such as 16, got {got}"
            )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            head = wfdb.rdheader(str(base))
    except Exception as exc:  # wfdb raises many types for malformed headers
        raise RecordError(header, f"unreadable header: {_describe(exc)}") from None
    fs = head.fs
    if fs is None or not np.isfinite(fs) or fs <= 0:
        raise RecordError(header, f"sampling frequency must be positive, got {fs}")
    if not head.n_sig or not head.sig_name:
        raise RecordError(header, "header declares no signals")
    if head.sig_len is None or head.sig_len <= 0:
        raise RecordError(header, f"header declares {head.sig_len} samples per signal")
    if n_seg is None:
        _check_signal_files(header, base, head)
    return RecordInfo(
        path=base,
        fs=float(fs),
        n_samples=int(head.sig_len),
        sig_names=list(head.sig_name),
        units=[u or "mV" for u in (head.units or ["mV"] * head.n_sig)],
        comments=list(head.comments or []),
    )


def _header_lines(header: Path) -> list[str]:
    """Non-comment lines of a header, decoded; raise naming the first undecodable byte."""
    raw = header.read_bytes()
    lines = []
    for number, line in enumerate(raw.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue  # comments may hold any bytes; wfdb ignores what it cannot decode
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise RecordError(
                header,
                f"header is not text: line {number} holds byte 0x{line[exc.start]:02x} "
                f"at column {exc.start + 1} (not ASCII/UTF-8)",
            ) from None
    if not lines:
        raise RecordError(header, "header is empty (no record line)")
    return lines


_FS_FIELD = re.compile(r"(\d+\.?\d*|\.\d+)(/.*)?")
"""Record-line sampling-frequency field: ``FS``, ``FS/COUNTER`` or ``FS/COUNTER(BASE)``."""

_FORMAT_FIELD = re.compile(r"\d+(x\d+)?(:\d+)?(\+\d+)?")
"""Signal-line format field: ``FMT[xSAMPLES_PER_FRAME][:SKEW][+BYTE_OFFSET]``."""


def _check_record_line(header: Path, line: str) -> tuple[int, int | None]:
    """Validate the record line's leading fields; return (signals, segments or None)."""
    fields = line.split()
    segments = fields[0].partition("/")[2]
    if segments and not segments.isdigit():
        raise RecordError(header, f"record line: number of segments {segments!r} is not a whole number")
    if len(fields) < 2 or not fields[1].isdigit():
        raise RecordError(header, f"not a WFDB record line (expected 'NAME SIGNALS FS SAMPLES'): {line[:40]!r}")
    n_sig = int(fields[1])
    if n_sig == 0:
        raise RecordError(header, "header declares no signals")
    if len(fields) < 3:
        raise RecordError(header, "record line declares no sampling frequency")
    fs = _FS_FIELD.fullmatch(fields[2])
    if fs is None or float(fs.group(1)) <= 0:
        raise RecordError(header, f"sampling frequency must be a positive number (Hz), got {fields[2]!r}")
    if len(fields) < 4:
        raise RecordError(header, "record line declares no number of samples per signal")
    if not fields[3].isdigit():
        raise RecordError(header, f"number of samples per signal must be a whole number, got {fields[3]!r}")
    if int(fields[3]) == 0:
        raise RecordError(header, "header declares 0 samples per signal")
    return n_sig, int(segments) if segments else None


def _check_signal_files(header: Path, base: Path, head: wfdb.Record) -> None:
    """Check formats, and that each signal file exists and holds the bytes the header declares."""
    for i, fmt in enumerate(head.fmt):
        if fmt not in WFDB_BYTES_PER_SAMPLE and fmt not in WFDB_COMPRESSED_FORMATS:
            known = ", ".join([*WFDB_BYTES_PER_SAMPLE, *WFDB_COMPRESSED_FORMATS])
            raise RecordError(header, f"signal {head.sig_name[i]!r} has unknown WFDB format {fmt!r} (known: {known})")
    signals_of_file: dict[str, list[int]] = {}
    for i, file_name in enumerate(head.file_name):
        signals_of_file.setdefault(file_name, []).append(i)
    for file_name, signals in signals_of_file.items():
        if file_name.startswith("~"):
            continue  # "~": signal not stored in a file
        data = base.parent / file_name
        if not data.is_file():
            raise RecordError(data, "signal file not found (named in the header)")
        if any(head.fmt[i] in WFDB_COMPRESSED_FORMATS for i in signals):
            continue  # FLAC: size says nothing about length
        frame_bytes = sum(WFDB_BYTES_PER_SAMPLE[head.fmt[i]] * (head.samps_per_frame[i] or 1) for i in signals)
        offset = max(head.byte_offset[i] or 0 for i in signals)
        need = offset + int(head.sig_len * frame_bytes)
        size = data.stat().st_size
        if size < need:
            whole = int(max(size - offset, 0) // frame_bytes)
            mid = max(size - offset, 0) % frame_bytes and frame_bytes == int(frame_bytes)
            raise RecordError(
                data,
                f"signal file is truncated: header declares {head.sig_len} samples x {len(signals)} signal(s) "
                f"= {need} bytes, the file holds {size} bytes ({whole} whole samples"
                + (", ends mid-sample)" if mid else ")"),
            )


def select_lead(info: RecordInfo, lead: str | int | None = None) -> int:
    """Return the index of the lead to analyse.

    Parameters
    ----------
    info : RecordInfo
        The record's header.
    lead : str or int or None
        A signal name (case-insensitive) or 0-based index; ``None`` picks the first ECG
        lead (by name, else the first signal in mV units).

    Raises
    ------
    RecordError
        When the named lead does not exist or the record has no ECG lead.
    """
    names = info.sig_names
    if lead is None:
        for i, name in enumerate(names):
            if name.strip().lower() in ECG_LEAD_NAMES:
                return i
        for i, unit in enumerate(info.units):
            if unit.strip().lower() in {"mv", "uv", "µv", "μv"}:
                return i
        raise RecordError(
            info.path.with_suffix(".hea"),
            f"no ECG lead among signals {names}; choose one with --lead",
        )
    if isinstance(lead, int) or str(lead).isdigit():
        index = int(lead)
        if not 0 <= index < len(names):
            raise RecordError(
                info.path.with_suffix(".hea"),
                f"lead index {index} out of range 0..{len(names) - 1} (signals {names})",
            )
        return index
    lowered = [n.strip().lower() for n in names]
    if str(lead).lower() not in lowered:
        raise RecordError(info.path.with_suffix(".hea"), f"no lead named {lead!r} (signals {names})")
    return lowered.index(str(lead).lower())


def read_signal(info: RecordInfo, lead_index: int, sampfrom: int = 0, sampto: int | None = None) -> np.ndarray:
    """Read one lead in mV, samples ``sampfrom`` to ``sampto``; invalid samples are NaN.

    Returns
    -------
    numpy.ndarray
        1-D float32 signal (mV).

    Raises
    ------
    RecordError
        When the signal file is missing, truncated or unreadable.
    """
    sampto = info.n_samples if sampto is None else min(sampto, info.n_samples)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = wfdb.rdrecord(str(info.path), sampfrom=sampfrom, sampto=sampto, channels=[lead_index])
    except FileNotFoundError as exc:
        raise RecordError(info.path, f"signal file missing: {Path(exc.filename or '').name}") from None
    except Exception as exc:
        raise RecordError(info.path, f"unreadable signal file: {_describe(exc)}") from None
    signal = rec.p_signal
    if signal is None or signal.shape[0] != sampto - sampfrom:
        got = 0 if signal is None else signal.shape[0]
        raise RecordError(
            info.path,
            f"signal file is truncated: header declares {info.n_samples} samples, read {sampfrom + got}",
        )
    unit = info.units[lead_index].strip().lower()
    scale = UNIT_TO_MV.get(unit, 1.0)
    return (signal[:, 0] * scale).astype(np.float32)


def read_rhythm_intervals(path: str | Path, extension: str = "atr") -> list[RhythmInterval]:
    """Read rhythm intervals from a record's annotation file.

    Parameters
    ----------
    path : str or Path
        Record path (with or without ``.hea``).
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
    info = read_header(path)
    ann_file = info.path.with_suffix(f".{extension}")
    if not ann_file.is_file():
        raise RecordError(ann_file, "annotation file not found")
    _check_annotation_file(ann_file)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ann = wfdb.rdann(str(info.path), extension)
    except Exception as exc:
        raise RecordError(ann_file, f"corrupt annotation file: {_describe(exc)}") from None
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


def _describe(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
