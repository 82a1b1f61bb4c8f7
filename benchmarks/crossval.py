"""K-fold cross-validation by record: ECGCNN_SE and ECGCNN_L against the RR baseline on CinC 2017.

The records of the windows file are dealt into K folds stratified by record-level AF truth
(:func:`afdetect.training.splits.record_folds`, seeded). For each fold k and variant, one training run
(:func:`afdetect.training.loop.train` with ``folds=K, fold=k``) holds fold k out as its test split,
validates (early stopping, threshold) on ``val_fraction`` of the other records and trains on
the rest. Each fold's ``best.pt`` is then evaluated on its own test fold only
(:func:`afdetect.evaluate.records.evaluate` on ``select_split(ws, "test", meta)``, the records its
weights name), and the RR-irregularity baseline, refitted on the same training records
(:func:`fit_rr_fold`), on the same test records. Every record is tested
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
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
from common import load_or_build_windows, pct, run_main

from afdetect import __version__
from afdetect.config import (
    LABEL_NAMES,
    MODEL_CLASSES,
    RECORD_AF_FRACTION,
    TRAIN_BATCH,
    TRAIN_CLASSES,
    TRAIN_EPOCHS,
    TRAIN_PATIENCE,
    VAL_FRACTION,
)
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
from afdetect.io.atomic import atomic_open, atomic_path, json_safe
from afdetect.models.files import sha256
from afdetect.models.registry import is_hybrid
from afdetect.signal import rr
from afdetect.signal.features import FEATURES_VERSION
from afdetect.training.cache import WindowSet, load_window_set, save_window_set
from afdetect.training.loop import train
from afdetect.training.options import TrainConfig
from afdetect.training.splits import split_records
from afdetect.training.trees import TREES_FILE_NAME, train_trees

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("AFDETECT_DATA", REPO.parent / "shared" / "data"))

METHODS: dict[str, str] = {
    "se": "ECGCNN_SE",
    "l": "ECGCNN_L",
    "se-rhythm": "SE + rhythm (latent)",
    "se-rhythm-head": "SE + rhythm (head)",
    "resnet": "Signal ResNet",
    "resnet-rhythm": "ResNet + rhythm (head)",
    "trees": "Rhythm trees",
    "rr": "RR baseline",
    "blend": "Blend (trees + ResNet)",
}
"""Method key to display name (the trained methods, the RR-irregularity baseline, and the blend of
trees and signal ResNet that ``blend.py`` and ``robustness.py --method blend`` score from their folds)."""
VARIANTS = ("se", "l", "trees", "se-rhythm", "se-rhythm-head", "resnet", "resnet-rhythm")
"""What can be trained per fold: the ECGCNN variants (the paper's two and the hybrids that also take
the rhythm features), the signal-only ResNet and the rhythm trees (``train --method trees``)."""
DEFAULT_VARIANTS = ("se", "l", "trees")
"""What is trained per fold unless ``--variants`` says otherwise."""
METRICS = ("sensitivity", "specificity", "ppv", "f1", "accuracy", "auroc")
METRIC_NAMES = {
    "sensitivity": "sensitivity",
    "specificity": "specificity",
    "ppv": "PPV",
    "f1": "F1(AF)",
    "accuracy": "accuracy",
    "auroc": "AUROC",
}
LEVELS = ("window", "record")

ORIGINAL_WORK: dict[str, dict[str, float]] = {
    "l": {"accuracy": 0.9300, "f1": 0.6488},
    "se": {"accuracy": 0.9360, "f1": 0.7605},
}
"""The original work's ECGCNN results (MIT-BIH AFDB, its validation split)."""

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

DONE_MARKER = "done.json"
WINDOWS_FILE = "crossval_windows.npz"
"""Per-window test-fold predictions of every method (:func:`window_predictions`), beside the report."""
RECIPE_KEYS = (
    "data",
    "method",
    "variant",
    "epochs",
    "batch_size",
    "lr",
    "weight_decay",
    "val_fraction",
    "seed",
    "split_seed",
    "patience",
    "augment_p",
    "model_overrides",
    "folds",
    "fold",
    "classes",
)
"""The :class:`~afdetect.training.loop.TrainConfig` fields a finished fold must share with the current options
(``classes``: ECGCNN folds only; the trees always learn four)."""
CNN_ONLY_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "patience", "augment_p", "model_overrides", "classes")
"""Recipe keys the trees do not read (:func:`afdetect.training.trees.train_trees`)."""
RECIPE_BEFORE: dict[str, Any] = {"classes": len(LABEL_NAMES), "features_version": 1, "split_seed": None}
"""What a fold trained before a recipe key existed had: ECGCNN learnt AF against the rest, on
features version 1, its record split of ``seed``."""


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


# --- training -----------------------------------------------------------------------------


def fold_config(args: argparse.Namespace, variant: str, fold: int, data: Path) -> TrainConfig:
    """The training options of one fold of one variant (run folder ``RUNS/VARIANT/fold_K``)."""
    trees = variant == "trees"
    return TrainConfig(
        data=data,
        out_dir=args.runs / variant / f"fold_{fold}",
        method="trees" if trees else "cnn",
        variant="se" if trees else variant,
        epochs=args.epochs,
        batch_size=args.batch_size,
        val_fraction=args.val_fraction,
        seed=args.seed,
        split_seed=args.split_seed,
        patience=args.patience,
        device=args.device,
        model_overrides=dict(args.resnet_overrides if variant.startswith("resnet") else args.model_overrides),
        folds=args.folds,
        fold=fold,
        classes=args.classes,
    )


def split_seed(args: argparse.Namespace) -> int:
    """The seed of the folds: ``--split-seed``, else ``--seed``."""
    return args.seed if args.split_seed is None else args.split_seed


def recipe(config: TrainConfig) -> dict[str, Any]:
    """The ``RECIPE_KEYS`` of a config as plain JSON types (tuples become lists, paths strings); the
    trees' without the :data:`CNN_ONLY_KEYS` (they learn four classes whatever ``--classes`` says, and
    no epochs or batches), so trees folds serve runs of any CNN recipe. Folds that read the
    rhythm features (the trees, the hybrids) add the ``features_version`` they were trained on:
    a fold of other features is refused, not scored on this version's."""
    keys = [k for k in RECIPE_KEYS if not (config.method == "trees" and k in CNN_ONLY_KEYS)]
    plain = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items() if k in keys}
    if config.method == "trees" or is_hybrid(config.variant):
        plain["features_version"] = FEATURES_VERSION
    return json.loads(json.dumps(plain))


def train_fold(config: TrainConfig) -> dict[str, Any]:
    """Train one fold unless it is done; return its ``done.json`` content.

    A fold is done when its folder holds ``best.pt`` and ``done.json``; it is then skipped.
    A fold with ``last.pt`` but no marker (an interrupted run) resumes from ``last.pt``.

    Raises
    ------
    UsageError
        When a done (or interrupted) fold was trained with another recipe.
    """
    out = Path(config.out_dir)
    marker, best_path = out / DONE_MARKER, best_file(config)
    wanted = recipe(config)
    if marker.is_file() and best_path.is_file():
        done = json.loads(marker.read_text())
        _check_recipe(out, done.get("recipe", {}), wanted)
        print(f"  {out}: done (best epoch {done['best']['epoch']}), skipped", file=sys.stderr)
        return done
    if config.method == "trees":
        return _finish_fold(marker, wanted, train_trees_fold(config))
    if best_path.is_file():
        stored = Predictor.from_weights(best_path, variant=config.variant).meta.get("training", {}).get("recipe", {})
        _check_recipe(out, stored, wanted)
    config.resume = (out / "last.pt").is_file()
    started = time.time()

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "epoch":
            print(f"  {out}: epoch {done}/{total} ({time.time() - started:.0f} s)", file=sys.stderr)

    print(f"  {out}: {'resuming' if config.resume else 'training'}", file=sys.stderr)
    best = train(config, progress)
    return _finish_fold(marker, wanted, (best, time.time() - started))


def best_file(config: TrainConfig) -> Path:
    """The file a fold's run leaves its model in: ``best.pt`` (ECGCNN) or ``best.json`` (trees)."""
    return Path(config.out_dir) / (TREES_FILE_NAME if config.method == "trees" else "best.pt")


def train_trees_fold(config: TrainConfig) -> tuple[dict[str, Any], float]:
    """Fit one fold's rhythm trees (seconds); the summary in the shape of an ECGCNN run's best epoch."""
    started = time.time()
    print(f"  {config.out_dir}: training trees", file=sys.stderr)
    summary = train_trees(config, load_window_set(config.data))
    best = {"epoch": None, "val_f1": summary["val"]["f1"], "threshold": summary["threshold"], "val": summary["val"]}
    return best, time.time() - started


def _finish_fold(marker: Path, wanted: dict[str, Any], run: tuple[dict[str, Any], float]) -> dict[str, Any]:
    """Write a finished fold's ``done.json`` (recipe, best summary, seconds) and return it."""
    best, seconds = run
    done = {
        "recipe": wanted,
        "best": json_safe(best),
        "seconds": round(seconds, 1),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    with atomic_open(marker) as handle:
        json.dump(done, handle, indent=2, allow_nan=False)
    return done


def _check_recipe(out: Path, stored: dict[str, Any], wanted: dict[str, Any]) -> None:
    """Refuse a fold whose stored recipe differs from ``wanted`` (keys it predates: ``RECIPE_BEFORE``).

    ``data`` is compared as the file it names, so a fold trained on ``runs/cinc2017.npz`` serves a
    run given the same file's absolute path (relative paths resolve from the current folder).
    """
    stored = {**RECIPE_BEFORE, **stored}
    differ = sorted(k for k in wanted if not _same_entry(k, stored.get(k), wanted[k]))
    if differ:
        detail = ", ".join(f"{k}: {stored.get(k)!r} there, {wanted[k]!r} now" for k in differ)
        raise UsageError(out, f"was trained with another recipe ({detail}); pass another --runs folder or delete it")


def _same_entry(key: str, stored: Any, wanted: Any) -> bool:
    """Whether a recipe entry stored with a fold is the wanted one (``data``: the same file)."""
    if key == "data" and isinstance(stored, str) and isinstance(wanted, str):
        return Path(stored).resolve() == Path(wanted).resolve()
    return json.loads(json.dumps(stored)) == wanted


# --- evaluation ---------------------------------------------------------------------------


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
                "weights": _shown(model_file),
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


# --- report -------------------------------------------------------------------------------


def _metric(metrics: dict[str, Any], name: str, digits: int = 1) -> str:
    value = metrics.get(name)
    if name == "auroc":
        return "–" if value is None else f"{value:.3f}"
    return pct(value, digits)


def _mean_sd(entry: dict[str, float | None], name: str) -> str:
    mean, sd = entry["mean"], entry["sd"]
    if mean is None:
        return "–"
    if name == "auroc":
        return f"{mean:.3f}" + ("" if sd is None else f" ± {sd:.3f}")
    return f"{100 * mean:.1f}" + ("" if sd is None else f" ± {100 * sd:.1f}") + " %"


def calibration_lines(pooled: dict[str, Any]) -> list[str]:
    """The report's table of each method's calibration of ``p_af`` on the pooled test windows."""
    lines = [
        "",
        "### Calibration of `p_af`",
        "",
        "Expected calibration error (10 equal-width bins) and Brier score of the pooled test windows' `p_af`.",
        "",
        "| method | ECE | Brier |",
        "|---|---:|---:|",
    ]
    for key, metrics in pooled["methods"].items():
        window = metrics["window"]
        lines.append(f"| {METHODS[key]} | {window['ece']:.3f} | {window['brier']:.3f} |")
    return lines


def challenge_lines(challenge: dict[str, dict[str, float]]) -> list[str]:
    """The report's table of the pooled challenge scores of the four-class methods (none: no lines)."""
    if not challenge:
        return []
    lines = [
        "",
        "### Challenge score of the four-class methods",
        "",
        "The CinC 2017 challenge's F1(N, A, O) of the methods that learn CinC's four classes (the rhythm trees, "
        "ECGCNN with `--classes 4`): records called AF are `A`, the others take the most probable of the "
        "method's other classes (mean over the record's windows).",
        "",
        "| method | F1(N) | F1(A) | F1(O) | mean F1(N, A, O) |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, score in challenge.items():
        cells = " | ".join(pct(score[name]) for name in ("f1_N", "f1_A", "f1_O", "mean"))
        lines.append(f"| {METHODS[key]} | {cells} |")
    return lines


def markdown_report(results: dict[str, Any]) -> str:
    """``crossval.md``: pooled, mean ± SD and per-fold tables, the original work's figures, the runs."""
    run, pooled = results["run"], results["pooled"]
    keys = list(pooled["methods"])
    k = run["folds"]
    lines = ["# K-fold cross-validation by record", ""]
    folds_of = run.get("split_seed", run["seed"])
    other_folds = "" if folds_of == run["seed"] else f" (folds of seed {folds_of})"
    lines.append(
        f"Generated by `python benchmarks/crossval.py{' --quick' if run['quick'] else ''}` on {run['created']} "
        f"(afdetect {run['afdetect_version']}, {run['seconds']:.0f} s): {k} folds, seed {run['seed']}{other_folds}, "
        f"at most {run['epochs']} epoch(s) (patience {run['patience']}), ECGCNN on {run['classes']} classes, "
        f"windows file `{run['windows_file']}`."
    )
    if run["quick"]:
        lines += ["", "> **Quick run** (tiny model, 1 epoch, a few hundred windows): a smoke test, not results."]
    lines += [
        "",
        f"The {pooled['records']} records ({pooled['af_records']} AF; {pooled['windows']} labelled 30 s windows, "
        f"{pooled['af_windows']} AF) were dealt into {k} folds stratified by record-level AF. Each fold was tested "
        f"by weights trained on the other folds (the CNN's threshold and early stopping on "
        f"{100 * run['val_fraction']:.0f} % of their records; the rhythm trees' threshold and class weights on "
        "out-of-fold probabilities of all their records, `afdetect.training.trees.out_of_fold_class_p`), so every "
        "record is tested "
        "exactly once and never by weights that saw it. The RR baseline is refitted per fold on the same training "
        "records (its logistic score and F1-optimal threshold, `afdetect.detect.rr.fit_score`) and scored on the "
        "same test records. Record level: a record is called AF when at least half of its windows are.",
        "",
        f"## Pooled over the {k} test folds",
        "",
        "All folds' test windows together, each called at its own fold's threshold (AUROC ranks the pooled "
        "probabilities).",
    ]
    header = "| method | " + " | ".join(METRIC_NAMES[m] for m in METRICS) + " |"
    rule = "|---|" + "---:|" * len(METRICS)
    for level in LEVELS:
        lines += ["", f"### {level.capitalize()} level", "", header, rule]
        for key in keys:
            cells = [_metric(pooled["methods"][key][level], m) for m in METRICS]
            lines.append(f"| {METHODS[key]} | " + " | ".join(cells) + " |")

    lines += calibration_lines(pooled)
    lines += challenge_lines(pooled["challenge"])

    names = " | ".join(METRIC_NAMES[m] for m in METRICS)
    lines += [
        "",
        f"## Mean ± SD over the {k} folds",
        "",
        f"| method | level | {names} |",
        "|---|---|" + "---:|" * len(METRICS),
    ]
    for key in keys:
        for level in LEVELS:
            cells = [_mean_sd(results["fold_mean_sd"][key][level][m], m) for m in METRICS]
            lines.append(f"| {METHODS[key]} | {level} | " + " | ".join(cells) + " |")

    lines += [
        "",
        "## Per fold",
        "",
        "| fold | test records (AF) | windows (AF) | method | level | threshold | "
        + " | ".join(METRIC_NAMES[m] for m in METRICS)
        + " |",
        "|---:|---:|---:|---|---|---:|" + "---:|" * len(METRICS),
    ]
    for entry in results["folds"]:
        for key in keys:
            method = entry["methods"][key]
            for level in LEVELS:
                cells = [_metric(method[level], m) for m in METRICS]
                lines.append(
                    f"| {entry['fold']} | {entry['records']} ({entry['af_records']}) | "
                    f"{entry['windows']} ({entry['af_windows']}) | {METHODS[key]} | {level} | "
                    f"{method['threshold']:.3f} | " + " | ".join(cells) + " |"
                )

    lines += [
        "",
        "## The original work's figures beside ours",
        "",
        "| model | data | accuracy | F1(AF) |",
        "|---|---|---:|---:|",
    ]
    for key in ("l", "se"):
        original = ORIGINAL_WORK[key]
        lines.append(
            f"| {METHODS[key]} (original work) | MIT-BIH AFDB, their validation split | "
            f"{pct(original['accuracy'], 2)} | {pct(original['f1'], 2)} |"
        )
        if key not in pooled["methods"]:
            continue
        for level in LEVELS:
            ours = pooled["methods"][key][level]
            lines.append(
                f"| {METHODS[key]} (afdetect) | CinC 2017, {k}-fold pooled, {level} level | "
                f"{pct(ours['accuracy'], 2)} | {pct(ours['f1'], 2)} |"
            )
    lines += [
        "",
        "The data sets differ (MIT-BIH AFDB: 23 two-lead Holter records at 250 Hz; CinC 2017: single-lead "
        "9-61 s handheld recordings at 300 Hz, AF against normal, other rhythms and noise), as do the splits and "
        "the AF prevalence, so the original figures are for scale only, not a like-for-like comparison.",
        "",
        "## Training runs",
        "",
        "| method | fold | best epoch | validation F1(AF) | threshold | training time | weights | sha256 |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for entry in results["folds"]:
        for key, info in entry["runs"].items():
            lines.append(
                f"| {METHODS[key]} | {entry['fold']} | {info['best_epoch'] or '–'} | {pct(info['val_f1'])} | "
                f"{entry['methods'][key]['threshold']:.3f} | {info['train_seconds']:.0f} s | `{info['weights']}` | "
                f"`{info['sha256']}` |"
            )
    return "\n".join(lines) + "\n"


def print_summary(results: dict[str, Any]) -> None:
    """Concise stdout tables: pooled metrics per level, then F1(AF) per fold."""
    pooled = results["pooled"]
    print(
        f"\n{results['run']['folds']}-fold cross-validation: {pooled['records']} records, {pooled['windows']} windows"
    )
    print(f"{'method':12} {'level':7} " + " ".join(f"{METRIC_NAMES[m]:>11}" for m in METRICS) + "  (pooled)")
    for key, entry in pooled["methods"].items():
        for level in LEVELS:
            print(f"{METHODS[key]:12} {level:7} " + " ".join(f"{_metric(entry[level], m):>11}" for m in METRICS))
    print("\nF1(AF) per fold (window / record)")
    for key in pooled["methods"]:
        cells = "  ".join(
            f"{_metric(f['methods'][key]['window'], 'f1')} / {_metric(f['methods'][key]['record'], 'f1')}"
            for f in results["folds"]
        )
        print(f"{METHODS[key]:12} {cells}")
    for key, score in pooled["challenge"].items():
        print(
            f"\n{METHODS[key]}, challenge F1(N, A, O): {pct(score['mean'])} "
            f"(N {pct(score['f1_N'])}, A {pct(score['f1_A'])}, O {pct(score['f1_O'])})"
        )
    print("\nOriginal work (MIT-BIH AFDB, for scale only): accuracy / F1(AF)")
    for key in ("l", "se"):
        print(f"{METHODS[key]:12} {pct(ORIGINAL_WORK[key]['accuracy'], 2)} / {pct(ORIGINAL_WORK[key]['f1'], 2)}")


def _shown(path: Path) -> str:
    """A path relative to the repository when inside it (stable across checkouts)."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


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
            "windows_file": _shown(data),
            "runs": _shown(args.runs),
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
    with atomic_open(args.out / "crossval.json") as handle:
        json.dump(results, handle, indent=2, allow_nan=False)
    with atomic_open(args.out / "crossval.md") as handle:
        handle.write(markdown_report(results))
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
