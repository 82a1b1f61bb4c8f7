"""Evaluating the folds of ``benchmarks/crossval.py``: each fold's weights and the refitted RR
baseline on its own test records, the test folds checked, the pooled and per-fold metrics."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from common import LEVELS, shown_path
from crossval_folds import DONE_MARKER, best_file, fold_config, split_seed
from crossval_report import METHODS, METRICS

from afdetect.config import RECORD_AF_FRACTION
from afdetect.detect import rr as rr_score
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.evaluate.metrics import (
    auroc,
    best_threshold,
    binary_metrics,
    calibration_metrics,
    challenge_f1,
    record_scores,
)
from afdetect.evaluate.records import EvalResult, evaluate, four_class_calls, select_split
from afdetect.models.files import sha256
from afdetect.signal import rr
from afdetect.training.cache import WindowSet
from afdetect.training.splits import split_records


@dataclass
class FoldPart:
    """What pooling needs of one method on one test fold."""

    y: np.ndarray
    """Window truth (0/1) of the scored windows."""
    p_af: np.ndarray
    """AF probability of each scored window."""
    threshold: float
    """The fold's AF threshold on ``p_af``."""
    local_index: np.ndarray
    """Record (0 .. R-1) of each scored window."""
    record_truth: np.ndarray
    """``(R,)`` record-level truth."""
    window: np.ndarray
    """Index of each scored window in the windows file."""
    class_p: np.ndarray | None = None
    """CinC class probabilities ``(n, 4)`` of each scored window, for a method that gives them."""


def fold_part(result: EvalResult, ws: WindowSet, mask: np.ndarray) -> FoldPart:
    """The :class:`FoldPart` of an :func:`~afdetect.evaluate.records.evaluate` result (same window order)."""
    idx = np.flatnonzero(mask[ws.record_index] & (ws.labels >= 0))
    records, local_index = np.unique(ws.record_index[idx], return_inverse=True)
    if len(idx) != len(result.y_true) or not np.array_equal(ws.labels[idx], result.y_true):
        raise RuntimeError("window order differs from afdetect.evaluate.records.evaluate's")
    truth = ws.record_targets()[records]
    return FoldPart(result.y_true, result.p_af, result.threshold, local_index, truth, idx, result.class_p)


def window_predictions(parts: dict[str, list[FoldPart]]) -> dict[str, np.ndarray]:
    """Every method's test-fold ``p_af`` and threshold per window, for ``crossval_windows.npz``.

    ``window`` indexes the windows file, ``fold`` is the fold that tested it; then
    ``p_af_<method>`` and ``threshold_<method>`` per method (the same windows for every method),
    and ``class_p_<method>`` ``(n, 4)`` for a method that gives CinC class probabilities
    (:mod:`benchmarks.blend` averages them).
    """
    first = next(iter(parts.values()))
    out = {
        "window": np.concatenate([part.window for part in first]),
        "fold": np.concatenate([np.full(len(part.window), k) for k, part in enumerate(first)]),
    }
    for key, folds in parts.items():
        if not np.array_equal(np.concatenate([part.window for part in folds]), out["window"]):
            raise RuntimeError(f"{key} was tested on other windows than {next(iter(parts))}")
        out[f"p_af_{key}"] = np.concatenate([part.p_af for part in folds])
        out[f"threshold_{key}"] = np.concatenate([np.full(len(part.p_af), part.threshold) for part in folds])
        if all(part.class_p is not None for part in folds):
            out[f"class_p_{key}"] = np.concatenate([part.class_p for part in folds])
    return out


def pooled_metrics(parts: Sequence[FoldPart]) -> dict[str, dict[str, float]]:
    """Window and record metrics of several folds' test sets taken together.

    Each window is called AF at its own fold's threshold; the calls, truths and
    probabilities of all folds are concatenated (AUROC ranks the concatenated
    probabilities). A record is called AF when at least ``RECORD_AF_FRACTION`` of its
    windows are; record AUROC ranks records by that fraction, ties broken by mean ``p_af``
    (as :func:`afdetect.evaluate.metrics.record_metrics`). One part gives exactly
    :func:`~afdetect.evaluate.records.evaluate`'s metrics.

    Example
    -------
    >>> pooled_metrics([part_0, part_1])["record"]["f1"]  # doctest: +SKIP
    0.81
    """
    y = np.concatenate([p.y for p in parts])
    p_af = np.concatenate([p.p_af for p in parts])
    calls = np.concatenate([p.p_af >= p.threshold for p in parts]).astype(float)
    window = binary_metrics(y, calls, 0.5)
    window["auroc"] = auroc(y, p_af)
    window.update(calibration_metrics(y, p_af))
    fractions, means = [], []
    for part in parts:
        fraction, mean_p = record_scores(part.local_index, part.p_af, part.threshold, len(part.record_truth))
        fractions.append(fraction)
        means.append(mean_p)
    fraction, mean_p = np.concatenate(fractions), np.concatenate(means)
    truth = np.concatenate([p.record_truth for p in parts])
    seen = np.isfinite(fraction)
    record = binary_metrics(truth[seen], (fraction[seen] >= RECORD_AF_FRACTION).astype(float), 0.5)
    record["auroc"] = auroc(truth[seen], fraction[seen] + 1e-3 * mean_p[seen])
    return {"window": window, "record": record}


def fold_summary(per_fold: Sequence[dict[str, Any]], key: str) -> dict[str, dict[str, dict[str, float | None]]]:
    """Mean and sample SD over folds of each metric of method ``key`` (NaN folds left out)."""
    summary: dict[str, dict[str, dict[str, float | None]]] = {}
    for level in LEVELS:
        summary[level] = {}
        for name in METRICS:
            values = np.array([f["methods"][key][level][name] for f in per_fold], dtype=float)
            values = values[np.isfinite(values)]
            summary[level][name] = {
                "mean": float(values.mean()) if len(values) else None,
                "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
            }
    return summary


def check_test_folds(
    ws: WindowSet, masks: dict[str, list[np.ndarray]], metas: dict[str, list[dict]], args: argparse.Namespace
) -> None:
    """Prove the evaluation honest from the weights: raise :class:`UsageError` unless it is.

    For every fold, the variants' weights name the same test records, the fold they
    record is this fold of ``--folds``, and those records are exactly fold k of the
    stratified folds of ``--seed`` (and none of them validated); over the folds every
    record of the windows file is tested exactly once.
    """
    truth = ws.record_targets()
    tested = np.zeros(len(ws.records), dtype=np.int64)
    first = next(iter(masks))
    for fold in range(args.folds):
        expected = split_records(truth, args.val_fraction, 0.0, split_seed(args), args.folds, fold) == 2
        for variant in masks:
            training = metas[variant][fold].get("training", {})
            where = f"{METHODS[variant]} fold {fold}"
            if (training.get("folds"), training.get("fold")) != (args.folds, fold):
                raise UsageError(
                    None, f"{where}: weights record fold {training.get('fold')} of {training.get('folds')}"
                )
            if not np.array_equal(masks[variant][fold], masks[first][fold]):
                raise UsageError(None, f"{where}: test records differ from {METHODS[first]}'s")
            if not np.array_equal(masks[variant][fold], expected):
                raise UsageError(None, f"{where}: test records are not fold {fold} of this windows file's folds")
            if set(training.get("val_records", [])) & set(ws.records[expected].tolist()):
                raise UsageError(None, f"{where}: a test record was used for validation")
        tested += masks[first][fold]
    if not (tested == 1).all():
        raise UsageError(None, f"{int((tested != 1).sum())} records are not tested exactly once over the folds")


def fit_rr_fold(ws: WindowSet, meta: dict) -> Predictor:
    """The RR baseline refitted on a fold's training records, the records its deep models trained on.

    The logistic score (:func:`afdetect.detect.rr.fit_score`) and its F1-optimal threshold are fitted
    on those records' labelled windows, as ``benchmarks/fit_rr_baseline.py`` fitted the shipped
    constants on the default split, so the baseline never sees the fold's test records either.
    """
    train = select_split(ws, "train", meta)
    idx = np.flatnonzero(train[ws.record_index] & (ws.labels >= 0))
    features = rr.window_features(np.asarray(ws.windows[idx], dtype=np.float32))
    y = ws.labels[idx]
    score = rr_score.fit_score(features, y)
    threshold = best_threshold(y, rr_score.score_features(features, score=score))
    shipped = Predictor.rr_baseline().meta
    meta = {**shipped, "threshold": threshold, "score": asdict(score), "fitted_on_records": int(train.sum())}
    return Predictor(partial(rr_score.rr_af_probability, score=score), threshold, meta)


def record_calls(result: EvalResult, part: FoldPart) -> np.ndarray | None:
    """Four-class calls of one fold's test records by one method (for the challenge score): ``A``
    where the detector calls the record AF, else the most probable other class of the CinC class
    probabilities ``evaluate`` gave (``result``, of which ``part`` is the :func:`fold_part`; the
    trees and a four-class ECGCNN); ``None`` for a method without the four CinC classes.
    """
    if result.class_p is None:
        return None
    return four_class_calls(result.class_p, part.local_index, part.p_af, part.threshold, len(part.record_truth))


def evaluate_folds(ws: WindowSet, args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Evaluate each fold's ``best.pt`` and the RR baseline on that fold's test records: the
    report's entries, and the per-window predictions (:func:`window_predictions`)."""
    keys = [*args.variants, "rr"]
    parts: dict[str, list[FoldPart]] = {k: [] for k in keys}
    masks: dict[str, list[np.ndarray]] = {v: [] for v in args.variants}
    metas: dict[str, list[dict]] = {v: [] for v in args.variants}
    per_fold: list[dict[str, Any]] = []
    truth = ws.record_targets()
    called: dict[str, list[np.ndarray]] = {}  # four-class calls of the test records per method, fold by fold
    classes: list[np.ndarray] = []  # CinC labels of the test records, fold by fold
    for fold in range(args.folds):
        predictors: dict[str, Predictor] = {}
        runs: dict[str, dict[str, Any]] = {}
        for variant in args.variants:
            config = fold_config(args, variant, fold, Path(args.windows))
            run_dir, model_file = Path(config.out_dir), best_file(config)
            predictor = Predictor.for_method(config.method, weights=model_file, variant=config.variant)
            predictors[variant] = predictor
            masks[variant].append(select_split(ws, "test", predictor.meta))
            metas[variant].append(predictor.meta)
            done = json.loads((run_dir / DONE_MARKER).read_text())
            runs[variant] = {
                "weights": shown_path(model_file),
                "sha256": sha256(model_file)[:16],
                "best_epoch": done["best"]["epoch"],
                "val_f1": done["best"]["val_f1"],
                "train_seconds": done["seconds"],
            }
        predictors["rr"] = fit_rr_fold(ws, metas[args.variants[0]][fold])
        mask = masks[args.variants[0]][fold]
        labelled = mask[ws.record_index] & (ws.labels >= 0)
        classes.append(ws.record_labels[np.unique(ws.record_index[labelled])])
        entry: dict[str, Any] = {
            "fold": fold,
            "records": int(mask.sum()),
            "af_records": int(truth[mask].sum()),
            "windows": int(labelled.sum()),
            "af_windows": int((ws.labels[labelled] == 1).sum()),
            "runs": runs,
            "methods": {},
        }
        for key in keys:
            result = evaluate(predictors[key], ws, mask)
            parts[key].append(fold_part(result, ws, mask))
            entry["methods"][key] = {"threshold": result.threshold, "window": result.window, "record": result.record}
            calls = record_calls(result, parts[key][-1])
            if calls is not None:
                called.setdefault(key, []).append(calls)
                entry["methods"][key]["challenge"] = challenge_f1(classes[-1], calls)
        per_fold.append(entry)
        print(f"  fold {fold}: {entry['records']} test records evaluated", file=sys.stderr)
    check_test_folds(ws, masks, metas, args)
    summary = {
        "folds": per_fold,
        "pooled": {
            "records": int(sum(f["records"] for f in per_fold)),
            "af_records": int(sum(f["af_records"] for f in per_fold)),
            "windows": int(sum(f["windows"] for f in per_fold)),
            "af_windows": int(sum(f["af_windows"] for f in per_fold)),
            "methods": {k: pooled_metrics(parts[k]) for k in keys},
            "challenge": {k: challenge_f1(np.concatenate(classes), np.concatenate(c)) for k, c in called.items()},
        },
        "fold_mean_sd": {k: fold_summary(per_fold, k) for k in keys},
    }
    return summary, window_predictions(parts)
