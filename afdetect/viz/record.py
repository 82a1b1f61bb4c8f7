"""Review one record by eye: an ECG strip with its AF windows, or a whole-record overview.

``afdetect plot`` calls :func:`plot_record`. A strip predicts only the windows that overlap
it (on the record's own window grid, so their values are those of a whole-record
``predict``) and draws the selected lead at its own sampling rate; an overview streams the
whole record through :meth:`Predictor.iter_record` (flat memory for a 24 h Holter) and
draws the AF probability of every window against time in hours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from afdetect.config import LABEL_NAMES, OVERVIEW_MIN_S, STRIP_DEFAULT_S, STRIP_MAX_S, STRIP_VIEW_S, UNREADABLE
from afdetect.detect.predictor import WINDOW_COLUMNS, Predictor
from afdetect.errors import AfdetectError, ParameterError, RecordError, internal_error
from afdetect.io.annotations import RhythmInterval, read_rhythm_intervals
from afdetect.io.atomic import check_outputs_apart, check_writable
from afdetect.io.header import RecordInfo
from afdetect.io.record import Record, record_files
from afdetect.io.signals import read_signal
from afdetect.rhythm.episodes import fmt_clock
from afdetect.signal.windows import record_windows
from afdetect.viz.plots import plot_overview, plot_strip


@dataclass(frozen=True)
class PlotResult:
    """What :func:`plot_record` drew.

    Attributes
    ----------
    path : Path
        The PNG written.
    kind : str
        ``strip`` or ``overview``.
    start_s, end_s : float
        Time span drawn (s from record start).
    lead : str
        Name of the lead analysed (and drawn, for a strip).
    table : pandas.DataFrame
        Per-window table of the windows drawn.
    """

    path: Path
    kind: str
    start_s: float
    end_s: float
    lead: str
    table: pd.DataFrame

    def describe(self) -> str:
        """One line for the user, e.g. ``strip of rec (MLII) 0-30 s: 1 window, 0 AF, 0 unreadable``."""
        labels = self.table["label"]
        n = len(labels)
        return (
            f"{self.path}: {self.kind} of {self.table['record'].iloc[0] if n else '?'} ({self.lead}) "
            f"{_fmt_s(self.start_s)}-{_fmt_s(self.end_s)} s: {n} window{'s' if n != 1 else ''}, "
            f"{int((labels == LABEL_NAMES[1]).sum())} AF, {int((labels == UNREADABLE).sum())} unreadable"
        )


def strip_span(
    info: RecordInfo, start_s: float | None, duration_s: float | None, max_s: float = STRIP_MAX_S
) -> tuple[float, float]:
    """Validate ``--start``/``--duration`` against a record; return the span ``(start, end)`` (s).

    Defaults: no ``--start`` is 0 s; no ``--duration`` is ``STRIP_DEFAULT_S`` after a given
    start, else the whole record. A span running past the record's end is cut at the end.

    Raises
    ------
    UsageError
        For a negative start, a start at or beyond the record's end, a duration that is not
        positive, or a strip longer than ``max_s``.

    Example
    -------
    >>> info = RecordInfo(Path("rec"), 250.0, 250 * 60, ["ECG"], ["mV"], [])
    >>> strip_span(info, 50, 30)
    (50.0, 60.0)
    """
    record = info.path.with_suffix(".hea")
    if start_s is not None and not (np.isfinite(start_s) and start_s >= 0):
        raise ParameterError(f"{{start_s}} must be 0 s or more, got {start_s:g} s")
    if duration_s is not None and not (np.isfinite(duration_s) and duration_s > 0):
        raise ParameterError(f"{{duration_s}} must be more than 0 s, got {duration_s:g} s")
    start = 0.0 if start_s is None else float(start_s)
    if start >= info.duration_s:
        raise ParameterError(
            f"{{start_s}} {start:g} s is beyond the end of the record ({info.duration_s:.3f} s long)", record
        )
    if duration_s is None:
        duration_s = STRIP_DEFAULT_S if start_s is not None else info.duration_s - start
    if duration_s > max_s:
        raise ParameterError(
            f"{{duration_s}} {duration_s:g} s is longer than the {max_s:g} s a strip shows; "
            "draw a shorter span or the whole record with {overview}",
            record,
        )
    return start, min(start + float(duration_s), info.duration_s)


def plot_record(
    predictor: Predictor,
    record: str | Path,
    output: str | Path | None = None,
    *,
    start_s: float | None = None,
    duration_s: float | None = None,
    lead: str | int | None = None,
    overview: bool | None = None,
    force: bool = False,
) -> PlotResult:
    """Draw a strip or the overview of one record as PNG.

    Parameters
    ----------
    predictor : Predictor
        The window scorer and threshold.
    record : str or Path
        The record (``rec`` or ``rec.hea``).
    output : str or Path, optional
        PNG to write (default ``NAME_strip.png`` or ``NAME_overview.png`` in the current folder,
        numbered ``NAME_strip-2.png`` ... when taken: a plot never replaces an earlier one).
    start_s, duration_s : float, optional
        Strip span (s); see :func:`strip_span`.
    lead : str or int, optional
        Lead name or index (default: lead II, else the first ECG lead).
    overview : bool, optional
        ``True``: the whole-record overview; ``False``: a strip; ``None``: the overview when
        neither ``start_s`` nor ``duration_s`` is given and the record is longer than
        ``OVERVIEW_MIN_S``, else a strip (the whole record up to ``STRIP_VIEW_S``, else
        ``STRIP_VIEW_S`` from just before the first AF window).
    force : bool
        Replace an existing ``output`` (without it, an existing ``output`` is an error).

    Raises
    ------
    UsageError
        Bad span, span options with the overview, or an unwritable output.
    RecordError
        The record cannot be read or is too short.

    Example
    -------
    >>> plot_record(Predictor.from_weights(), "holter", "h.png", start_s=3600, duration_s=60)  # doctest: +SKIP
    """
    opened = Record.open(record, lead)
    try:
        return _plot_opened(predictor, opened, output, start_s, duration_s, overview, force)
    except AfdetectError:
        raise
    except Exception as exc:  # an unforeseen failure of this record: one line, not a traceback
        raise internal_error(opened.info.path, exc) from exc


def _plot_opened(
    predictor: Predictor,
    opened: Record,
    output: str | Path | None,
    start_s: float | None,
    duration_s: float | None,
    overview: bool | None,
    force: bool = False,
) -> PlotResult:
    """:func:`plot_record` of an opened record."""
    info, lead_index = opened.info, opened.lead_index
    span_given = start_s is not None or duration_s is not None
    if overview and span_given:
        raise ParameterError("{overview} draws the whole record: leave out {start_s} and {duration_s}")
    if overview is None:
        overview = not span_given and info.duration_s > OVERVIEW_MIN_S
    kind = "overview" if overview else "strip"
    if output is not None:  # an input named as output is reported as such, before "exists"
        check_outputs_apart([Path(output)], record_files(info.path))
    path = check_writable(plot_path(info, kind, output, force))
    check_outputs_apart([path], record_files(info.path))
    lead_name = info.sig_names[lead_index]
    title = f"{info.path} ({lead_name}, {info.fs:g} Hz), {predictor.meta.get('model', 'model')}"
    if overview:
        tables = list(predictor.record_tables(opened))
        table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(WINDOW_COLUMNS))
        plot_overview(
            path,
            table,
            predictor.threshold,
            info.duration_s,
            title=f"{title}: whole record",
            reference=_reference(info),
            clock=_clock(info),
        )
        return PlotResult(path, kind, 0.0, info.duration_s, lead_name, table)
    if not span_given and info.duration_s > STRIP_VIEW_S:
        start_s, duration_s = _default_view(predictor, opened), STRIP_VIEW_S
    start, end = strip_span(info, start_s, duration_s)
    batches = list(record_windows(info, lead_index, preprocessing=predictor.preprocessing, span_s=(start, end)))
    tables = [predictor.table(str(info.path), batch, predictor.score(batch)) for batch in batches]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame(columns=list(WINDOW_COLUMNS))
    first, stop = int(round(start * info.fs)), max(int(round(end * info.fs)), int(round(start * info.fs)) + 1)
    signal = read_signal(info, lead_index, first, stop)
    time_s = (first + np.arange(len(signal))) / info.fs
    strip_title = f"{title}: {_fmt_s(start)}-{_fmt_s(end)} s"
    plot_strip(
        path,
        time_s,
        signal,
        table,
        predictor.threshold,
        title=strip_title,
        reference=_reference(info),
        clock=_clock(info),
    )
    return PlotResult(path, kind, start, end, lead_name, table)


def plot_path(info: RecordInfo, kind: str, output: str | Path | None, force: bool = False) -> Path:
    """The PNG to write: ``output`` (refused when it exists, unless ``force``), else the first free
    ``NAME_KIND.png``, ``NAME_KIND-2.png``, ... in the current folder."""
    if output is not None:
        if Path(output).exists() and not force:
            raise ParameterError(f"{{output}} {output} exists; pass {{force}} to replace it")
        return Path(output)
    path, number = Path(f"{info.name}_{kind}.png"), 1
    while path.exists():
        number += 1
        path = Path(f"{info.name}_{kind}-{number}.png")
    return path


def _clock(info: RecordInfo) -> Callable[[float], str] | None:
    """Clock time (``HH:MM:SS``) of a time in s from the record start, when the header gives a base time."""
    if info.base_time is None:
        return None
    return lambda seconds: fmt_clock(seconds, info.base_time)[:8]


def _reference(info: RecordInfo) -> list[RhythmInterval] | None:
    """The record's reference rhythm from its ``.atr``, or ``None`` without a readable one."""
    if not info.path.with_suffix(".atr").is_file():
        return None
    try:
        return read_rhythm_intervals(info)
    except RecordError:
        return None


def _default_view(predictor: Predictor, opened: Record) -> float:
    """Start (s) of the default strip of a short record: a window hop before its first AF window, else 0."""
    table = pd.concat(list(predictor.record_tables(opened)), ignore_index=True)
    af = table.loc[table["label"] == LABEL_NAMES[1], "start_s"]
    if af.empty:
        return 0.0
    start = max(float(af.iloc[0]) - predictor.preprocessing.hop_s, 0.0)
    return min(start, max(opened.info.duration_s - STRIP_VIEW_S, 0.0))


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
