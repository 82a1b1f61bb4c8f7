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
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import (
    DEFAULT_DATA,
    REPO,
    load_or_build_windows,
    pct,
    resample_signal,
    run_main,
    scratch_dir,
    shown_path,
    windows_called_af,
)

from afdetect import __version__
from afdetect.config import AF_CLASS
from afdetect.detect.inference import set_inference_threads
from afdetect.detect.predictor import Predictor
from afdetect.errors import AfdetectError, UsageError
from afdetect.evaluate.metrics import binary_metrics, calibration_metrics, record_metrics, record_scores, roc_curve
from afdetect.evaluate.records import EvalResult, evaluate, evaluate_records, select_split
from afdetect.io.atomic import atomic_open, atomic_path, json_safe
from afdetect.io.find import find_records
from afdetect.io.header import read_header
from afdetect.io.signals import read_signal, select_lead
from afdetect.io.synthetic import multi_lead, rhythm_signal
from afdetect.io.synthetic_files import write_mat_record, write_record, write_reference_csv
from afdetect.models.files import sha256
from afdetect.training.cache import WindowSet, windows_from_records
from afdetect.viz.plots import plot_confusion, plot_roc_curves

METHODS: dict[str, str] = {
    "se": "ECGCNN_SE",
    "l": "ECGCNN_L",
    "resnet": "Signal ResNet",
    "trees": "Rhythm trees",
    "blend": "Blend (trees + ResNet)",
    "rr": "RR baseline",
}
"""Method key to display name (the shipped model files, their blend and the RR-irregularity baseline)."""
METRICS = ("accuracy", "f1", "sensitivity", "specificity", "ppv", "auroc")
CI_METRICS = ("f1", "sensitivity", "specificity", "auroc")
LEVELS = ("window", "record")
CONFIDENCE = 0.95

ORIGINAL_WORK: dict[str, dict[str, float]] = {
    "l": {"accuracy": 0.9300, "f1": 0.6488},
    "se": {"accuracy": 0.9360, "f1": 0.7605},
}
"""The original work's ECGCNN results (MIT-BIH AFDB, its validation split)."""

RESAMPLE_RATES_HZ = (250, 500)
SYNTHETIC_FS = 500
SYNTHETIC_LEADS = 12
SYNTHETIC_RATES_BPM = (45, 70, 130)
SYNTHETIC_RHYTHMS = {"sinus": "N", "af": "A"}
"""Synthetic rhythms and their CinC-style REFERENCE.csv label."""

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
    if result.class_p is not None:
        return result.class_p[:, AF_CLASS]
    calibration = getattr(predictor.scorer, "calibration", None)
    if calibration is None or calibration.is_identity:
        return None
    return predictor.scorer.class_probabilities(np.asarray(windows, dtype=np.float32))[:, AF_CLASS]


# --- 3. CPSC 2021 -------------------------------------------------------------------------


def evaluate_cpsc(predictors: dict[str, Predictor], directory: Path) -> dict[str, Any]:
    """Section 3: window metrics (where defined) and EC57 episode statistics on CPSC 2021."""
    if not directory.is_dir():
        return {"skipped": f"{directory} not found"}
    records = find_records([directory])
    section: dict[str, Any] = {"methods": {}}
    for key, predictor in predictors.items():
        errors: list[str] = []
        try:  # one streamed pass per method: window metrics and EC57 episode statistics
            result = evaluate_records(predictor, records, on_record=_collect_errors(errors))
        except UsageError as exc:
            section["methods"][key] = {"window_error": str(exc)}
            continue
        section.update(
            records=len(result.per_record),
            windows=len(result.y_true),
            af_windows=int(result.y_true.sum()),
            skipped=errors,
        )
        section["methods"][key] = json_safe(result.to_json())
    return section


def _collect_errors(errors: list[str]) -> Callable[[Path, AfdetectError | None], None]:
    """An ``on_record`` callback that appends each skipped record's message to ``errors``."""

    def on_record(path: Path, error: AfdetectError | None) -> None:
        if error is not None:
            errors.append(str(error))

    return on_record


# --- 4. Resampling check ------------------------------------------------------------------


def write_resampled_records(ws: WindowSet, mask: np.ndarray, data_dir: Path, fs_out: int, directory: Path) -> Path:
    """Resample the raw signal of each selected record to ``fs_out`` Hz; write WFDB format 16 + REFERENCE.csv.

    The records keep their names in a folder of the same name as their source folder
    (``directory/cinc2017/A00002``), so their windows carry the same record keys.

    Returns
    -------
    Path
        The folder of the written records.
    """
    labels: dict[str, str] = {}
    folder = None
    for row in np.flatnonzero(mask):
        name = str(ws.records[row])
        info = read_header(data_dir / name)
        x = read_signal(info, select_lead(info, None)).astype(np.float64)
        y = resample_signal(x, info.fs, fs_out)
        folder = directory / Path(name).parent
        write_record(folder, info.name, fs_out, y, sig_names=[info.sig_names[0]], fmt="16")
        labels[info.name] = str(ws.record_labels[row])
    if folder is None:
        raise UsageError(None, "no test record to resample")
    write_reference_csv(folder, labels)
    return folder


def resampling_check(
    predictors: dict[str, Predictor],
    ws: WindowSet,
    mask: np.ndarray,
    original: dict[str, EvalResult],
    data_dir: Path,
    workdir: Path,
) -> dict[str, Any]:
    """Section 4: the test records at 250 and 500 Hz, evaluated as records, beside the original rate."""
    rates: dict[str, Any] = {}
    native = sorted({_hz(read_header(data_dir / str(ws.records[r])).fs) for r in np.flatnonzero(mask)[:20]})
    original_windows = _window_frame(ws, mask)
    for fs_out in RESAMPLE_RATES_HZ:
        started = time.time()
        folder = write_resampled_records(ws, mask, data_dir, fs_out, workdir / f"resampled_{fs_out}hz")
        errors: list[str] = []
        ws_rate = windows_from_records(find_records([folder]), on_record=_collect_errors(errors))
        rate_windows = _window_frame(ws_rate, None)
        entry: dict[str, Any] = {"records": len(ws_rate.records), "skipped": errors, "methods": {}}
        for key in predictors:
            result = evaluate(predictors[key], ws_rate)
            base = original[key]
            merged = pd.merge(
                original_windows.assign(p_orig=base.p_af),
                rate_windows.assign(p_new=result.p_af),
                on=["record", "start_s"],
                how="inner",
            )
            t = result.threshold
            delta = (merged["p_new"] - merged["p_orig"]).abs()
            entry["methods"][key] = json_safe(
                {
                    "window": result.window,
                    "record": result.record,
                    "original_window": base.window,
                    "original_record": base.record,
                    "difference": {
                        level: {
                            m: getattr(result, level)[m] - getattr(base, level)[m] for m in ("accuracy", "f1", "auroc")
                        }
                        for level in LEVELS
                    },
                    "matched_windows": len(merged),
                    "mean_abs_dp": float(delta.mean()) if len(merged) else math.nan,
                    "max_abs_dp": float(delta.max()) if len(merged) else math.nan,
                    "flipped_calls": int(((merged["p_new"] >= t) != (merged["p_orig"] >= t)).sum()),
                }
            )
        entry["seconds"] = round(time.time() - started, 1)
        rates[f"{fs_out}"] = entry
    return {"original_fs_hz": native, "rates_hz": rates}


def _hz(fs: float) -> float | int:
    """A sampling rate as an int when it is whole (300.0 -> 300)."""
    return int(fs) if float(fs).is_integer() else float(fs)


def _window_frame(ws: WindowSet, mask: np.ndarray | None) -> pd.DataFrame:
    """Record name and start (s) of each window :func:`evaluate` scores, in its order."""
    mask = np.ones(len(ws.records), dtype=bool) if mask is None else mask
    idx = np.flatnonzero(mask[ws.record_index] & (ws.labels >= 0))
    return pd.DataFrame({"record": ws.records[ws.record_index[idx]], "start_s": np.round(ws.start_s[idx], 2)})


# --- 5. Synthetic 12-lead records ---------------------------------------------------------


def synthetic_check(predictors: dict[str, Predictor], workdir: Path, seeds: int, duration_s: float) -> dict[str, Any]:
    """Section 5: fraction of windows called AF in synthetic 12-lead 500 Hz sinus and AF records."""
    directory = workdir / "synthetic_12lead"
    records: dict[tuple[str, int], list[Path]] = {}
    for rhythm in SYNTHETIC_RHYTHMS:
        for bpm in SYNTHETIC_RATES_BPM:
            for seed in range(seeds):
                ecg = rhythm_signal(SYNTHETIC_FS, [(rhythm, duration_s)], hr_bpm=bpm, seed=1000 * bpm + seed)
                signals = multi_lead(ecg.signal, SYNTHETIC_LEADS, seed=seed)
                name = f"{rhythm}_{bpm}bpm_{seed}"
                path = write_mat_record(directory, name, SYNTHETIC_FS, signals, comments=[f"synthetic {rhythm}"])
                records.setdefault((rhythm, bpm), []).append(path)
    rows = []
    for (rhythm, bpm), paths in records.items():
        for key, predictor in predictors.items():
            calls = windows_called_af(predictor, paths)
            rows.append({"rhythm": rhythm, "hr_bpm": bpm, "method": key, "records": len(paths), **calls})
    return json_safe(
        {
            "fs_hz": SYNTHETIC_FS,
            "leads": SYNTHETIC_LEADS,
            "lead_used": "I (first ECG lead)",
            "record_s": duration_s,
            "records_per_rate": seeds,
            "rows": rows,
        }
    )


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


# --- report -------------------------------------------------------------------------------


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _metric(metrics: dict[str, Any], name: str) -> str:
    return _num(metrics.get(name)) if name == "auroc" else pct(metrics.get(name))


def _with_ci(entry: dict[str, Any], level: str, name: str) -> str:
    text = _metric(entry[level], name)
    low, high = entry.get("ci", {}).get(level, {}).get(name, [None, None])
    if low is None or high is None:
        return text
    if name == "auroc":
        return f"{text} [{low:.3f}, {high:.3f}]"
    return f"{text} [{100 * low:.1f}, {100 * high:.1f}]"


def markdown_report(results: dict[str, Any]) -> str:
    """``RESULTS.md``: every section as markdown tables, figures linked."""
    run = results["run"]
    lines = ["# afdetect benchmark results", ""]
    lines.append(
        f"Generated by `python benchmarks/evaluate_models.py{' --quick' if run['quick'] else ''}` on "
        f"{run['created']} (afdetect {run['afdetect_version']}, {run['seconds']:.0f} s)."
    )
    if run["quick"]:
        lines += ["", "> **Quick run** (subsampled smoke test): these are not the model card's figures."]
    lines += ["", "| method | weights | sha256 | threshold |", "|---|---|---|---:|"]
    for key, info in run["methods"].items():
        lines.append(f"| {METHODS[key]} | `{info['weights']}` | `{info['sha256']}` | {info['threshold']:.3f} |")

    cinc = results["cinc2017_test"]
    boot = cinc["bootstrap"]
    lines += [
        "",
        "## 1. CinC 2017 held-out test split",
        "",
        f"{cinc['records']} records ({cinc['af_records']} AF), {cinc['windows']} labelled 30 s windows "
        f"({cinc['af_windows']} AF); the test records named in the weights' training info (never seen in "
        "training or threshold choice). Brackets: 95 % percentile bootstrap intervals over "
        f"{boot['resamples']} resamples of records (seed {boot['seed']}; the same resamples for every method). "
        "Record level: a record is called AF when at least half of its windows are.",
    ]
    counts = run.get("test_records", {})
    if counts and counts["used"] < counts["listed_in_weights"]:
        lines += [
            "",
            f"Only {counts['used']} of the {counts['listed_in_weights']} test records named in the weights are used "
            f"({counts['in_windows_file']} are in the windows file).",
        ]
    for level in LEVELS:
        lines += [
            "",
            f"### {level.capitalize()} level",
            "",
            "| method | accuracy | F1(AF) | sensitivity | specificity | PPV | AUROC |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for key, entry in cinc["methods"].items():
            cells = [_with_ci(entry, level, m) if m in CI_METRICS else _metric(entry[level], m) for m in METRICS]
            lines.append(f"| {METHODS[key]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "### Calibration of `p_af` (test windows)",
        "",
        "Expected calibration error (10 bins) and Brier score, and before calibration: the method's own P(AF)"
        " where it calibrates one (the rhythm trees, and the ECGCNN files, calibrated on their validation records).",
        "",
        "| method | ECE | Brier | ECE before | Brier before |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, entry in cinc["methods"].items():
        cal, before = entry["calibration"], entry["calibration"].get("uncalibrated")
        cells = [f"{cal['ece']:.3f}", f"{cal['brier']:.3f}"]
        cells += [f"{before['ece']:.3f}", f"{before['brier']:.3f}"] if before else ["–", "–"]
        lines.append(f"| {METHODS[key]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "![ROC curves, window level](cinc2017_test_roc.png) ![ROC curves, record level](cinc2017_test_roc_record.png)",
        "",
        " ".join(f"![{METHODS[k]} confusion](cinc2017_test_confusion_{k}.png)" for k in cinc["methods"]),
    ]

    lines += [
        "",
        "## 2. The original work's figures beside ours",
        "",
        "| model | data | accuracy | F1(AF) |",
        "|---|---|---:|---:|",
    ]
    for key in ("l", "se"):
        original = ORIGINAL_WORK[key]
        ours = cinc["methods"][key]
        lines.append(
            f"| {METHODS[key]} (original work) | MIT-BIH AFDB, their validation split | "
            f"{pct(original['accuracy'], 2)} | {pct(original['f1'], 2)} |"
        )
        for level in LEVELS:
            lines.append(
                f"| {METHODS[key]} (afdetect) | CinC 2017 test split, {level} level | "
                f"{pct(ours[level]['accuracy'], 2)} | {pct(ours[level]['f1'], 2)} |"
            )
    lines += [
        "",
        "The data sets differ (MIT-BIH AFDB: 23 two-lead Holter records at 250 Hz; CinC 2017: single-lead "
        "9-61 s handheld recordings at 300 Hz, AF against normal, other rhythms and noise), as do the splits and "
        "the AF prevalence, so the original figures are for scale only, not a like-for-like comparison.",
    ]

    cpsc = results["cpsc2021"]
    lines += ["", "## 3. Cross-domain: CPSC 2021 (two-lead 200 Hz, not used for training)", ""]
    if "methods" not in cpsc:
        lines.append(f"Skipped: {cpsc['skipped']}.")
    else:
        lines += [
            f"{cpsc['records']} records, {cpsc['windows']} labelled windows ({cpsc['af_windows']} AF; "
            "mixed and flutter windows left out). EC57 statistics are gross (pooled over records); "
            "episodes are afdetect's merged AF episodes against the `.atr` rhythm annotations, whole records compared.",
            "",
            "| method | window accuracy | window F1(AF) | window sensitivity | window specificity | window AUROC "
            "| episode Se | episode +P | duration Se | duration +P |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key, entry in cpsc["methods"].items():
            window = entry.get("window", {})
            gross = (entry.get("ec57") or {}).get("gross", {})
            cells = [_metric(window, m) for m in ("accuracy", "f1", "sensitivity", "specificity", "auroc")]
            cells += [pct(gross.get(m)) for m in ("episode_se", "episode_ppv", "duration_se", "duration_ppv")]
            lines.append(f"| {METHODS[key]} | " + " | ".join(cells) + " |")
        lines += ["", "– : undefined (no AF, or no call, in the denominator)."]

    resampling = results["resampling"]
    lines += [
        "",
        "## 4. Resampling check",
        "",
        f"The same CinC 2017 test records, resampled from "
        f"{', '.join(str(fs) for fs in resampling['original_fs_hz'])} Hz with "
        "`scipy.signal.resample_poly`, written as WFDB format-16 records and evaluated as records "
        "(afdetect resamples every record to its model rate of 128 Hz, so the figures should barely move).",
        "",
        "| method | rate | window accuracy | window F1(AF) | window AUROC | record accuracy | record F1(AF) "
        "| mean abs Δp | max abs Δp | flipped window calls |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for key in next(iter(resampling["rates_hz"].values()))["methods"]:
        first = next(iter(resampling["rates_hz"].values()))["methods"][key]
        lines.append(
            f"| {METHODS[key]} | original | {_metric(first['original_window'], 'accuracy')} | "
            f"{_metric(first['original_window'], 'f1')} | {_metric(first['original_window'], 'auroc')} | "
            f"{_metric(first['original_record'], 'accuracy')} | {_metric(first['original_record'], 'f1')} | | | |"
        )
        for rate, entry in resampling["rates_hz"].items():
            m = entry["methods"][key]
            lines.append(
                f"| {METHODS[key]} | {rate} Hz | {_metric(m['window'], 'accuracy')} | {_metric(m['window'], 'f1')} | "
                f"{_metric(m['window'], 'auroc')} | {_metric(m['record'], 'accuracy')} | {_metric(m['record'], 'f1')} "
                f"| {_num(m['mean_abs_dp'])} | {_num(m['max_abs_dp'])} "
                f"| {m['flipped_calls']} of {m['matched_windows']} |"
            )

    synthetic = results["synthetic"]
    lines += [
        "",
        f"## 5. Synthetic 12-lead {synthetic['fs_hz']} Hz records (synthetic signals, not patient data)",
        "",
        f"{synthetic['records_per_rate']} record(s) of {synthetic['record_s']:g} s per rhythm and rate, written as "
        "CinC 2020 / PTB-XL style MATLAB-v4 WFDB records by `afdetect.io.synthetic`; lead I is analysed. "
        "Fraction of windows called AF (sinus: should be 0; AF: should be high).",
        "",
        "| rhythm | heart rate | " + " | ".join(METHODS[k] for k in METHODS) + " | windows per method |",
        "|---|---:|" + "---:|" * len(METHODS) + "---:|",
    ]
    table = pd.DataFrame(synthetic["rows"])
    for (rhythm, bpm), group in table.groupby(["rhythm", "hr_bpm"], sort=False):
        by_method = group.set_index("method")
        cells = [pct(json_safe(by_method.loc[k, "fraction_af"])) if k in by_method.index else "–" for k in METHODS]
        name = {"sinus": "sinus", "af": "AF"}[rhythm]
        lines.append(f"| {name} | {bpm} bpm | " + " | ".join(cells) + f" | {int(group['windows'].iloc[0])} |")

    lines += ["", "## 6. Training curves", ""]
    for key, name in results["training_curves"].items():
        lines.append(f"![{METHODS[key]} training curves]({name})" if name else f"{METHODS[key]}: no curves found.")
    return "\n".join(lines) + "\n"


def print_summary(results: dict[str, Any]) -> None:
    """Concise stdout table of the headline figures."""
    cinc = results["cinc2017_test"]
    print(f"\nCinC 2017 test: {cinc['records']} records, {cinc['windows']} windows")
    header = f"{'method':12} {'level':7} " + " ".join(f"{m:>11}" for m in METRICS)
    print(header)
    for key, entry in cinc["methods"].items():
        for level in LEVELS:
            cells = " ".join(f"{_metric(entry[level], m):>11}" for m in METRICS)
            print(f"{METHODS[key]:12} {level:7} {cells}")
    cpsc = results["cpsc2021"]
    if "methods" in cpsc:
        print(f"\nCPSC 2021 ({cpsc['records']} records) EC57 gross: episode Se / +P, duration Se / +P")
        for key, entry in cpsc["methods"].items():
            gross = (entry.get("ec57") or {}).get("gross", {})
            cells = " ".join(
                f"{pct(gross.get(m)):>9}" for m in ("episode_se", "episode_ppv", "duration_se", "duration_ppv")
            )
            print(f"{METHODS[key]:12} {cells}")
    print("\nResampling (difference to the original rate: window accuracy, F1, AUROC; mean |Δp|; flipped calls)")
    for rate, entry in results["resampling"]["rates_hz"].items():
        for key, m in entry["methods"].items():
            d = m["difference"]["window"]
            diffs = " ".join("   –" if d[n] is None else f"{d[n]:+.4f}" for n in ("accuracy", "f1", "auroc"))
            print(
                f"{METHODS[key]:12} {rate:>4} Hz {diffs}  {_num(m['mean_abs_dp'])}"
                f"  {m['flipped_calls']}/{m['matched_windows']}"
            )
    print("\nSynthetic 12-lead 500 Hz: fraction of windows called AF")
    table = pd.DataFrame(results["synthetic"]["rows"])
    pivot = table.pivot_table(index=["rhythm", "hr_bpm"], columns="method", values="fraction_af", sort=False)
    print(pivot[[k for k in METHODS if k in pivot.columns]].round(3).to_string())


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
    with atomic_open(args.out / "results.json") as handle:
        json.dump(json_safe(results), handle, indent=2, allow_nan=False)
    with atomic_open(args.out / "RESULTS.md") as handle:
        handle.write(markdown_report(results))
    print_summary(results)
    print(f"\nwrote {args.out / 'RESULTS.md'}, results.json and PNGs in {run['seconds']:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main(main)
