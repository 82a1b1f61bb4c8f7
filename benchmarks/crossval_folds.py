"""Training the folds of ``benchmarks/crossval.py``: each fold's options and recipe, resumable runs."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from afdetect.config import LABEL_NAMES
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.io.atomic import atomic_open, json_safe
from afdetect.models.registry import is_hybrid
from afdetect.signal.features import FEATURES_VERSION
from afdetect.training.cache import load_window_set
from afdetect.training.loop import train
from afdetect.training.options import TrainConfig
from afdetect.training.trees import TREES_FILE_NAME, train_trees

DONE_MARKER = "done.json"
"""The file that marks a fold as trained (its recipe, best summary and seconds)."""
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
