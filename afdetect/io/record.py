"""One record opened for analysis: the per-record unit of predict, eval, preprocess and plot.

The header is read (and validated) once and the lead chosen once; everything downstream
(windows, reference labels, annotation output) takes the :class:`Record` or its
:class:`~afdetect.io.header.RecordInfo` instead of reading the header again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from afdetect.config import HEADER_MAX_BYTES
from afdetect.io.find import record_base
from afdetect.io.header import RecordInfo, read_header
from afdetect.io.reference import REFERENCE_FILE, RecordLabels, record_labeller
from afdetect.io.signals import select_lead


@dataclass(frozen=True)
class Record:
    """A record's header and the index of the lead to analyse.

    Example
    -------
    >>> record = Record.open("../shared/data/cinc2017/A00001")  # doctest: +SKIP
    >>> record.info.fs, record.lead_index  # doctest: +SKIP
    (300.0, 0)
    """

    info: RecordInfo
    lead_index: int

    @classmethod
    def open(cls, path: str | Path, lead: str | int | None = None) -> Record:
        """Read the header of ``path`` and choose ``lead`` (default: lead II, else its first ECG lead).

        Raises
        ------
        RecordError
            When the header cannot be read or names no such lead.
        """
        info = read_header(path)
        return cls(info, select_lead(info, lead))

    def labels(self, references: dict[Path, dict[str, str]]) -> RecordLabels:
        """Reference labels (see :func:`afdetect.io.reference.record_labeller`), without reading the header again."""
        return record_labeller(self.info, references)


def record_files(record: str | Path, *, _depth: int = 0) -> list[Path]:
    """The files a record is read from: header, the signal files (or segments) it names, ``.atr``, ``REFERENCE.csv``.

    Used to refuse outputs that would replace a run's inputs; the header is not validated
    here (a header that cannot be read names only its own files).

    Example
    -------
    >>> [p.name for p in record_files("../shared/data/cinc2017/A00001")]  # doctest: +SKIP
    ['A00001.hea', 'A00001.atr', 'REFERENCE.csv', 'A00001.mat']
    """
    base = record_base(record)
    header = base.with_suffix(".hea")
    files = [header, base.with_suffix(".atr"), base.parent / REFERENCE_FILE]
    try:
        if not header.is_file() or header.stat().st_size > HEADER_MAX_BYTES:
            return files
        lines = [line.split() for line in header.read_bytes().decode("utf-8").splitlines()]
    except (OSError, UnicodeDecodeError):  # not a readable text header: read_header says why
        return files
    lines = [fields for fields in lines if fields and not fields[0].startswith("#")]
    multi_segment = bool(lines) and "/" in lines[0][0]
    for fields in lines[1:]:
        name = fields[0]
        if "\0" in name:
            continue
        if not multi_segment:
            files.append(base.parent / name)
        elif name != "~" and name != base.name and _depth < 1:
            files.extend(record_files(base.parent / name, _depth=_depth + 1))
    return files


def input_files(records: Iterable[str | Path]) -> list[Path]:
    """:func:`record_files` of every record: the files a run over ``records`` reads."""
    return [path for record in records for path in record_files(record)]
