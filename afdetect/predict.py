"""Prediction: records in, one row per window out.

Columns of the per-window table (``WINDOW_COLUMNS``):

``record``   record path as given, without extension
``start_s``  window start (s from record start)
``end_s``    end of the window's real signal (s)
``label``    ``AF``, ``non-AF`` or ``unreadable``
``p_af``     AF probability (empty for unreadable windows)
``problem``  why a window is unreadable (``flat``, ``clipped``, ``invalid samples``), else empty
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import torch
from rich.console import Console

from afdetect.checkpoint import default_weights, load_weights
from afdetect.config import LABEL_NAMES, UNREADABLE
from afdetect.errors import EXIT_OK, EXIT_RECORD_FAILED, RecordError, UsageError
from afdetect.fileio import atomic_open
from afdetect.models import ECGCNN
from afdetect.pipeline import DEFAULT_CHUNK_WINDOWS, WindowBatch, record_windows
from afdetect.records import find_records, read_header, select_lead
from afdetect.train import predict_proba

WINDOW_COLUMNS = ("record", "start_s", "end_s", "label", "p_af", "problem")


Scorer = Callable[[np.ndarray], np.ndarray]
"""Maps conditioned windows ``(n, samples at MODEL_FS)`` to AF probabilities ``(n,)``."""


@dataclass
class Predictor:
    """A window scorer (the ECGCNN model, or another method) and its AF threshold.

    Example
    -------
    >>> predictor = Predictor.from_weights()  # shipped se weights  # doctest: +SKIP
    >>> table = predictor.predict_record("../shared/data/cinc2017/A00001")  # doctest: +SKIP
    """

    scorer: Scorer
    threshold: float
    meta: dict

    @classmethod
    def from_weights(
        cls, path: str | Path | None = None, variant: str | None = None, threshold: float | None = None
    ) -> Predictor:
        """Load weights (default: the shipped file of ``variant``, ``se`` when not given)."""
        path = default_weights(variant or "se") if path is None else Path(path)
        model, meta = load_weights(path, variant)
        if threshold is not None and not 0 < threshold < 1:
            raise UsageError(None, f"--threshold must lie in (0, 1), got {threshold}")
        return cls(_model_scorer(model), meta["threshold"] if threshold is None else threshold, meta)

    def score(self, batch: WindowBatch) -> np.ndarray:
        """AF probability per window of ``batch`` (NaN for unreadable windows)."""
        p = np.full(len(batch.x), np.nan)
        ok = np.array([problem is None for problem in batch.problems], dtype=bool)
        if ok.any():
            p[ok] = self.scorer(batch.x[ok])
        return p

    def iter_record(
        self, record: str | Path, lead: str | int | None = None, chunk_windows: int = DEFAULT_CHUNK_WINDOWS
    ) -> Iterator[pd.DataFrame]:
        """Per-window tables of one record, a chunk at a time (flat memory for long records).

        Raises
        ------
        RecordError
            When the record cannot be read (raised before any row is yielded whenever
            the header, lead or length is at fault).
        """
        info = read_header(record)
        lead_index = select_lead(info, lead)
        for batch in record_windows(info, lead_index, chunk_windows=chunk_windows):
            yield self.table(str(info.path), batch, self.score(batch))

    def predict_record(self, record: str | Path, lead: str | int | None = None) -> pd.DataFrame:
        """The whole per-window table of one record."""
        return pd.concat(list(self.iter_record(record, lead)), ignore_index=True)

    def table(self, record: str, batch: WindowBatch, p_af: np.ndarray) -> pd.DataFrame:
        """Per-window table from probabilities (NaN = unreadable)."""
        labels = np.where(p_af >= self.threshold, LABEL_NAMES[1], LABEL_NAMES[0]).astype(object)
        labels[np.isnan(p_af)] = UNREADABLE
        return pd.DataFrame(
            {
                "record": record,
                "start_s": np.round(batch.start_s, 3),
                "end_s": np.round(batch.end_s, 3),
                "label": labels,
                "p_af": np.round(p_af, 4),
                "problem": [p or "" for p in batch.problems],
            },
            columns=list(WINDOW_COLUMNS),
        )


def _model_scorer(model: ECGCNN, batch_size: int = 256) -> Scorer:
    def score(x: np.ndarray) -> np.ndarray:
        return predict_proba(model, x, batch_size)

    return score


def set_inference_threads(threads: int | None) -> None:
    """Use ``threads`` CPU threads for torch (default: all cores torch sees)."""
    if threads:
        torch.set_num_threads(threads)


def predict_to_csv(
    predictor: Predictor,
    inputs: list[str],
    output: str,
    lead: str | int | None = None,
    recursive: bool = False,
    errors: Console | None = None,
) -> int:
    """Predict every record of ``inputs`` into one CSV (``-`` = stdout); return the exit code.

    A record that fails is reported on ``errors`` (one line: file and problem) and skipped;
    the others are still written. A file output is written atomically: it appears under its
    name only once complete. Returns 0 when all records succeeded, 1 when some failed.
    """
    records = find_records(inputs, recursive)
    failed = 0
    with _csv_sink(output) as handle:
        handle.write(",".join(WINDOW_COLUMNS) + "\n")
        handle.flush()
        for record in records:
            try:
                for table in predictor.iter_record(record, lead):
                    table.to_csv(handle, header=False, index=False, lineterminator="\n")
                handle.flush()
            except RecordError as exc:
                failed += 1
                if errors is not None:
                    errors.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
    if failed and errors is not None:
        errors.print(f"{failed} of {len(records)} records failed", highlight=False)
    return EXIT_RECORD_FAILED if failed else EXIT_OK


@contextlib.contextmanager
def _csv_sink(output: str) -> Iterator[TextIO]:
    if output == "-":
        yield sys.stdout
    else:
        with atomic_open(output, newline="") as handle:
            yield handle
