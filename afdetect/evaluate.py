"""Evaluation of weights on a windows file or on labelled records.

Window-level metrics count windows with a clean label (AF or non-AF; mixed and flutter
windows are left out, see :mod:`afdetect.segment`). Record-level metrics call a record AF
when at least ``RECORD_AF_FRACTION`` of its windows are called AF; a record's truth is AF
when any of its windows is AF.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afdetect.config import LABEL_NAMES
from afdetect.dataset import WindowSet
from afdetect.errors import UsageError
from afdetect.fileio import atomic_open
from afdetect.metrics import binary_metrics, confusion, record_metrics, record_scores, roc_curve
from afdetect.plots import plot_confusion, plot_roc
from afdetect.predict import Predictor

SPLITS = ("all", "train", "val", "test")


@dataclass
class EvalResult:
    """Metrics and tables of one evaluation."""

    window: dict[str, float]
    record: dict[str, float]
    per_record: pd.DataFrame
    threshold: float
    y_true: np.ndarray
    p_af: np.ndarray
    ec57: dict[str, Any] | None = None
    """EC57 AF episode statistics (:func:`afdetect.ec57.ec57_statistics`) of records with
    rhythm annotations, when evaluated on records."""

    def to_json(self) -> dict[str, Any]:
        """Plain-types summary (metrics, confusion matrices, threshold, EC57 statistics)."""
        summary = {
            "threshold": self.threshold,
            "window": self.window,
            "record": self.record,
            "confusion_matrix": {
                "labels": list(LABEL_NAMES),
                "rows": "truth",
                "columns": "prediction",
                "window": confusion(self.y_true, self.p_af >= self.threshold).tolist(),
                "record": [[self.record["tn"], self.record["fp"]], [self.record["fn"], self.record["tp"]]],
            },
        }
        if self.ec57 is not None:
            summary["ec57"] = self.ec57
        return summary


def select_split(ws: WindowSet, split: str, meta: dict) -> np.ndarray:
    """Boolean mask over records for a split named in the weights' training info."""
    if split not in SPLITS:
        raise UsageError(None, f"--split must be one of {', '.join(SPLITS)}, got {split!r}")
    if split == "all":
        return np.ones(len(ws.records), dtype=bool)
    training = meta.get("training", {})
    val, test = set(training.get("val_records", [])), set(training.get("test_records", []))
    if split == "train":
        return np.array([r not in val and r not in test for r in ws.records])
    names = val if split == "val" else test
    if not names:
        raise UsageError(None, f"the weights record no {split} records; use --split all")
    return np.array([r in names for r in ws.records])


def evaluate(predictor: Predictor, ws: WindowSet, record_mask: np.ndarray | None = None) -> EvalResult:
    """Score the windows of the selected records and compute window and record metrics."""
    if record_mask is None:
        record_mask = np.ones(len(ws.records), dtype=bool)
    idx = np.flatnonzero(record_mask[ws.record_index] & (ws.labels >= 0))
    if len(idx) == 0:
        raise UsageError(None, "no labelled window to evaluate in the selected records")
    p_af = predictor.scorer(np.asarray(ws.windows[idx], dtype=np.float32))
    y = ws.labels[idx]
    t = predictor.threshold
    records, local_index = np.unique(ws.record_index[idx], return_inverse=True)
    truth = ws.record_targets()[records]
    fraction, mean_p = record_scores(local_index, p_af, t, len(records))
    per_record = pd.DataFrame(
        {
            "record": ws.records[records],
            "source_label": ws.record_labels[records],
            "truth": np.array(LABEL_NAMES)[truth],
            "windows": np.bincount(local_index, minlength=len(records)),
            "af_fraction": np.round(fraction, 4),
            "mean_p_af": np.round(mean_p, 4),
        }
    )
    return EvalResult(
        window=binary_metrics(y, p_af, t),
        record=record_metrics(local_index, truth, p_af, t),
        per_record=per_record,
        threshold=t,
        y_true=y,
        p_af=p_af,
    )


def write_report(result: EvalResult, out_dir: str | Path, title: str = "") -> list[Path]:
    """Write ``metrics.json``, ``per_record.csv``, ``confusion.png`` and ``roc.png`` atomically."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / name for name in ("metrics.json", "per_record.csv", "confusion.png", "roc.png")]
    with atomic_open(written[0]) as handle:
        json.dump(result.to_json(), handle, indent=2, allow_nan=True)
    with atomic_open(written[1], newline="") as handle:
        result.per_record.to_csv(handle, index=False)
    plot_confusion(written[2], result.to_json()["confusion_matrix"], title)
    fpr, tpr = roc_curve(result.y_true, result.p_af)
    plot_roc(written[3], fpr, tpr, result.window["auroc"], title)
    return written
