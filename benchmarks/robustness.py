"""Robustness of a detector to other recording devices: cross-validated AF accuracy under perturbations.

How much record-level AF accuracy does a method (``--method trees``, the default; ``resnet``, the
signal ResNet; ``blend``, the two blended as ``afdetect predict --method blend`` does) lose on recordings
from other devices? For each of :data:`PERTURBATIONS`, every CinC 2017 record's raw signal (mV at
300 Hz, :func:`afdetect.io.signals.read_signal`) is perturbed, then goes through prediction's
pipeline: windows on the record's grid, conditioning (quality check, resampling to 128 Hz,
0.5-40 Hz band-pass, z-normalisation: :func:`~afdetect.signal.windows.condition_chunks`), rhythm
features and the trees with their stored calibration (:class:`~afdetect.detect.trees.TreesScorer`),
or the ResNet, or both.

The models are ``benchmarks/crossval.py``'s folds (``RUNS/trees/fold_K/best.json``,
``RUNS/resnet/fold_K/best.pt``): a record is
scored only by the fold that tested it (:func:`crossval.check_test_folds` proves the test folds
disjoint and complete), at that fold's stored threshold; nothing is fitted or chosen on perturbed
data. Metrics are pooled over the folds as ``crossval.py`` pools them (:func:`crossval.pooled_metrics`;
a record is AF when at least half of its windows are). ``clean`` is the reference of ΔF1 and always
runs; its windows are the windows file's to float16 rounding (the report gives the largest difference).
Noise comes from a generator seeded by ``--seed`` and the perturbation's name, drawn over the
records in the windows file's order, so every run draws the same.

Usage::

    python benchmarks/robustness.py --runs runs/crossval --windows runs/cinc2017.npz \\
        --data ../shared/data --out benchmarks/results/robustness
    python benchmarks/robustness.py --only inverted emg_10db    # and clean, the reference

On 2 CPU cores: reading the 7,504 records takes about 25 s, each perturbation 25-50 s.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from common import DEFAULT_DATA, REPO, load_or_build_windows, pct, run_main, write_report
from crossval_eval import check_test_folds, fold_part, pooled_metrics
from crossval_folds import DONE_MARKER
from perturbations import PERTURBATIONS, Perturbation, describe, noise_generator

from afdetect import __version__
from afdetect.config import RECORD_AF_FRACTION, Preprocessing, window_samples
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.evaluate.metrics import record_scores
from afdetect.evaluate.records import evaluate, select_split
from afdetect.io.atomic import json_safe
from afdetect.io.record import Record
from afdetect.io.reference import RecordLabels
from afdetect.io.signals import read_signal
from afdetect.signal.windows import RawChunk, condition_chunks, cut_windows, window_starts
from afdetect.training.cache import WindowSet
from afdetect.training.trees import TREES_FILE_NAME

METHOD_FILES: dict[str, tuple[tuple[str, str], ...]] = {
    "trees": (("trees", TREES_FILE_NAME),),
    "resnet": (("resnet", "best.pt"),),
    "blend": (("trees", TREES_FILE_NAME), ("resnet", "best.pt")),
}
"""The fold files each method reads: (crossval variant folder, file name), in the blend's member order."""
METHOD_NAMES = {"trees": "rhythm trees", "resnet": "signal ResNet", "blend": "blend of trees and signal ResNet"}

# --- records and windows -------------------------------------------------------------------


@dataclass(frozen=True)
class RawRecord:
    """One record as read from disk: sampling rate (Hz), the analysed lead (1-D float32 mV, invalid
    samples NaN) and its reference labels."""

    fs: float
    signal: np.ndarray
    labels: RecordLabels


def read_records(ws: WindowSet, data_dir: Path) -> list[RawRecord]:
    """The raw records of the windows file, in its order, read from ``data_dir/<source>/<name>``
    (the lead ``afdetect preprocess`` chose: :func:`~afdetect.io.signals.select_lead`'s default)."""
    references: dict[Path, dict[str, str]] = {}
    raw = []
    for name in ws.records:
        record = Record.open(data_dir / str(name))
        raw.append(RawRecord(record.info.fs, read_signal(record.info, record.lead_index), record.labels(references)))
    return raw


def raw_chunk(signal: np.ndarray, fs: float, preprocessing: Preprocessing) -> RawChunk:
    """A whole record's windows as read, on its own grid (as :func:`afdetect.signal.windows.record_chunks`)."""
    starts = window_starts(len(signal), fs, preprocessing.window_s, preprocessing.hop_s)
    return RawChunk(fs, starts, *cut_windows(signal, starts, window_samples(fs, preprocessing.window_s)))


def perturbed_windows(
    ws: WindowSet, raw: Sequence[RawRecord], perturb: Perturbation, rng: np.random.Generator, batch: int = 256
) -> WindowSet:
    """The windows file rebuilt from the perturbed raw records by prediction's pipeline.

    The records are ``ws``'s, in its order (so the folds' test records select the same rows);
    windows the quality check refuses are left out, as ``afdetect preprocess`` leaves them out.
    ``batch`` records are conditioned together (the same values as one by one).
    """
    parts = []
    for first in range(0, len(raw), batch):
        records = raw[first : first + batch]
        chunks = [raw_chunk(*perturb(r.signal, r.fs, rng), ws.preprocessing) for r in records]
        for row, (record, windows) in enumerate(
            zip(records, condition_chunks(chunks, ws.preprocessing), strict=True), first
        ):
            keep = np.array([p is None for p in windows.problems], dtype=bool)
            labels = record.labels.label_windows(windows.start_s, windows.end_s)
            parts.append((windows.x[keep], labels[keep], windows.start_s[keep], windows.end_s[keep], row))
    x, labels, start_s, end_s, rows = zip(*parts, strict=True)
    index = np.repeat(rows, [len(part) for part in labels])
    return WindowSet(
        np.concatenate(x),
        np.concatenate(labels),
        index,
        np.concatenate(start_s),
        np.concatenate(end_s),
        ws.records,
        ws.record_labels,
        ws.provenance,
    )


def windows_file_difference(rebuilt: WindowSet, ws: WindowSet, rows: int = 1024) -> float | None:
    """Largest absolute difference between rebuilt windows and the windows file's (float16) ones;
    ``None`` when they are not the same windows (records, starts)."""
    if not (np.array_equal(rebuilt.record_index, ws.record_index) and np.array_equal(rebuilt.start_s, ws.start_s)):
        return None
    return max(
        float(np.abs(rebuilt.windows[i : i + rows] - np.asarray(ws.windows[i : i + rows], np.float32)).max())
        for i in range(0, len(ws), rows)
    )


# --- the folds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: its model files, their predictor, the records it tested (a mask)."""

    paths: tuple[Path, ...]
    predictor: Predictor
    test: np.ndarray


def load_folds(runs: Path, ws: WindowSet, method: str = "trees") -> list[Fold]:
    """The folds of ``method`` in a ``crossval.py`` runs folder, proven to test every record exactly once.

    Raises
    ------
    UsageError
        When a variant folder the method reads (``RUNS/trees``, ``RUNS/resnet``) holds no finished
        fold, lacks one, or its test folds are not the windows file's folds.
    """
    for variant, _ in METHOD_FILES[method]:
        if not (runs / variant / "fold_0" / DONE_MARKER).is_file():
            command = f"benchmarks/crossval.py --variants {variant}"
            raise UsageError(runs / variant, f"holds no finished {variant} fold (fold_0/done.json): run '{command}'")
    first = runs / METHOD_FILES[method][0][0] / "fold_0" / DONE_MARKER
    recipe = json.loads(first.read_text())["recipe"]
    folds = []
    for k in range(recipe["folds"]):
        paths = tuple(runs / variant / f"fold_{k}" / name for variant, name in METHOD_FILES[method])
        for path in paths:
            if not path.is_file():
                raise UsageError(path, f"missing: fold {k} of {recipe['folds']} is not trained")
        predictor = fold_predictor(method, paths)
        folds.append(Fold(paths, predictor, select_split(ws, "test", predictor.meta)))
    recipe_args = argparse.Namespace(
        folds=len(folds), val_fraction=recipe["val_fraction"], seed=recipe["seed"], split_seed=recipe.get("split_seed")
    )
    check_test_folds(ws, {method: [f.test for f in folds]}, {method: [f.predictor.meta for f in folds]}, recipe_args)
    return folds


def fold_predictor(method: str, paths: tuple[Path, ...]) -> Predictor:
    """The predictor of one fold's model files (``METHOD_FILES[method]``, in order)."""
    if method == "blend":
        return Predictor.from_blend(*paths)
    return Predictor.for_method("trees" if method == "trees" else "cnn", weights=paths[0])


def score_folds(rebuilt: WindowSet, folds: Sequence[Fold]) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Each fold's trees on its own test records of ``rebuilt`` at its own threshold: the pooled
    metrics, and each record's call (1 AF, 0 not; -1 not scored: no readable labelled window)."""
    parts = [fold_part(evaluate(f.predictor, rebuilt, f.test), rebuilt, f.test) for f in folds]
    calls = np.full(len(rebuilt.records), -1, dtype=np.int8)
    for part in parts:
        fraction, _ = record_scores(part.local_index, part.p_af, part.threshold, len(part.record_truth))
        calls[np.unique(rebuilt.record_index[part.window])] = fraction >= RECORD_AF_FRACTION
    return pooled_metrics(parts), calls


# --- report --------------------------------------------------------------------------------


def table_lines(perturbations: dict[str, Any]) -> list[str]:
    """The report's table: one row per perturbation, record then window level."""
    lines = [
        "| perturbation | records | record Se | record Sp | record PPV | record F1(AF) | record AUROC "
        "| ΔF1 (points) | calls changed | windows | window F1(AF) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in perturbations.items():
        record, window, delta = row["record"], row["window"], row["delta_f1_points"]
        cells = [
            f"`{name}`",
            str(record["n"]),
            *(pct(record[m]) for m in ("sensitivity", "specificity", "ppv", "f1")),
            "–" if record["auroc"] is None else f"{record['auroc']:.3f}",
            "–" if delta is None else f"{delta:+.1f}",
            str(row["calls_changed"]),
            str(window["n"]),
            pct(window["f1"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_report(results: dict[str, Any]) -> str:
    """``robustness.md``: how the run was made, the table, what each perturbation means."""
    run = results["run"]
    thresholds = ", ".join(f"fold {k}: {t:.3f}" for k, t in enumerate(run["thresholds"]))
    difference = run["clean_windows_max_difference"]
    lines = [
        f"# Robustness of the {METHOD_NAMES[run['method']]} to other recording devices",
        "",
        f"Generated by `{run['command']}` on {run['created']} (afdetect {run['afdetect_version']}, "
        f"{run['seconds']:.0f} s).",
        "",
        f"Every CinC 2017 record (`{run['data']}`) is perturbed in its raw form (mV at its own rate), then goes "
        "through prediction's pipeline (windows, resampling to 128 Hz, 0.5-40 Hz band-pass, z-normalisation, rhythm "
        f"features) and is scored by the {METHOD_NAMES[run['method']]} of the {len(run['folds'])} cross-validation "
        f"folds in `{run['runs']}/` (`benchmarks/crossval.py`), each fold's model only on the records that fold "
        "tested, each at the threshold stored in its fold file "
        f"({thresholds}): nothing is fitted or chosen on perturbed data. Folds checked against the windows file "
        f"`{run['windows_file']}`. Pooled over the folds; a record is called AF when at least half of its "
        "windows are (windows the quality check refuses are left out, as in prediction). Noise seed "
        f"{run['seed']}. ΔF1: record F1(AF) against `clean`; calls changed: records called otherwise than under "
        "`clean` (or no longer scored), in either direction.",
        "",
        *table_lines(results["perturbations"]),
        "",
        "`clean`'s windows are the windows file's "
        + (
            "to within float16 rounding (largest difference "
            f"{difference:.4f}; the models here score the float32 windows)."
            if difference is not None
            else "**not**: they differ in number or position."
        ),
        "",
        "## Perturbations",
        "",
    ]
    lines += [f"- `{name}`: {row['description']}" for name, row in results["perturbations"].items()]
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (every path is an option, so tests never touch the repository)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=Path, default=REPO / "runs" / "crossval", help="Runs folder of crossval.py (its trees/fold_K)."
    )
    parser.add_argument(
        "--method", choices=list(METHOD_FILES), default="trees", help="Detector measured (default: the trees)."
    )
    parser.add_argument("--windows", type=Path, default=REPO / "runs" / "cinc2017.npz", help="The folds' windows file.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder holding cinc2017/ (the raw records).")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "robustness", help="Folder for the report."
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(PERTURBATIONS),
        default=list(PERTURBATIONS),
        metavar="NAME",
        help=f"Perturbations to run, of {', '.join(PERTURBATIONS)} (default all; clean always runs).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the perturbations' noise.")
    args = parser.parse_args(argv)
    args.only = ["clean", *(name for name in dict.fromkeys(args.only) if name != "clean")]
    return args


def run_perturbations(
    args: argparse.Namespace, ws: WindowSet, folds: Sequence[Fold], raw: Sequence[RawRecord]
) -> tuple[dict[str, Any], float | None]:
    """Every chosen perturbation's pooled metrics, ΔF1 and calls changed against ``clean``, and the
    largest difference between ``clean``'s windows and the windows file's."""
    rows: dict[str, Any] = {}
    difference, reference = None, None
    for name in args.only:
        started = time.time()
        rebuilt = perturbed_windows(ws, raw, PERTURBATIONS[name], noise_generator(args.seed, name))
        metrics, calls = score_folds(rebuilt, folds)
        if name == "clean":
            difference, reference = windows_file_difference(rebuilt, ws), calls
        rows[name] = {"description": describe(PERTURBATIONS[name]), **metrics}
        rows[name]["delta_f1_points"] = 100 * (metrics["record"]["f1"] - rows["clean"]["record"]["f1"])
        rows[name]["calls_changed"] = int((calls != reference).sum())
        rows[name]["seconds"] = round(time.time() - started, 1)
        print(f"  {name}: record F1(AF) {pct(metrics['record']['f1'])}, {rows[name]['seconds']:.0f} s", file=sys.stderr)
    return rows, difference


def main(argv: Sequence[str] | None = None) -> int:
    """Perturb every record, score it with the fold that tested it, write ``robustness.json`` and ``.md``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    started = time.time()
    ws = load_or_build_windows(args.windows, args.data)
    folds = load_folds(args.runs, ws, args.method)
    print(f"reading {len(ws.records)} records from {args.data}", file=sys.stderr)
    raw = read_records(ws, args.data)
    rows, difference = run_perturbations(args, ws, folds, raw)
    results = json_safe(
        {
            "run": {
                "command": shlex.join(["python", "benchmarks/robustness.py", *argv]),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "afdetect_version": __version__,
                "runs": str(args.runs),
                "method": args.method,
                "windows_file": str(args.windows),
                "data": str(args.data),
                "seed": args.seed,
                "folds": [" + ".join(str(path) for path in f.paths) for f in folds],
                "thresholds": [f.predictor.threshold for f in folds],
                "threshold_source": "each fold file's stored threshold (the blend: 0.5 on its mean relative log-odds)",
                "clean_windows_max_difference": difference,
                "seconds": round(time.time() - started, 1),
            },
            "perturbations": rows,
        }
    )
    args.out.mkdir(parents=True, exist_ok=True)
    write_report(args.out / "robustness.json", results, args.out / "robustness.md", markdown_report(results))
    print("\n".join(table_lines(results["perturbations"])))
    print(f"\nwrote robustness.md and .json in {args.out} ({results['run']['seconds']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main(main)
