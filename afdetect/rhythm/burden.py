"""Per-record AF episodes, burden summaries and annotation files of a ``predict`` run.

:class:`BurdenReport` receives each record's whole per-window rows as prediction finishes
it (one row per 15 s of signal: about 5,800 rows for 24 h, so keeping them is cheap even when
the CSV itself is streamed), merges its episodes, summarises its burden and, when asked,
writes its WFDB rhythm annotation file at once. Rows arrive as plain arrays
(:class:`~afdetect.detect.rows.WindowRows`, with the record's header facts), so a folder of
short strips costs no DataFrame and no second header read per record; a per-window DataFrame
is taken too. The episodes CSV and the summary (JSON, or
CSV when its name ends in ``.csv``) are written at the end, atomically; every episode row and
every record's summary carries the run's provenance (``PROVENANCE_KEYS``: afdetect version,
model, weights sha256, threshold).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afdetect.config import LABEL_NAMES
from afdetect.detect.rows import WindowRows
from afdetect.errors import ParameterError, UsageError
from afdetect.io.annotations import check_annotation_extension, writable_folder, write_rhythm_annotations
from afdetect.io.atomic import atomic_open, check_writable, write_json
from afdetect.io.find import record_base
from afdetect.io.header import RecordInfo, read_header
from afdetect.rhythm.episodes import (
    EPISODE_COLUMNS,
    SUMMARY_KEYS,
    TIME_COLUMNS,
    episode_bounds,
    merge_episodes,
    summarise_record,
    summarise_windows,
    with_times,
)

PROVENANCE_KEYS = ("afdetect_version", "model", "weights_sha256", "threshold")
"""What produced a result (``Predictor.provenance``), added to episode rows and summaries."""


@dataclass
class BurdenReport:
    """Collects episodes and summaries record by record; writes annotation files as it goes.

    Attributes
    ----------
    annotate : str or None
        Annotation extension to write per record (``None``: no annotation files).
    annotate_dir : Path or None
        Folder for annotation files (``None``: next to each record).
    episodes : list of pandas.DataFrame
        Episodes of each record added so far that has any.
    summaries : list of dict
        Summary of each record added so far (:func:`afdetect.rhythm.episodes.summarise_record`).
    annotation_files : list of Path
        Annotation files written so far.
    provenance : dict
        Keys ``PROVENANCE_KEYS`` (``Predictor.provenance()``) written beside every episode and
        summary; empty: none.

    Example
    -------
    >>> report = BurdenReport(annotate="afd")  # doctest: +SKIP
    >>> predict_to_csv(predictor, ["rec"], "out.csv", on_record=report.add)  # doctest: +SKIP
    >>> report.write_summary("summary.json")  # doctest: +SKIP
    """

    annotate: str | None = None
    annotate_dir: Path | None = None
    episodes: list[pd.DataFrame] = field(default_factory=list)
    summaries: list[dict[str, Any]] = field(default_factory=list)
    annotation_files: list[Path] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)

    def add(self, record: str | Path, table: WindowRows | pd.DataFrame) -> None:
        """Merge, summarise (and annotate) one record from all its rows (or its per-window table)."""
        if not isinstance(table, WindowRows):
            self._add_table(record, table)
            return
        labels = table.label
        onsets, offsets = episode_bounds(table.start_s, table.end_s, labels == LABEL_NAMES[1])
        onsets, offsets = np.round(onsets, 3), np.round(offsets, 3)  # as the episodes table holds them
        self.summaries.append(summarise_windows(table.record, table.start_s, table.end_s, labels, onsets, offsets))
        if len(onsets) == 0 and not self.annotate:
            return
        episodes = pd.DataFrame(
            {"record": [table.record] * len(onsets), "onset_s": onsets, "offset_s": offsets},
            columns=list(EPISODE_COLUMNS),
        ).assign(duration_s=np.round(offsets - onsets, 3))
        self._keep(table.info or read_header(record), episodes)

    def _add_table(self, record: str | Path, table: pd.DataFrame) -> None:
        episodes = merge_episodes(table)
        self.summaries.append(summarise_record(table, episodes))
        self._keep(read_header(record), episodes)  # already read once by the prediction: it is valid

    def _keep(self, info: RecordInfo, episodes: pd.DataFrame) -> None:
        """Keep a record's episodes (with times) and write its annotation file when asked."""
        if not episodes.empty:
            self.episodes.append(with_times(episodes, info.base_time, info.base_date))
        if self.annotate:
            self.annotation_files.append(
                write_rhythm_annotations(info, episodes, extension=self.annotate, out_dir=self.annotate_dir)
            )

    def annotation_path(self, record: str | Path) -> Path | None:
        """The annotation file :meth:`add` writes for ``record`` (``None`` without ``annotate``)."""
        if not self.annotate:
            return None
        base = record_base(record)
        return (base.parent if self.annotate_dir is None else Path(self.annotate_dir)) / f"{base.name}.{self.annotate}"

    def episodes_table(self) -> pd.DataFrame:
        """Episodes of every record added, in order (columns ``record, onset_s, offset_s, duration_s``,
        ``TIME_COLUMNS``, then the provenance keys)."""
        frames = [e for e in self.episodes if not e.empty]
        empty = pd.DataFrame(columns=[*EPISODE_COLUMNS, *TIME_COLUMNS])
        table = pd.concat(frames, ignore_index=True) if frames else empty
        for key, value in self.provenance.items():
            table[key] = value
        return table

    def summary_rows(self) -> list[dict[str, Any]]:
        """Per-record summaries, each followed by the provenance keys."""
        return [{**summary, **self.provenance} for summary in self.summaries]

    def write_episodes(self, path: str | Path) -> None:
        """Write the episodes of every record as one CSV, atomically."""
        with atomic_open(path, newline="") as handle:
            self.episodes_table().to_csv(handle, index=False, lineterminator="\n")

    def write_summary(self, path: str | Path) -> None:
        """Write the per-record summaries atomically: a CSV table when ``path`` ends in ``.csv``, else a JSON list."""
        rows = self.summary_rows()
        if Path(path).suffix.lower() != ".csv":
            write_json(path, rows)
            return
        columns = [*SUMMARY_KEYS, *self.provenance]
        with atomic_open(path, newline="") as handle:
            pd.DataFrame(rows, columns=columns).to_csv(handle, index=False, lineterminator="\n")


def check_burden_outputs(
    episodes: str | Path | None,
    summary: str | Path | None,
    annotate: str | None,
    annotate_dir: str | Path | None,
) -> None:
    """Validate the episode, summary and annotation outputs before any record is read.

    Raises
    ------
    UsageError
        An unwritable output path, a bad annotation extension (or ``atr`` next to the
        records), ``--annotate-dir`` without ``--annotate``, or an annotation folder that is
        missing or not writable.
    """
    for path in (episodes, summary):
        if path is not None:
            check_writable(path)
    if annotate_dir is not None and annotate is None:
        raise ParameterError("{annotate_dir} needs {annotate} EXT", annotate_dir)
    if annotate is not None:
        check_annotation_extension(annotate)
        if annotate.lower() == "atr" and annotate_dir is None:
            raise ParameterError("{annotate} atr next to the records would overwrite their reference annotations")
    if annotate_dir is not None:
        directory = Path(annotate_dir)
        if not directory.is_dir():
            raise UsageError(directory, "annotation output folder does not exist")
        if not writable_folder(directory):
            raise UsageError(directory, "annotation output folder is not writable")
