"""WFDB headers: read and validate a record's header, with byte-level messages for broken files.

:func:`read_header` gives a :class:`RecordInfo` (name, sampling rate, length, signals, units),
checked against the signal files it names before any sample is read.
"""

from __future__ import annotations

import datetime
import re
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb

from afdetect.config import FS_RANGE_HZ, HEADER_MAX_BYTES
from afdetect.errors import RecordError
from afdetect.io.find import record_base

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
    base_time : datetime.time or None
        Clock time of the first sample, when the header gives one.
    base_date : datetime.date or None
        Date of the first sample, when the header gives one.
    """

    path: Path
    fs: float
    n_samples: int
    sig_names: list[str]
    units: list[str]
    comments: list[str]
    base_time: datetime.time | None = None
    base_date: datetime.date | None = None

    @property
    def name(self) -> str:
        """Record name (file stem)."""
        return self.path.name

    @property
    def duration_s(self) -> float:
        """Record duration (s)."""
        return self.n_samples / self.fs


def read_header(path: str | Path, *, _depth: int = 0) -> RecordInfo:
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
    _check_regular_file(header, "header file")
    size = header.stat().st_size
    if size > HEADER_MAX_BYTES:
        raise RecordError(
            header, f"header is {size} bytes, more than the {HEADER_MAX_BYTES:,} bytes a WFDB header can plausibly be"
        )
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
        raise RecordError(header, f"unreadable header: {describe_error(exc)}") from None
    _check_fs(header, head.fs)
    if head.sig_len is None or head.sig_len <= 0:
        raise RecordError(header, f"header declares {head.sig_len} samples per signal")
    if n_seg is None:
        if not head.n_sig or not head.sig_name:
            raise RecordError(header, "header declares no signals")
        _check_signal_files(header, base, head)
        sig_names, units = list(head.sig_name), list(head.units or ["mV"] * head.n_sig)
    else:
        sig_names, units = _segment_signals(header, base, head, lines, _depth)
    return RecordInfo(
        path=base,
        fs=float(head.fs),
        n_samples=int(head.sig_len),
        sig_names=sig_names,
        units=[u or "mV" for u in units],
        comments=list(head.comments or []),
        base_time=head.base_time if isinstance(head.base_time, datetime.time) else None,
        base_date=head.base_date if isinstance(head.base_date, datetime.date) else None,
    )


def _check_fs(header: Path, fs: float | None) -> None:
    """Refuse a sampling rate that is not positive, or outside ``FS_RANGE_HZ``."""
    if fs is None or not np.isfinite(fs) or fs <= 0:
        raise RecordError(header, f"sampling frequency must be positive, got {fs}")
    low, high = FS_RANGE_HZ
    if not low <= fs <= high:
        raise RecordError(
            header,
            f"sampling frequency {fs:g} Hz is outside the {low:g} Hz to {high / 1000:g} kHz an ECG can be analysed at",
        )


def _segment_signals(
    header: Path, base: Path, head: wfdb.MultiRecord, lines: list[str], depth: int
) -> tuple[list[str], list[str]]:
    """Signal names and units of a multi-segment record; every segment is checked as a record of its own.

    ``wfdb`` reads such a record segment by segment (only those a span touches). Each segment
    must exist beside the header, must not be the record itself nor multi-segment in turn, and
    must hold the samples its line declares; the segments together hold the record's samples.
    Names and units come from the layout segment (variable layout) or the first segment (fixed).
    """
    if depth > 0:
        raise RecordError(header, "a segment is itself a multi-segment record (WFDB allows one level)")
    if len(lines) - 1 != head.n_seg:
        raise RecordError(
            header, f"record line declares {head.n_seg} segments but the header has {len(lines) - 1} segment lines"
        )
    signals: tuple[list[str], list[str]] | None = None
    total = 0
    for number, (name, length) in enumerate(zip(head.seg_name, head.seg_len, strict=True), 1):
        total += length
        if name == "~":  # a gap: no signal
            continue
        if name == base.name:
            raise RecordError(header, f"segment {number} ({name!r}) is the record itself: the layout refers to itself")
        if not (base.parent / f"{name}.hea").exists():
            raise RecordError(header, f"segment {number} ({name!r}) not found: no {name}.hea beside the header")
        if number == 1 and length == 0 and head.layout == "variable":
            signals = _layout_signals(base.parent / f"{name}.hea")
            continue
        info = read_header(base.parent / name, _depth=depth + 1)
        if info.n_samples != length:
            raise RecordError(
                header, f"segment {number} ({name!r}) holds {info.n_samples} samples, the header declares {length}"
            )
        signals = signals or (info.sig_names, info.units)
    if total != head.sig_len:
        raise RecordError(header, f"segments hold {total} samples, the record line declares {head.sig_len}")
    if signals is None:
        raise RecordError(header, "header declares no signals (every segment is a gap)")
    return signals


def _layout_signals(layout: Path) -> tuple[list[str], list[str]]:
    """Signal names and units of a variable-layout record's layout segment (its header only)."""
    _check_regular_file(layout, "layout header")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            head = wfdb.rdheader(str(layout.with_suffix("")))
    except Exception as exc:  # wfdb raises many types for malformed headers
        raise RecordError(layout, f"unreadable layout header: {describe_error(exc)}") from None
    if not head.n_sig or not head.sig_name:
        raise RecordError(layout, "layout header declares no signals")
    return list(head.sig_name), list(head.units or ["mV"] * head.n_sig)


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
        _check_regular_file(data, "signal file", " (named in the header)")
        if data.suffix.lower() == ".mat":
            _check_mat_file(data)
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


def _check_regular_file(path: Path, what: str, where: str = "") -> None:
    """Refuse a missing file, or one that is no regular file (a FIFO, a device such as /dev/zero, a folder)."""
    if path.is_file():
        return
    try:
        mode = path.stat().st_mode
    except (OSError, ValueError):
        raise RecordError(path, f"{what} not found{where}") from None
    kind = "a FIFO" if stat.S_ISFIFO(mode) else "a folder" if stat.S_ISDIR(mode) else "a device or socket"
    raise RecordError(path, f"{what} is {kind}, not a regular file{where}")


MAT_V4_BYTES = {0: 8, 1: 4, 2: 4, 3: 2, 4: 2, 5: 1}
"""Bytes per element of each MATLAB level-4 precision code (double, single, int32, int16, uint16, uint8)."""


def _check_mat_file(path: Path) -> None:
    """Check that a ``.mat`` signal file is a MATLAB file as WFDB writes it (level 4, or level 5).

    A level-4 file (what ``wfdb2mat`` and PhysioNet's ``.mat`` records hold) starts with five
    32-bit numbers, type, rows, columns, imaginary flag and name length, and its size is
    exactly that header, the name and rows x columns elements.
    """
    size = path.stat().st_size
    with path.open("rb") as handle:
        head = handle.read(128)
    if head.startswith(b"MATLAB 5.0 MAT-file"):
        return
    shape = _mat_v4_shape(head)
    if shape is None:
        raise RecordError(path, f"not a MATLAB file as WFDB writes it (starts with {head[:8]!r})")
    rows, cols, element, name_len = shape
    need = 20 + name_len + rows * cols * element
    if need != size:
        raise RecordError(
            path,
            f"signal file does not match its MATLAB header: {rows} x {cols} samples of {element} bytes "
            f"need {need} bytes, the file holds {size} bytes",
        )


def _mat_v4_shape(head: bytes) -> tuple[int, int, int, int] | None:
    """``(rows, columns, bytes per element, name length)`` of a MATLAB level-4 header, else ``None``."""
    if len(head) < 20:
        return None
    for order, machine in (("<", 0), (">", 1)):
        kind, rows, cols, imaginary, name_len = np.frombuffer(head[:20], dtype=f"{order}i4").tolist()
        m, rest = divmod(kind, 1000)
        precision = rest // 10 % 10
        plain = (m, rest // 100, rest % 10, imaginary) == (machine, 0, 0, 0)
        if plain and precision in MAT_V4_BYTES and 0 < name_len <= 64 and min(rows, cols) >= 0:
            return rows, cols, MAT_V4_BYTES[precision], name_len
    return None


def describe_error(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
