"""Evaluation report files: metrics JSON, confusion matrices and ROC figure of an :class:`EvalResult`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from afdetect.evaluate.metrics import roc_curve
from afdetect.evaluate.records import EvalResult
from afdetect.io.atomic import atomic_open, write_json
from afdetect.viz.plots import plot_confusion, plot_roc

REPORT_FILES = ("metrics.json", "per_record.csv", "confusion.png", "roc.png")
"""The files :func:`write_report` writes into its folder."""


def report_paths(out_dir: str | Path) -> list[Path]:
    """The files :func:`write_report` writes into ``out_dir``."""
    return [Path(out_dir) / name for name in REPORT_FILES]


def write_report(
    result: EvalResult, out_dir: str | Path, title: str = "", provenance: dict[str, Any] | None = None
) -> list[Path]:
    """Write ``metrics.json``, ``per_record.csv``, ``confusion.png`` and ``roc.png`` atomically.

    ``provenance`` (``Predictor.provenance()``: afdetect version, model, weights sha256,
    threshold) goes into ``metrics.json`` under ``"provenance"``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = report_paths(out_dir)
    metrics = result.to_json()
    if provenance is not None:
        metrics = {"provenance": provenance, **metrics}
    write_json(written[0], metrics)
    with atomic_open(written[1], newline="") as handle:
        result.per_record.to_csv(handle, index=False)
    plot_confusion(written[2], result.to_json()["confusion_matrix"], title)
    fpr, tpr = roc_curve(result.y_true, result.p_af)
    plot_roc(written[3], fpr, tpr, result.window["auroc"], title)
    return written
