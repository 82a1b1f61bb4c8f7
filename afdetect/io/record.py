"""One record opened for analysis: the per-record unit of predict, eval, preprocess and plot.

The header is read (and validated) once and the lead chosen once; everything downstream
(windows, reference labels, annotation output) takes the :class:`Record` or its
:class:`~afdetect.io.header.RecordInfo` instead of reading the header again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from afdetect.io.header import RecordInfo, read_header
from afdetect.io.reference import RecordLabels, record_labeller
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
        """Read the header of ``path`` and choose ``lead`` (default: its first ECG lead).

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
