"""Per-window rows as plain arrays: what a record's chunk of windows becomes once scored.

:class:`WindowRows` holds the columns of the per-window table (``WINDOW_COLUMNS``) of one
record, or of a chunk of one, as NumPy arrays. It is what the many-records path
(:mod:`afdetect.detect.stream`) hands out: writing its rows as CSV or JSON lines, and the
burden bookkeeping (:class:`afdetect.rhythm.burden.BurdenReport`), need no DataFrame.
:meth:`WindowRows.to_frame` gives the same table as
:meth:`afdetect.detect.predictor.Predictor.table`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from afdetect.io.header import RecordInfo

WINDOW_COLUMNS = ("record", "start_s", "end_s", "label", "p_af", "problem")
"""Columns of the per-window table (see :mod:`afdetect.detect.predictor`)."""


@dataclass(frozen=True)
class WindowRows:
    """Consecutive per-window rows of one record, column by column.

    Attributes
    ----------
    record : str
        Record path as given, without extension.
    start_s, end_s : numpy.ndarray
        Window start and end of real signal (s, rounded to 1 ms).
    label : numpy.ndarray
        ``AF``, ``non-AF`` or ``unreadable`` (object array).
    p_af : numpy.ndarray
        AF probability rounded to 1e-4; NaN for unreadable windows.
    problem : numpy.ndarray
        Why a window is unreadable, else ``""`` (object array).
    info : RecordInfo or None
        The record's header facts, when known (spares readers of the rows a second header read).

    Example
    -------
    >>> rows = WindowRows("r", np.array([0.0]), np.array([30.0]), np.array(["AF"], object), np.array([0.9]),
    ...                   np.array([""], object))
    >>> rows.text()
    'r,0.0,30.0,AF,0.9,\\n'
    """

    record: str
    start_s: np.ndarray
    end_s: np.ndarray
    label: np.ndarray
    p_af: np.ndarray
    problem: np.ndarray
    info: RecordInfo | None = None

    def __len__(self) -> int:
        return len(self.start_s)

    def __getitem__(self, column: str) -> np.ndarray:
        """One column as an array (``record`` repeated), as ``table[column]`` of a DataFrame."""
        if column == "record":
            return np.full(len(self), self.record, dtype=object)
        if column not in WINDOW_COLUMNS:
            raise KeyError(column)
        return getattr(self, column)

    @property
    def columns(self) -> tuple[str, ...]:
        """The column names, as a DataFrame's ``columns``."""
        return WINDOW_COLUMNS

    def to_frame(self) -> pd.DataFrame:
        """The rows as a per-window DataFrame (columns ``WINDOW_COLUMNS``)."""
        return pd.DataFrame(
            {
                "record": self.record,
                "start_s": self.start_s,
                "end_s": self.end_s,
                "label": self.label,
                "p_af": self.p_af,
                "problem": list(self.problem),
            },
            columns=list(WINDOW_COLUMNS),
        )

    def text(self, output_format: str = "csv") -> str:
        """The rows as CSV lines without header (as ``DataFrame.to_csv``), or JSON lines (``jsonl``)."""
        if output_format == "jsonl":
            return "".join(
                json.dumps(
                    {
                        "record": self.record,
                        "start_s": start,
                        "end_s": end,
                        "label": label,
                        "p_af": None if p != p else p,  # NaN: null
                        "problem": problem,
                    },
                    separators=(",", ":"),
                )
                + "\n"
                for start, end, label, p, problem in zip(
                    self.start_s.tolist(),
                    self.end_s.tolist(),
                    self.label,
                    self.p_af.tolist(),
                    self.problem,
                    strict=True,
                )
            )
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows(
            zip(
                [self.record] * len(self),
                _float_strings(self.start_s),
                _float_strings(self.end_s),
                self.label,
                _float_strings(self.p_af),
                self.problem,
                strict=True,
            )
        )
        return out.getvalue()

    @classmethod
    def concat(cls, parts: Sequence[WindowRows]) -> WindowRows:
        """The rows of several chunks of one record, in order (at least one chunk)."""
        if len(parts) == 1:
            return parts[0]
        return cls(
            parts[0].record,
            *(np.concatenate([getattr(p, name) for p in parts]) for name in WINDOW_COLUMNS[1:]),
            info=parts[0].info,
        )


def _float_strings(values: np.ndarray) -> list[str]:
    """Floats as ``DataFrame.to_csv`` writes them: shortest round-trip text, ``""`` for NaN."""
    return ["" if v != v else repr(v) for v in values.tolist()]
