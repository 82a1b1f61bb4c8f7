"""Evaluation of weights on a windows file or on labelled records.

Window-level metrics count windows with a clean label (AF or non-AF; mixed and flutter
windows are left out, see :mod:`afdetect.signal.windows`). Record-level metrics call a record AF
when at least ``RECORD_AF_FRACTION`` of its windows are called AF; a record's truth is AF
when any of its windows is AF.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afdetect.config import AF_CLASS, CINC_CLASSES, LABEL_NAMES, RECORD_AF_FRACTION
from afdetect.detect.jobs import map_records
from afdetect.detect.predictor import Predictor, Scorer
from afdetect.errors import AfdetectError, ParameterError, RecordError, UsageError, internal_error
from afdetect.evaluate.ec57 import EpisodeComparison, compare_af_episodes, ec57_statistics, episode_spans
from afdetect.evaluate.metrics import binary_metrics, challenge_f1, confusion, record_metrics, record_scores
from afdetect.io.record import Record
from afdetect.io.reference import record_af_truth, record_key
from afdetect.rhythm.episodes import merge_episodes
from afdetect.training.cache import WindowSet

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
    """EC57 AF episode statistics (:func:`afdetect.evaluate.ec57.ec57_statistics`) of records with
    rhythm annotations, when evaluated on records."""
    left_out: list[dict[str, str]] = field(default_factory=list)
    """Records read but left out of the window and record metrics: ``{"record", "reason"}`` each."""
    class_p: np.ndarray | None = None
    """``(n, 4)`` CinC class probabilities of the scored windows (:func:`cinc_class_probabilities`),
    when the method gives them; evaluated on a windows file only."""
    challenge: dict[str, float] | None = None
    """The CinC 2017 challenge score of four-class record calls (:func:`challenge_score`), when the
    method gives CinC class probabilities (the rhythm trees, a four-class ECGCNN) and the records
    carry CinC labels."""

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
        summary["left_out"] = self.left_out
        if self.ec57 is not None:
            summary["ec57"] = self.ec57
        if self.challenge is not None:
            summary["challenge"] = self.challenge
        return summary


def select_split(ws: WindowSet, split: str, meta: dict) -> np.ndarray:
    """Boolean mask over records for a split named in the weights' training info."""
    if split not in SPLITS:
        raise ParameterError(f"{{split}} must be one of {', '.join(SPLITS)}, got {split!r}")
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


def check_preprocessing(predictor: Predictor, ws: WindowSet) -> None:
    """Refuse a windows file made with other preprocessing than the weights were trained on."""
    differences = predictor.preprocessing.differences(ws.preprocessing)
    if differences:
        raise UsageError(
            None,
            "the windows file and the weights disagree on preprocessing (weights vs windows: "
            f"{'; '.join(differences)}); rebuild the windows with afdetect preprocess",
        )


def evaluate(predictor: Predictor, ws: WindowSet, record_mask: np.ndarray | None = None) -> EvalResult:
    """Score the windows of the selected records and compute window and record metrics."""
    check_preprocessing(predictor, ws)
    if record_mask is None:
        record_mask = np.ones(len(ws.records), dtype=bool)
    idx = np.flatnonzero(record_mask[ws.record_index] & (ws.labels >= 0))
    if len(idx) == 0:
        raise UsageError(None, "no labelled window to evaluate in the selected records")
    x = np.asarray(ws.windows[idx], dtype=np.float32)
    class_p = cinc_class_probabilities(predictor.scorer, x)
    scorer = predictor.scorer
    p_af = scorer(x) if class_p is None else scorer.af_probability(class_p)  # type: ignore[attr-defined]
    records, local_index = np.unique(ws.record_index[idx], return_inverse=True)
    left_out = [
        {"record": str(ws.records[r]), "reason": "no window labelled AF or non-AF (mixed, flutter or unlabelled)"}
        for r in np.setdiff1d(np.flatnonzero(record_mask), records)
    ]
    result = _result(
        predictor.threshold,
        ws.labels[idx],
        p_af,
        local_index,
        ws.record_targets()[records],
        ws.records[records],
        ws.record_labels[records],
    )
    result.left_out, result.class_p = left_out, class_p
    result.challenge = challenge_score(class_p, local_index, p_af, predictor.threshold, ws.record_labels[records])
    return result


def cinc_class_probabilities(scorer: Scorer, x: np.ndarray) -> np.ndarray | None:
    """Probabilities ``(n, 4)`` of the CinC classes for windows ``x``, when the scorer learnt them; else ``None``.

    A scorer that gives class probabilities has ``classes`` (its class list),
    ``class_probabilities(x)`` and ``af_probability(class_p)`` (its ``p_af`` from them, calibrated
    as the scorer's own; :class:`~afdetect.detect.trees.TreesScorer` always,
    :class:`~afdetect.detect.cnn.ModelScorer` of either class list); only the four CinC classes
    (:data:`~afdetect.config.CINC_CLASSES`) give a challenge score.
    """
    if tuple(getattr(scorer, "classes", ())) != CINC_CLASSES:
        return None
    return scorer.class_probabilities(x)  # type: ignore[attr-defined]


def challenge_score(
    class_p: np.ndarray | None, record_of: np.ndarray, p_af: np.ndarray, threshold: float, labels: np.ndarray
) -> dict[str, float] | None:
    """The CinC 2017 challenge's F1(N, A, O) of four-class record calls, or ``None`` when the
    scorer gives no CinC class probabilities or the records carry no CinC labels (N, A, O, ~).

    A record called AF by the detector's record rule is ``A``; any other takes its most probable
    other class (:func:`record_classes`).
    """
    if class_p is None or len(labels) == 0 or not set(labels.tolist()) <= set(CINC_CLASSES):
        return None
    return challenge_f1(labels, four_class_calls(class_p, record_of, p_af, threshold, len(labels)))


def four_class_calls(
    class_p: np.ndarray, record_of: np.ndarray, p_af: np.ndarray, threshold: float, n_records: int
) -> np.ndarray:
    """CinC labels of ``n_records`` records: ``A`` where the detector's record rule (at least
    ``RECORD_AF_FRACTION`` of the windows at ``p_af >= threshold``) calls AF, else the most
    probable other class of the windows' ``class_p`` (:func:`record_classes`)."""
    fraction, _ = record_scores(record_of, p_af, threshold, n_records)
    return record_classes(class_p, record_of, fraction >= RECORD_AF_FRACTION)


def record_classes(class_p: np.ndarray, record_of: np.ndarray, called_af: np.ndarray) -> np.ndarray:
    """Four-class record calls: ``A`` where the record is called AF, else its most probable other class.

    Parameters
    ----------
    class_p : numpy.ndarray
        ``(n, len(CINC_CLASSES))`` class probabilities of the windows.
    record_of : numpy.ndarray
        ``(n,)`` record (0 .. R-1) of each window.
    called_af : numpy.ndarray
        ``(R,)`` bool: the record is called AF (the detector's record rule at its threshold).

    Returns
    -------
    numpy.ndarray
        ``(R,)`` CinC labels; a record that is not called AF takes the class other than ``A``
        with the highest mean probability over its windows.

    Example
    -------
    >>> p = np.array([[0.1, 0.2, 0.6, 0.1], [0.7, 0.1, 0.1, 0.1], [0.2, 0.7, 0.05, 0.05]])
    >>> record_classes(p, np.array([0, 1, 1]), np.array([False, True])).tolist()
    ['O', 'A']
    """
    sums = np.zeros((len(called_af), len(CINC_CLASSES)))
    np.add.at(sums, record_of, class_p)
    others = np.array([i for i in range(len(CINC_CLASSES)) if i != AF_CLASS])
    best_other = others[np.argmax(sums[:, others], axis=1)]
    return np.asarray(CINC_CLASSES)[np.where(called_af, AF_CLASS, best_other)]


def evaluate_records(
    predictor: Predictor,
    records: Iterable[Path],
    *,
    lead: str | int | None = None,
    on_record: Callable[[Path, AfdetectError | None], None] | None = None,
    exclude_flutter: bool = False,
    jobs: int = 1,
) -> EvalResult:
    """Score labelled records in one streamed pass: window, record and EC57 episode metrics.

    Each record is read, windowed and scored once, chunk by chunk, exactly as ``afdetect
    predict`` does, so memory stays flat over day-long records and the EC57 test episodes
    of a record with rhythm annotations are the episodes ``predict --episodes`` reports
    (:func:`afdetect.rhythm.episodes.merge_episodes`). Window labels come from the ``.atr``
    rhythm annotations or a ``REFERENCE.csv`` (:func:`afdetect.io.reference.record_labeller`).
    Unreadable windows are left out of the metrics (and are no AF in the episodes);
    windows without a clean label (mixed, flutter) count only in the episodes.

    Parameters
    ----------
    predictor : Predictor
        Window scorer and threshold.
    records : iterable of Path
        Record paths (see :func:`afdetect.io.find.find_records`).
    lead : str or int or None
        Lead to use (default: lead II, else the first ECG lead; :func:`~afdetect.io.signals.select_lead`).
    on_record : callable, optional
        Called after each record with its path and the error (``None`` on success);
        records that cannot be read or have no label are skipped.
    exclude_flutter : bool
        Cut reference flutter out of the test episodes' positive predictivity (``epicmp -x``).
    jobs : int
        Records evaluated at a time in worker processes (as ``predict --jobs``); the result
        is the same whatever the number.

    Raises
    ------
    UsageError
        When no record can be read, or none gives a labelled window.

    Example
    -------
    >>> result = evaluate_records(Predictor.from_weights(), find_records(["../shared/data/cpsc2021"]))  # doctest: +SKIP
    >>> result.ec57["gross"]["episode_se"]  # doctest: +SKIP
    """
    records = [Path(r) for r in records]
    work = partial(_evaluate_record, predictor, lead, exclude_flutter, {})
    if jobs <= 1 or len(records) <= 1:
        outcomes = ((path, work(path)) for path in records)
    else:
        outcomes = map_records(work, records, jobs=jobs, died=_died)
    y_parts: list[np.ndarray] = []
    p_parts: list[np.ndarray] = []
    index_parts: list[np.ndarray] = []
    names: list[str] = []
    source_labels: list[str] = []
    comparisons: list[EpisodeComparison] = []
    left_out: list[dict[str, str]] = []
    read = 0
    for path, outcome in outcomes:
        if outcome.error is not None:
            if on_record:
                on_record(path, RecordError(*outcome.error))
            continue
        if len(outcome.y):
            y_parts.append(outcome.y)
            p_parts.append(outcome.p_af)
            index_parts.append(np.full(len(outcome.y), len(names)))
            names.append(outcome.key)
            source_labels.append(outcome.source_label)
        else:
            left_out.append({"record": outcome.key, "reason": outcome.left_out_reason()})
        if outcome.comparison is not None:
            comparisons.append(outcome.comparison)
        read += 1
        if on_record:
            on_record(path, None)
    if not names:
        message = "no labelled window to evaluate in the given records" if read else "no labelled record could be read"
        raise UsageError(None, message)
    y, p_af, local_index = (np.concatenate(parts) for parts in (y_parts, p_parts, index_parts))
    truth = record_af_truth(local_index, y, len(names))
    result = _result(predictor.threshold, y, p_af, local_index, truth, np.asarray(names), np.asarray(source_labels))
    if comparisons:
        result.ec57 = ec57_statistics(comparisons)
    result.left_out = left_out
    return result


@dataclass
class RecordOutcome:
    """One record's part of :func:`evaluate_records`: clean-labelled windows, EC57 comparison, or its error."""

    key: str = ""
    source_label: str = ""
    y: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    p_af: np.ndarray = field(default_factory=lambda: np.zeros(0))
    comparison: EpisodeComparison | None = None
    error: tuple[str | None, str] | None = None
    """``(path, problem)`` of the record's error (errors travel from worker processes as data)."""
    windows: int = 0
    """Windows of the record, scored or not."""
    unreadable: int = 0
    """Windows the signal-quality check refused."""

    def left_out_reason(self) -> str:
        """Why a record without clean-labelled windows is left out of the metrics."""
        if self.unreadable == self.windows:
            return f"all {self.windows} windows unreadable"
        return (
            f"no readable window labelled AF or non-AF ({self.windows} windows: {self.unreadable} unreadable, "
            f"{self.windows - self.unreadable} mixed, flutter or unlabelled)"
        )


def _evaluate_record(
    predictor: Predictor,
    lead: str | int | None,
    exclude_flutter: bool,
    references: dict[Path, dict[str, str]],
    path: Path,
) -> RecordOutcome:
    """Score one record and compare it with its reference labels (header read once)."""
    try:
        record = Record.open(path, lead)
        reference = record.labels(references)
        ys, ps, tables = [], [], []
        windows = unreadable = 0
        for batch, p_af in predictor.score_record(record):
            windows += len(p_af)
            unreadable += int(np.isnan(p_af).sum())
            labels = reference.label_windows(batch.start_s, batch.end_s)
            keep = ~np.isnan(p_af) & (labels >= 0)
            ys.append(labels[keep])
            ps.append(p_af[keep])
            if reference.rhythm is not None:
                tables.append(predictor.table(str(path), batch, p_af))
    except AfdetectError as exc:
        return RecordOutcome(error=(exc.path, exc.problem))
    except Exception as exc:  # any failure fails this record alone
        error = internal_error(path, exc)
        return RecordOutcome(error=(error.path, error.problem))
    comparison = None
    if reference.rhythm is not None:
        test = episode_spans(merge_episodes(pd.concat(tables, ignore_index=True)))
        end_s = record.info.duration_s
        comparison = compare_af_episodes(
            reference.rhythm, test, record_key(path), end_s=end_s, exclude_flutter=exclude_flutter
        )
    y = np.concatenate(ys)
    return RecordOutcome(
        record_key(path),
        reference.source_label,
        y,
        np.concatenate(ps),
        comparison,
        windows=windows,
        unreadable=unreadable,
    )


def _died(record: Path) -> RecordOutcome:
    return RecordOutcome(error=(str(record), "worker process died (killed, or out of memory?)"))


def _result(
    threshold: float,
    y: np.ndarray,
    p_af: np.ndarray,
    local_index: np.ndarray,
    truth: np.ndarray,
    names: np.ndarray,
    source_labels: np.ndarray,
) -> EvalResult:
    """Window and record metrics and the per-record table of scored windows.

    ``local_index`` names each window's record (0 .. R-1); ``truth``, ``names`` and
    ``source_labels`` describe the R records.
    """
    fraction, mean_p = record_scores(local_index, p_af, threshold, len(names))
    per_record = pd.DataFrame(
        {
            "record": names,
            "source_label": source_labels,
            "truth": np.array(LABEL_NAMES)[truth],
            "windows": np.bincount(local_index, minlength=len(names)),
            "af_fraction": np.round(fraction, 4),
            "mean_p_af": np.round(mean_p, 4),
        }
    )
    return EvalResult(
        window=binary_metrics(y, p_af, threshold),
        record=record_metrics(local_index, truth, p_af, threshold),
        per_record=per_record,
        threshold=threshold,
        y_true=y,
        p_af=p_af,
    )
