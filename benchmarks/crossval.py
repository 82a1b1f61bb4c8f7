"""K-fold cross-validation by record: ECGCNN_SE and ECGCNN_L against the RR baseline on CinC 2017.

The records of the windows file are dealt into K folds stratified by record-level AF truth
(:func:`afdetect.training.splits.record_folds`, seeded). For each fold k and variant, one training run
(:func:`afdetect.training.loop.train` with ``folds=K, fold=k``) holds fold k out as its test split,
validates (early stopping, threshold) on ``val_fraction`` of the other records and trains on
the rest. Each fold's ``best.pt`` is then evaluated on its own test fold only
(:func:`afdetect.evaluate.records.evaluate` on ``select_split(ws, "test", meta)``, the records its
weights name), and the RR-irregularity baseline, refitted on the same training records
(``crossval_eval.fit_rr_fold``), on the same test records. Every record is tested
exactly once, by weights that never saw it; the script checks this from the weights files
(the test folds of the runs are disjoint, cover every record, and agree between variants).

Reported, per fold and pooled (all folds' test windows concatenated, each called at its own
fold's threshold; records likewise): AF sensitivity, specificity, PPV, F1, accuracy and
AUROC at window and record level, the mean ± SD over folds, and the original work's table
(ECGCNN_L / ECGCNN_SE on MIT-BIH AFDB, for scale only).

Runs go to ``RUNS/VARIANT/fold_K`` (``best.pt``, ``last.pt``, ``metrics.csv``, ``curves.png``
and the marker ``done.json``). The script is resumable: a fold with ``best.pt`` and
``done.json`` is not trained again (it must have the same recipe), and an interrupted fold
continues from its ``last.pt``. Results are written atomically to ``OUT/crossval.json``,
``OUT/crossval.md`` and ``OUT/crossval_windows.npz`` (every method's test-fold ``p_af`` and
threshold per window, for analyses such as ``benchmarks/rate_strata.py``).

Usage::

    python benchmarks/crossval.py                     # 3 folds x (se, l), the shipped recipe; resumable
    python benchmarks/crossval.py --folds 5 --device cuda   # 5 folds on a GPU
    python benchmarks/crossval.py --quick             # smoke run (< 1 min): 2 folds, 1 epoch, tiny model
    python benchmarks/crossval.py --classes 4 --variants se --runs runs/crossval_4c --out benchmarks/results/4c

On 2 CPU cores one fold of one variant takes about 30 min (50 epochs of ~35 s with one
torch thread). Training the two variants side by side, one process each, is the fastest
use of two cores (about 1.5 h for 3 folds); a last run over both variants then finds every
fold done and writes the side-by-side report::

    python benchmarks/crossval.py --variants se --threads 1 &
    python benchmarks/crossval.py --variants l --threads 1 &
    wait; python benchmarks/crossval.py

The hybrids (``--variants se-rhythm se-rhythm-head``) need a windows file with cached rhythm
features; ``--only-fold K`` trains one fold and stops, so folds can train side by side, and a
last run without it evaluates (the report of ``benchmarks/results/crossval_hybrid/``)::

    for k in 0 1 2; do python benchmarks/crossval.py --variants se-rhythm --only-fold $k --threads 1 \
        --epochs 10 --patience 10 --runs runs/crossval_hybrid --out benchmarks/results/crossval_hybrid & done
    wait; python benchmarks/crossval.py --variants se-rhythm --epochs 10 --patience 10 \
        --runs runs/crossval_hybrid --out benchmarks/results/crossval_hybrid

``--classes 4`` trains the ECGCNN variants on CinC's four classes (N, A, O, ~; as the original
ECG-DualNet) instead of AF against the rest; their ``p_af`` is P(A), and the report adds their
challenge score F1(N, A, O) beside the trees'. A runs folder holds one choice: a fold trained with
the other is refused (its recipe differs).

``--quick`` trains a tiny model for one epoch on about 300 windows (half from AF records) in
``runs/crossval_quick`` and writes to ``benchmarks/results/quick/``: its figures mean nothing.

This file holds the options and the run; the folds are trained by ``crossval_folds.py``,
evaluated by ``crossval_eval.py`` and reported by ``crossval_report.py``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import DEFAULT_DATA, ORIGINAL_WORK, REPO, load_or_build_windows, run_main, shown_path, write_report
from crossval_eval import evaluate_folds
from crossval_folds import fold_config, split_seed, train_fold
from crossval_report import markdown_report, print_summary

from afdetect import __version__
from afdetect.config import (
    MODEL_CLASSES,
    TRAIN_BATCH,
    TRAIN_CLASSES,
    TRAIN_EPOCHS,
    TRAIN_PATIENCE,
    VAL_FRACTION,
)
from afdetect.errors import UsageError
from afdetect.io.atomic import atomic_path, json_safe
from afdetect.training.cache import WindowSet, load_window_set, save_window_set

VARIANTS = ("se", "l", "trees", "se-rhythm", "se-rhythm-head", "resnet", "resnet-rhythm")
"""What can be trained per fold: the ECGCNN variants (the paper's two and the hybrids that also take
the rhythm features), the signal-only ResNet and the rhythm trees (``train --method trees``)."""
DEFAULT_VARIANTS = ("se", "l", "trees")
"""What is trained per fold unless ``--variants`` says otherwise."""

DEFAULTS = {"folds": 3, "epochs": TRAIN_EPOCHS, "patience": TRAIN_PATIENCE, "threads": 2, "max_windows": None}
"""Full-run options: the shipped weights' recipe (:mod:`afdetect.config`'s training constants,
the :class:`~afdetect.training.loop.TrainConfig` defaults) on 3 folds, which two CPU cores finish in
an afternoon (each fold trains on 57 % of the records, against 70 % for the shipped weights)."""
QUICK = {
    "folds": 2,
    "epochs": 1,
    "patience": 1,
    "threads": None,
    "max_windows": 300,
    "model_overrides": {"channels": (4, 8), "lstm_hidden": 8, "lstm_layers": 1},
    "resnet_overrides": {"widths": (4, 8)},
}
"""Options of ``--quick`` (a tiny model: a few thousand parameters; ``resnet_overrides`` for the
signal ResNet, ``model_overrides`` for the ECGCNN variants)."""

WINDOWS_FILE = "crossval_windows.npz"
"""Per-window test-fold predictions of every method (``crossval_eval.window_predictions``), beside the report."""


# --- options -----------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (every path is an option, so tests never touch the repository)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--windows",
        type=Path,
        default=REPO / "runs" / "cinc2017.npz",
        help="CinC 2017 windows file (built if missing).",
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="Folder holding cinc2017/ (to build --windows)."
    )
    parser.add_argument(
        "--runs", type=Path, default=None, help="Folder of the training runs (default runs/crossval; quick: *_quick)."
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="Folder for crossval.json/.md (default benchmarks/results; quick: /quick).",
    )
    parser.add_argument("--folds", type=int, default=None, help="Number of folds K (default 3; quick 2).")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(DEFAULT_VARIANTS), help="Variants to train."
    )
    parser.add_argument(
        "--only-fold",
        type=int,
        default=None,
        help="Train this fold (0-based) of the variants and stop without evaluating (to train folds in parallel).",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help=f"Maximum epochs per fold (default {TRAIN_EPOCHS}; quick 1)."
    )
    parser.add_argument(
        "--patience", type=int, default=None, help=f"Early-stopping patience (default {TRAIN_PATIENCE}; quick 1)."
    )
    parser.add_argument("--batch-size", type=int, default=TRAIN_BATCH, help="Windows per batch.")
    parser.add_argument(
        "--classes",
        type=int,
        choices=sorted(MODEL_CLASSES),
        default=TRAIN_CLASSES,
        help="ECGCNN's classes: 2 (AF against the rest) or 4 (CinC's N, A, O, ~); the trees always learn four.",
    )
    parser.add_argument(
        "--val-fraction", type=float, default=VAL_FRACTION, help="Validation share of the non-test records."
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the folds, initialisation and augmentation.")
    parser.add_argument(
        "--split-seed",
        type=int,
        default=None,
        help="Seed of the folds and validation records alone (default --seed): --seed 1 --split-seed 0 trains"
        " again with other initialisation and augmentation on the same test folds.",
    )
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N.")
    parser.add_argument("--threads", type=int, default=None, help="Torch CPU threads (default 2; quick: torch's).")
    parser.add_argument(
        "--max-windows", type=int, default=None, help="Train on a subset of about this many windows (quick: 300)."
    )
    parser.add_argument("--quick", action="store_true", help="Smoke run: 2 folds, 1 epoch, tiny model, 300 windows.")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else DEFAULTS
    for name in ("folds", "epochs", "patience", "threads", "max_windows"):
        if getattr(args, name) is None:
            setattr(args, name, preset[name])
    args.model_overrides = dict(QUICK["model_overrides"]) if args.quick else {}
    args.resnet_overrides = dict(QUICK["resnet_overrides"]) if args.quick else {}
    suffix = "_quick" if args.quick else ""
    if args.runs is None:
        args.runs = REPO / "runs" / f"crossval{suffix}"
    if args.out is None:
        args.out = REPO / "benchmarks" / "results" / ("quick" if args.quick else "")
    args.variants = list(dict.fromkeys(args.variants))
    if args.folds < 2:
        raise UsageError(None, f"--folds must be at least 2, got {args.folds}")
    if args.only_fold is not None and not 0 <= args.only_fold < args.folds:
        raise UsageError(None, f"--only-fold must lie in [0, {args.folds - 1}], got {args.only_fold}")
    if args.max_windows is not None and args.max_windows < 4:
        raise UsageError(None, f"--max-windows must be at least 4, got {args.max_windows}")
    return args


# --- data ---------------------------------------------------------------------------------


def subsample_windows(ws: WindowSet, max_windows: int, seed: int) -> WindowSet:
    """Whole records holding about ``max_windows`` windows, half of them from AF records (seeded).

    Records are drawn in a seeded random order per class (AF, non-AF) until each class has
    half the budget (and at least two records, when it has them), so small subsets still
    hold both classes in every fold.

    Example
    -------
    >>> small = subsample_windows(load_window_set("runs/cinc2017.npz"), 300, seed=0)  # doctest: +SKIP
    >>> len(small) <= 330  # doctest: +SKIP
    True
    """
    rng = np.random.default_rng(seed)
    truth = ws.record_targets()
    per_record = np.bincount(ws.record_index, minlength=len(ws.records))
    chosen: list[np.ndarray] = []
    for cls in (1, 0):
        order = rng.permutation(np.flatnonzero(truth == cls))
        enough = np.cumsum(per_record[order]) >= max_windows / 2
        n = int(np.argmax(enough)) + 1 if enough.any() else len(order)
        chosen.append(order[: max(n, min(2, len(order)))])
    keep = np.sort(np.concatenate(chosen))
    new_index = np.full(len(ws.records), -1, dtype=np.int64)
    new_index[keep] = np.arange(len(keep))
    rows = np.flatnonzero(new_index[ws.record_index] >= 0)
    provenance = dict(ws.provenance)
    provenance["subset"] = {"max_windows": max_windows, "seed": seed, "of_records": len(ws.records)}
    return WindowSet(
        windows=np.asarray(ws.windows[rows]),
        labels=ws.labels[rows],
        record_index=new_index[ws.record_index[rows]],
        start_s=ws.start_s[rows],
        end_s=ws.end_s[rows],
        records=ws.records[keep],
        record_labels=ws.record_labels[keep],
        provenance=provenance,
        features=None if ws.features is None else np.asarray(ws.features[rows]),
    )


# --- main ---------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Train every fold of every variant (skipping finished ones), evaluate, write the report."""
    args = parse_args(argv)
    started = time.time()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.runs.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    ws = load_or_build_windows(args.windows, args.data)
    data = args.windows
    if args.max_windows is not None and len(ws) > args.max_windows:
        data = args.runs / f"windows_{args.max_windows}.npz"
        save_window_set(subsample_windows(ws, args.max_windows, args.seed), data)
        ws = load_window_set(data)
    print(f"training {args.folds} folds x {', '.join(args.variants)} on {data} ({len(ws)} windows)", file=sys.stderr)
    for fold in range(args.folds) if args.only_fold is None else [args.only_fold]:
        for variant in args.variants:
            train_fold(fold_config(args, variant, fold, data))
    if args.only_fold is not None:
        print(f"fold {args.only_fold} trained; run again without --only-fold to evaluate", file=sys.stderr)
        return 0
    print("evaluating each fold's weights and the RR baseline on its test records", file=sys.stderr)
    summary, windows = evaluate_folds(ws, args)
    results: dict[str, Any] = {
        "run": {
            "quick": args.quick,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "afdetect_version": __version__,
            "windows_file": shown_path(data),
            "runs": shown_path(args.runs),
            "folds": args.folds,
            "variants": args.variants,
            "epochs": args.epochs,
            "patience": args.patience,
            "batch_size": args.batch_size,
            "val_fraction": args.val_fraction,
            "seed": args.seed,
            "split_seed": split_seed(args),
            "device": args.device,
            "threads": args.threads,
            "model_overrides": args.model_overrides,
            "classes": args.classes,
        },
        **summary,
        "original_work": {
            "data": "MIT-BIH AFDB, the original work's validation split (not comparable data: for scale only)",
            "methods": ORIGINAL_WORK,
        },
    }
    results["run"]["seconds"] = round(time.time() - started, 1)
    results = json_safe(results)
    write_report(args.out / "crossval.json", results, args.out / "crossval.md", markdown_report(results))
    with atomic_path(args.out / WINDOWS_FILE) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, **windows)
    print_summary(results)
    print(
        f"\nwrote {args.out / 'crossval.md'}, crossval.json and {WINDOWS_FILE} in {results['run']['seconds']:.0f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    run_main(main)
