"""Regenerate every figure the model card quotes, into ``benchmarks/results/``.

One command evaluates the shipped ECGCNN_SE and ECGCNN_L weights, the shipped rhythm trees
(``--method trees``) and the RR-irregularity baseline and writes PNG figures, ``results.json``
and a markdown table ``RESULTS.md``:

1. **CinC 2017 held-out test split** (the test records named in the weights' training info;
   both variants must hold the same ones): window- and record-level accuracy, F1(AF),
   sensitivity, specificity, PPV and AUROC, with 95 % bootstrap intervals (records resampled
   with replacement, the same resamples for every method) for F1, sensitivity, specificity
   and AUROC; confusion matrices and overlaid ROC curves.
2. **The original work's table** beside ours (ECG-DualNet's ECGCNN_L / ECGCNN_SE on MIT-BIH
   AFDB: another data set, for scale only).
3. **Cross-domain**: the CPSC 2021 records (two-lead 200 Hz, ``.atr`` rhythm labels, never used
   for training): window metrics where defined and EC57 AF episode statistics.
4. **Resampling check**: the same test records resampled to 250 Hz and 500 Hz
   (``scipy.signal.resample_poly``), written as WFDB format-16 records and evaluated as records;
   metrics and per-window probability differences beside the original 300 Hz figures.
5. **Synthetic 12-lead 500 Hz records** (:mod:`afdetect.io.synthetic`): sinus rhythm at 45, 70 and
   130 bpm (fraction of windows called AF, should be 0) and AF at the same rates (should be high).
6. The training curves (``runs/se/curves.png``, ``runs/l/curves.png``) copied beside them.

Every file is written atomically (:mod:`afdetect.io.atomic`). The windows file is built from
``DATA/cinc2017`` when missing (as ``afdetect preprocess`` does).

Usage::

    python benchmarks/evaluate_models.py                  # full run (~10 min on 2 CPU cores)
    python benchmarks/evaluate_models.py --quick          # smoke run (< 1 min): subsampled
    python benchmarks/evaluate_models.py --weights-se runs/se/best.pt --weights-l runs/l/best.pt

``--quick`` uses 200 test records, 100 bootstrap resamples and 1 synthetic record per rate;
its figures are not the model card's.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from common import (
    DEFAULT_DATA,
    LEVELS,
    ORIGINAL_WORK,
    REPO,
    load_or_build_windows,
    run_main,
    scratch_dir,
    shown_path,
    write_report,
)
from evaluate_models_domains import evaluate_cpsc, resampling_check, synthetic_check
from evaluate_models_report import CI_METRICS, METHODS, markdown_report, print_summary

from afdetect import __version__
from afdetect.config import AF_CLASS
from afdetect.detect.inference import set_inference_threads
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.evaluate.metrics import binary_metrics, calibration_metrics, record_metrics, record_scores, roc_curve
from afdetect.evaluate.records import EvalResult, evaluate, select_split
from afdetect.io.atomic import atomic_path, json_safe
from afdetect.models.files import sha256
from afdetect.training.cache import WindowSet
from afdetect.viz.plots import plot_confusion, plot_roc_curves

CONFIDENCE = 0.95

QUICK = {"records": 200, "bootstrap": 100, "seeds": 1}
"""Subsampling of ``--quick``."""


# --- options -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (every path is an option, so tests never touch the repository)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights-se", type=Path, default=REPO / "weights" / "ecgcnn_se.pt", help="ECGCNN_SE weights.")
    parser.add_argument("--weights-l", type=Path, default=REPO / "weights" / "ecgcnn_l.pt", help="ECGCNN_L weights.")
    parser.add_argument("--trees", type=Path, default=REPO / "weights" / "rhythm_trees.json", help="Rhythm trees file.")
    parser.add_argument(
        "--resnet", type=Path, default=REPO / "weights" / "resnet1d.pt", help="Signal ResNet weights (also blended)."
    )
    parser.add_argument(
        "--windows",
        type=Path,
        default=REPO / "runs" / "cinc2017.npz",
        help="CinC 2017 windows file (built if missing).",
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder holding cinc2017/ and cpsc2021/.")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results", help="Output folder.")
    parser.add_argument("--curves-se", type=Path, default=REPO / "runs" / "se" / "curves.png")
    parser.add_argument("--curves-l", type=Path, default=REPO / "runs" / "l" / "curves.png")
    parser.add_argument("--workdir", type=Path, default=None, help="Folder for generated records (default: temp).")
    parser.add_argument("--quick", action="store_true", help="Smoke run: 200 test records, 100 resamples, 1 seed.")
    parser.add_argument("--bootstrap", type=int, default=None, help="Bootstrap resamples (default 1000; quick 100).")
    parser.add_argument("--max-records", type=int, default=None, help="Test records to use (default all; quick 200).")
    parser.add_argument("--synthetic-seeds", type=int, default=None, help="Records per rate (default 5; quick 1).")
    parser.add_argument("--synthetic-s", type=float, default=60.0, help="Length of each synthetic record (s).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the bootstrap and the subsampling.")
    parser.add_argument("--threads", type=int, default=None, help="Torch CPU threads (default 2; quick: torch's).")
    args = parser.parse_args(argv)
    if args.bootstrap is None:
        args.bootstrap = QUICK["bootstrap"] if args.quick else 1000
    if args.max_records is None and args.quick:
        args.max_records = QUICK["records"]
    if args.synthetic_seeds is None:
        args.synthetic_seeds = QUICK["seeds"] if args.quick else 5
    if args.threads is None and not args.quick:
        args.threads = 2
    return args


# --- inputs -------------------------------------------------------------------------------


def load_predictors(weights_se: Path, weights_l: Path, trees: Path, resnet: Path) -> dict[str, Predictor]:
    """ECGCNN_SE, ECGCNN_L, the signal ResNet, the rhythm trees, their blend and the RR baseline; the
    four model files must share their test records.

    Raises
    ------
    UsageError
        When the weights files name different test records (trained with other seeds).
    """
    predictors = {
        "se": Predictor.from_weights(weights_se, variant="se"),
        "l": Predictor.from_weights(weights_l, variant="l"),
        "resnet": Predictor.from_weights(resnet, variant="resnet"),
        "trees": Predictor.from_trees(trees),
        "blend": Predictor.from_blend(trees, resnet),
        "rr": Predictor.rr_baseline(),
    }
    files = {"l": weights_l, "resnet": resnet, "trees": trees}
    tests = {v: set(predictors[v].meta.get("training", {}).get("test_records", [])) for v in ("se", *files)}
    for key, path in files.items():
        if tests[key] != tests["se"]:
            raise UsageError(
                path,
                f"its {len(tests[key])} test records differ from the {len(tests['se'])} of {weights_se}"
                f" ({len(tests['se'] ^ tests[key])} differ): train every model with the same seed and data",
            )
    return predictors


def select_test_records(ws: WindowSet, meta: dict, max_records: int | None, seed: int) -> np.ndarray:
    """Mask over ``ws.records`` of the held-out test split, optionally subsampled (seeded)."""
    mask = select_split(ws, "test", meta)
    if max_records is not None and mask.sum() > max_records:
        keep = np.random.default_rng(seed).choice(np.flatnonzero(mask), max_records, replace=False)
        mask = np.zeros_like(mask)
        mask[keep] = True
    return mask


# --- metrics ------------------------------------------------------------------------------


def window_records(ws: WindowSet, mask: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """The records and per-window local record index of what :func:`evaluate` scores, in its order.

    Returns
    -------
    records : numpy.ndarray
        Rows of ``ws.records`` evaluated (sorted).
    local_index : numpy.ndarray
        For each scored window, its record's position in ``records``.
    """
    mask = np.ones(len(ws.records), dtype=bool) if mask is None else mask
    idx = np.flatnonzero(mask[ws.record_index] & (ws.labels >= 0))
    records, local_index = np.unique(ws.record_index[idx], return_inverse=True)
    return records, local_index


def bootstrap_intervals(
    y: np.ndarray,
    p_af: np.ndarray,
    threshold: float,
    local_index: np.ndarray,
    record_truth: np.ndarray,
    n_resamples: int,
    seed: int,
) -> dict[str, dict[str, list[float | None]]]:
    """Percentile bootstrap intervals of window- and record-level metrics, resampling records.

    Each resample draws as many records as there are, with replacement, and takes every
    window of each drawn record (a record drawn twice counts twice). The same seed gives the
    same resamples for every method on the same records (paired intervals).

    Parameters
    ----------
    y, p_af : numpy.ndarray
        Window truth (0/1) and AF probability.
    threshold : float
        AF threshold on ``p_af``.
    local_index : numpy.ndarray
        Record (0 .. R-1) of each window.
    record_truth : numpy.ndarray
        ``(R,)`` record-level truth.
    n_resamples : int
        Number of resamples (e.g. 1000).
    seed : int
        Seed of the resampling.

    Returns
    -------
    dict
        ``{level: {metric: [low, high]}}`` for ``CI_METRICS`` (``None`` where undefined).

    Example
    -------
    >>> bootstrap_intervals(y, p, 0.5, rec, truth, 1000, 0)["window"]["f1"]  # doctest: +SKIP
    [0.71, 0.80]
    """
    n_records = len(record_truth)
    order = np.argsort(local_index, kind="stable")
    per_record = np.bincount(local_index, minlength=n_records)
    first = np.cumsum(per_record) - per_record
    rng = np.random.default_rng(seed)
    draws: dict[str, dict[str, list[float]]] = {level: {m: [] for m in CI_METRICS} for level in LEVELS}
    for _ in range(n_resamples):
        chosen = rng.integers(0, n_records, n_records)
        lengths = per_record[chosen]
        offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        ix = order[np.repeat(first[chosen], lengths) + offsets]
        new_index = np.repeat(np.arange(n_records), lengths)
        metrics = {
            "window": binary_metrics(y[ix], p_af[ix], threshold),
            "record": record_metrics(new_index, record_truth[chosen], p_af[ix], threshold),
        }
        for level in LEVELS:
            for name in CI_METRICS:
                draws[level][name].append(metrics[level][name])
    tail = 100 * (1 - CONFIDENCE) / 2
    intervals: dict[str, dict[str, list[float | None]]] = {}
    for level in LEVELS:
        intervals[level] = {}
        for name in CI_METRICS:
            values = np.asarray(draws[level][name], dtype=float)
            values = values[np.isfinite(values)]
            bounds = np.percentile(values, [tail, 100 - tail]) if len(values) else [math.nan, math.nan]
            intervals[level][name] = [json_safe(float(b)) for b in bounds]
    return intervals


# --- 1. CinC 2017 test split --------------------------------------------------------------


def evaluate_cinc_test(
    predictors: dict[str, Predictor], ws: WindowSet, mask: np.ndarray, n_resamples: int, seed: int, out: Path
) -> tuple[dict[str, Any], dict[str, EvalResult]]:
    """Section 1: metrics with bootstrap intervals, confusion matrices and ROC curves per method."""
    records, local_index = window_records(ws, mask)
    truth = ws.record_targets()[records]
    scored = np.flatnonzero(mask[ws.record_index] & (ws.labels >= 0))
    section: dict[str, Any] = {
        "records": len(records),
        "windows": len(local_index),
        "af_windows": int((ws.labels[scored] == 1).sum()),
        "af_records": int(truth.sum()),
        "bootstrap": {"resamples": n_resamples, "seed": seed, "confidence": CONFIDENCE, "unit": "record"},
        "methods": {},
    }
    results: dict[str, EvalResult] = {}
    roc: dict[str, dict[str, tuple[np.ndarray, np.ndarray, float]]] = {level: {} for level in LEVELS}
    for key, predictor in predictors.items():
        started = time.time()
        result = evaluate(predictor, ws, mask)
        if len(result.y_true) != len(local_index):
            raise RuntimeError("window order differs from afdetect.evaluate.records.evaluate's")
        results[key] = result
        summary = result.to_json()
        summary["ci"] = bootstrap_intervals(
            result.y_true, result.p_af, result.threshold, local_index, truth, n_resamples, seed
        )
        summary["calibration"] = calibration_metrics(result.y_true, result.p_af)
        own_p = own_p_af(predictor, result, ws.windows[scored])
        if own_p is not None:
            summary["calibration"]["uncalibrated"] = calibration_metrics(result.y_true, own_p)
        summary["seconds"] = round(time.time() - started, 1)
        section["methods"][key] = json_safe(summary)
        plot_confusion(out / f"cinc2017_test_confusion_{key}.png", summary["confusion_matrix"], METHODS[key])
        roc["window"][METHODS[key]] = (*roc_curve(result.y_true, result.p_af), result.window["auroc"])
        fraction, mean_p = record_scores(local_index, result.p_af, result.threshold, len(records))
        roc["record"][METHODS[key]] = (*roc_curve(truth, fraction + 1e-3 * mean_p), result.record["auroc"])
    plot_roc_curves(out / "cinc2017_test_roc.png", roc["window"], "CinC 2017 test, window level")
    plot_roc_curves(out / "cinc2017_test_roc_record.png", roc["record"], "CinC 2017 test, record level")
    return section, results


def own_p_af(predictor: Predictor, result: EvalResult, windows: np.ndarray) -> np.ndarray | None:
    """The method's own P(AF) of the evaluated ``windows`` before its calibration of ``p_af``: from the
    class probabilities ``result`` holds (the trees, a four-class ECGCNN), else scored again by a
    calibrated model (a two-class ECGCNN); ``None`` for the others (the RR baseline, a file made
    before calibration)."""
    uncalibrated = getattr(predictor.scorer, "uncalibrated_af_probability", None)
    if uncalibrated is not None:  # the trees: their class_p holds the bag's calibrated p_af
        return uncalibrated(np.asarray(windows, dtype=np.float32))
    if result.class_p is not None:
        return result.class_p[:, AF_CLASS]
    calibration = getattr(predictor.scorer, "calibration", None)
    if calibration is None or calibration.is_identity:
        return None
    return predictor.scorer.class_probabilities(np.asarray(windows, dtype=np.float32))[:, AF_CLASS]


# --- 6. Training curves -------------------------------------------------------------------


def copy_curves(curves: dict[str, Path], out: Path) -> dict[str, str | None]:
    """Copy each training-curve PNG into ``out`` (atomically). Without its run (a fresh clone), the
    copy already in ``out`` stays, being the curves of the shipped weights; ``None`` when neither exists."""
    copied: dict[str, str | None] = {}
    for key, source in curves.items():
        target = out / f"training_curves_{key}.png"
        if source.is_file():
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
        copied[key] = target.name if target.is_file() else None
    return copied


# --- main ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run every section and write ``results.json``, ``RESULTS.md`` and the PNGs into ``--out``."""
    args = parse_args(argv)
    started = time.time()
    set_inference_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    predictors = load_predictors(args.weights_se, args.weights_l, args.trees, args.resnet)
    ws = load_or_build_windows(args.windows, args.data)
    mask = select_test_records(ws, predictors["se"].meta, args.max_records, args.seed)
    listed = len(predictors["se"].meta["training"]["test_records"])
    found = int(select_split(ws, "test", predictors["se"].meta).sum())
    if found < listed:
        print(
            f"warning: only {found} of the {listed} test records of the weights are in {args.windows}", file=sys.stderr
        )
    run: dict[str, Any] = {
        "quick": args.quick,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "afdetect_version": __version__,
        "windows_file": str(args.windows),
        "test_records": {"listed_in_weights": listed, "in_windows_file": found, "used": int(mask.sum())},
        "data": str(args.data),
        "seed": args.seed,
        "threads": args.threads,
        "methods": {
            "se": {"weights": shown_path(args.weights_se), "sha256": sha256(args.weights_se)[:16]},
            "l": {"weights": shown_path(args.weights_l), "sha256": sha256(args.weights_l)[:16]},
            "resnet": {"weights": shown_path(args.resnet), "sha256": sha256(args.resnet)[:16]},
            "trees": {"weights": shown_path(args.trees), "sha256": sha256(args.trees)[:16]},
            "blend": {
                "weights": f"{shown_path(args.trees)} + {shown_path(args.resnet)}",
                "sha256": f"{sha256(args.trees)[:8]}+{sha256(args.resnet)[:8]}",
            },
            "rr": {"weights": "(none: afdetect.signal.beats)", "sha256": "–"},
        },
    }
    for key, predictor in predictors.items():
        run["methods"][key]["threshold"] = predictor.threshold
    results: dict[str, Any] = {"run": run}

    print(f"1/5 CinC 2017 test split ({int(mask.sum())} records)", file=sys.stderr)
    results["cinc2017_test"], original = evaluate_cinc_test(predictors, ws, mask, args.bootstrap, args.seed, args.out)
    results["original_work"] = {
        "data": "MIT-BIH AFDB, the original work's validation split (not comparable data: for scale only)",
        "methods": ORIGINAL_WORK,
    }
    print("2/5 CPSC 2021", file=sys.stderr)
    results["cpsc2021"] = evaluate_cpsc(predictors, args.data / "cpsc2021")
    with scratch_dir(args.workdir) as workdir:
        print("3/5 resampling check", file=sys.stderr)
        trained = {k: predictors[k] for k in ("se", "l", "trees")}
        results["resampling"] = resampling_check(trained, ws, mask, original, args.data, workdir)
        print("4/5 synthetic 12-lead records", file=sys.stderr)
        results["synthetic"] = synthetic_check(predictors, workdir, args.synthetic_seeds, args.synthetic_s)
    print("5/5 report", file=sys.stderr)
    results["training_curves"] = copy_curves({"se": args.curves_se, "l": args.curves_l}, args.out)
    run["seconds"] = round(time.time() - started, 1)
    write_report(args.out / "results.json", results, args.out / "RESULTS.md", markdown_report(results))
    print_summary(results)
    print(f"\nwrote {args.out / 'RESULTS.md'}, results.json and PNGs in {run['seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main(main)
