"""Training the rhythm trees (``afdetect train --method trees``) with the ECGCNN's record-wise split.

The records are split exactly as for ECGCNN (:func:`~afdetect.training.splits.split_records`
with the same options), so ``eval --split test`` tests both on the same records and
``--folds K --fold k`` gives the same cross-validation folds. The trees learn the four CinC
classes from the training and validation records
(:func:`~afdetect.training.targets.four_class_targets`); the calibration of ``p_af``, the AF
threshold and the weight of the other-rhythm class come from those records' out-of-fold
probabilities (:func:`train_trees`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from afdetect.config import AF_CLASS, CINC_CLASSES
from afdetect.detect.trees import TreesScorer
from afdetect.errors import UsageError, check_range
from afdetect.evaluate.metrics import (
    binary_metrics,
    calibration_metrics,
    plateau_middle,
    plateau_threshold,
    record_metrics,
)
from afdetect.evaluate.records import challenge_score
from afdetect.models.calibration import PlattCalibration
from afdetect.models.trees import (
    DEFAULT_RECIPE,
    EQUAL_WEIGHTS,
    TreesMember,
    TreesRecipe,
    bag_threshold,
    fit_trees,
    member_seeds,
    save_trees,
    weigh_other_classes,
)
from afdetect.signal.features import rhythm_features
from afdetect.training.augment import crop_signal
from afdetect.training.cache import WindowSet
from afdetect.training.options import TrainConfig
from afdetect.training.splits import record_folds, split_records, split_summary
from afdetect.training.targets import four_class_targets

TREES_FILE_NAME = "best.json"
"""File the trees are written to in the run's ``out_dir`` (the ECGCNN writes ``best.pt``)."""


CROP_BLOCK: int = 2048
"""Windows cropped and measured at a time by :func:`feature_views` (bounds the working memory)."""


def feature_views(
    ws: WindowSet, features: np.ndarray, recipe: TreesRecipe = DEFAULT_RECIPE, rows: np.ndarray | None = None
) -> list[np.ndarray]:
    """The training rows of each window: its ``features``, then, for each entry ``s`` of
    ``recipe.crop_s``, the features of the window less ``s`` seconds at its start and at its end
    (:func:`~afdetect.training.augment.crop_signal`), measured for the windows ``rows`` (bool;
    default all) and NaN for the others.

    CinC 2017 strips run 9-61 s, so a 30 s window holds anything from a third of its samples to
    all of them, and a Holter window always all. The cropped views teach the trees how the rhythm
    statistics of fewer beats spread. Every window gets the same number of rows (those too short
    to crop are repeated whole), so no record's weight changes. On CinC 2017 (3-fold record-wise
    cross-validation): crops of 6 s raised the best-threshold record F1(AF) by 0.3 and 0.5
    points at two fold seeds (scratch replicas, features version 4); adding crops of 12 s raised
    the record F1 from 83.2 % to 83.9 % and to 84.0 % at two fold seeds (``benchmarks/crossval.py``,
    features version 5).

    Raises
    ------
    ParameterError
        When an entry of ``recipe.crop_s`` is not a positive number of seconds.
    """
    for drop_s in recipe.crop_s:
        check_range("crop_s", drop_s, 0, low_open=True)
    views = [features]
    fs = ws.preprocessing.model_fs
    measured = np.arange(len(features)) if rows is None else np.flatnonzero(rows)
    for drop_s in recipe.crop_s:
        for at_start in (True, False):
            view = np.full_like(features, np.nan)
            for start in range(0, len(measured), CROP_BLOCK):
                which = measured[start : start + CROP_BLOCK]
                block = crop_signal(
                    ws.windows[which], drop_s, at_start=at_start, min_signal_s=recipe.crop_min_signal_s, fs=fs
                )
                view[which] = rhythm_features(block, fs)
            views.append(view)
    return views


def fit_on_views(views: list[np.ndarray], targets: np.ndarray, rows: np.ndarray, recipe: TreesRecipe, threads: int):
    """:func:`~afdetect.models.trees.fit_trees` on the ``rows`` of every view (:func:`feature_views`)."""
    return fit_trees(
        np.concatenate([view[rows] for view in views]), np.tile(targets[rows], len(views)), recipe, threads
    )


def window_feature_matrix(ws: WindowSet) -> np.ndarray:
    """The windows' rhythm features: the windows file's cached copy when it has this
    version's features (:attr:`~afdetect.training.cache.WindowSet.has_current_features`), else
    computed from the (float16) windows."""
    if ws.has_current_features:
        return np.asarray(ws.features, dtype=np.float32)
    return rhythm_features(np.asarray(ws.windows, dtype=np.float32), ws.preprocessing.model_fs)


THRESHOLD_FOLDS: int = 4
"""Folds of the training and validation records whose out-of-fold probabilities choose the threshold."""

OTHER_WEIGHTS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.15, 1.3, 1.5, 1.7, 2.0, 2.3, 2.6, 3.0)
"""Weights of the ``O`` class (against 1 for ``N`` and ``~``) that :func:`choose_other_weight` tries."""

OTHER_WEIGHT_TOLERANCE: float = 0.002
"""Challenge-score points (as a fraction) below the best that still count as the best weight."""


def train_trees(
    config: TrainConfig, ws: WindowSet, *, recipe: TreesRecipe = DEFAULT_RECIPE, threads: int = 0
) -> dict[str, Any]:
    """Train a bag of ``recipe.members`` runs of the trees on the training and validation records
    and write ``out_dir/best.json``.

    Each run (:func:`_train_member`) has its own seed (:func:`~afdetect.models.trees.member_seeds`
    of the run's ``config.seed``, ``--seed``), which seeds its booster's row and feature samples
    and deals its out-of-fold records; it calibrates its ``p_af`` and chooses its AF threshold and
    other-rhythm weight (:func:`choose_other_weight`) on its own out-of-fold probabilities. The
    bag's ``p_af`` is the mean of the runs' and its threshold the mean of theirs. ``config.record_seed``
    splits the records.

    The threshold is chosen on every training and validation window, each scored by trees fitted
    without its record (``THRESHOLD_FOLDS`` record-wise folds): thousands of records rather than
    the validation share alone. F1(AF) is nearly flat over a wide range of thresholds, so the
    middle of the near-best range is taken (:func:`~afdetect.evaluate.metrics.plateau_threshold`),
    not the single best, which a few windows move far. The test records are never used.

    Returns
    -------
    dict
        ``threshold`` (the bag's), ``members`` (each run's ``seed``, ``threshold`` and
        ``class_weights`` in :data:`~afdetect.config.CINC_CLASSES` order), ``calibration``
        (expected calibration error and Brier score of the runs' mean out-of-fold P(AF) ``before``
        their Platt maps and of the bag's out-of-fold ``p_af`` ``after``), and window and record metrics
        of the bag's out-of-fold ``p_af`` (``val``, ``val_record``) and of the bag on the test
        records (``test``, ``test_record``; empty without test records).
    """
    recipe = replace(recipe, seed=config.seed)
    split = split_records(
        ws.record_targets(), config.val_fraction, config.test_fraction, config.record_seed, config.folds, config.fold
    )
    targets = four_class_targets(ws)
    window_split = split[ws.record_index]
    fit = (targets >= 0) & (window_split <= 1)
    if len(np.unique(targets[fit & (window_split == 0)])) < 2 or not (fit & (window_split == 1)).any():
        raise UsageError(config.data, "too few labelled windows of two classes for a train/validation split")
    features = window_feature_matrix(ws)
    tuning = (ws.labels >= 0) & (window_split <= 1)
    views = feature_views(ws, features, recipe, fit)
    seeds = member_seeds(config.seed, recipe.members)
    runs = [
        _train_member(ws, views, targets, fit, window_split <= 1, replace(recipe, seed=seed), threads) for seed in seeds
    ]
    members = [run.member for run in runs]
    threshold = bag_threshold(members)
    oof = np.mean([run.oof for run in runs], axis=0)
    p_af = TreesScorer(members).bag_probabilities(features)[:, AF_CLASS]
    summary: dict[str, Any] = {
        "threshold": threshold,
        "members": [
            {"seed": seed, "threshold": m.threshold, "class_weights": m.class_weights.tolist()}
            for seed, m in zip(seeds, members, strict=True)
        ],
        "calibration": {
            "before": calibration_metrics(ws.labels[tuning], np.mean([run.raw_oof for run in runs], axis=0)[tuning]),
            "after": calibration_metrics(ws.labels[tuning], oof[tuning]),
        },
    }
    summary.update(_split_metrics(ws, oof, threshold, tuning, "val"))
    summary.update(_split_metrics(ws, p_af, threshold, (ws.labels >= 0) & (window_split == 2), "test"))
    info = {
        "data": str(config.data),
        "data_provenance": ws.provenance,
        "recipe": asdict(recipe),
        "member_seeds": seeds,
        "threshold_from": f"out-of-fold P(AF) of the training and validation records ({THRESHOLD_FOLDS} folds), "
        "one deal of them per member; the bag's threshold is the mean of the members'",
        "calibration_from": "the same out-of-fold P(AF) (Platt scaling of the log-odds), per member",
        "class_weights_from": "the same records' out-of-fold class probabilities (challenge F1 of their calls)",
        **split_summary(ws.records, split, seed=config.record_seed, folds=config.folds, fold=config.fold),
        "train_windows": {name: int(np.sum(targets[fit] == i)) for i, name in enumerate(CINC_CLASSES)},
        "best": summary,
    }
    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_trees(out_dir / TREES_FILE_NAME, members, info, preprocessing=ws.preprocessing)
    return summary


@dataclass(frozen=True)
class MemberRun:
    """One trained run of a bag: the member, and its out-of-fold P(``A``) before (``raw_oof``) and
    after (``oof``) its calibration (NaN outside the scored windows)."""

    member: TreesMember
    raw_oof: np.ndarray
    oof: np.ndarray


def _train_member(
    ws: WindowSet,
    views: list[np.ndarray],
    targets: np.ndarray,
    fit: np.ndarray,
    scored: np.ndarray,
    recipe: TreesRecipe,
    threads: int,
) -> MemberRun:
    """One run of the bag, seeded by ``recipe.seed``: out-of-fold class probabilities of the
    ``scored`` windows fit its calibration, AF threshold and other-rhythm weight (on the labelled
    ones), then its booster is fitted on every ``fit`` window's views."""
    tuning = scored & (ws.labels >= 0)
    oof_class_p = out_of_fold_class_p(ws, views, targets, fit, scored, recipe, threads, seed=recipe.seed)
    raw_oof = oof_class_p[:, AF_CLASS]
    calibration = PlattCalibration.fit(raw_oof[tuning], ws.labels[tuning])
    oof = calibration.apply(raw_oof)
    threshold = plateau_threshold(ws.labels[tuning], oof[tuning])
    class_weights = choose_other_weight(ws, oof_class_p, oof, threshold, tuning)
    booster = fit_on_views(views, targets, fit, recipe, threads)
    return MemberRun(TreesMember(booster, threshold, calibration, class_weights), raw_oof, oof)


def out_of_fold_class_p(
    ws: WindowSet,
    views: list[np.ndarray],
    targets: np.ndarray,
    fit: np.ndarray,
    scored: np.ndarray,
    recipe: TreesRecipe,
    threads: int,
    *,
    seed: int,
    folds: int = THRESHOLD_FOLDS,
) -> np.ndarray:
    """Class probabilities ``(n, 4)`` of each ``scored`` window from trees fitted on the ``fit``
    windows of the other folds (the ``scored`` windows' records dealt into record-wise folds,
    stratified by record AF), in all their ``views`` (:func:`feature_views`; scored on the first,
    the whole windows); NaN elsewhere."""
    records = np.unique(ws.record_index[scored])
    record_fold = np.full(len(ws.records), -1)
    record_fold[records] = record_folds(ws.record_targets()[records], folds, np.random.default_rng(seed))
    window_fold = record_fold[ws.record_index]
    oof = np.full((len(views[0]), len(CINC_CLASSES)), np.nan)
    for k in range(folds):
        booster = fit_on_views(views, targets, fit & (window_fold != k), recipe, threads)
        held_out = window_fold == k
        oof[held_out] = booster.predict(views[0][held_out])
    return oof


def choose_other_weight(
    ws: WindowSet, class_p: np.ndarray, p_af: np.ndarray, threshold: float, scored: np.ndarray
) -> np.ndarray:
    """Class weights (:func:`~afdetect.models.trees.weigh_other_classes`) whose ``O`` entry gives
    the ``scored`` windows' records the best CinC challenge score F1(N, A, O).

    The records not called AF at ``threshold`` take the most probable other class; the
    booster's probabilities, fitted for accuracy, give the commoner ``N`` the close calls
    against ``O``, which costs F1. Each weight of :data:`OTHER_WEIGHTS` is tried on the
    out-of-fold ``class_p`` and the middle of the near-best ones is taken
    (:func:`~afdetect.evaluate.metrics.plateau_middle`). Every weight stays 1 when a record
    has no CinC label (rhythm-annotated data) or none is ``O``.

    Returns
    -------
    numpy.ndarray
        ``(len(CINC_CLASSES),)`` weights: 1 but for ``O``.
    """
    records, index = np.unique(ws.record_index[scored], return_inverse=True)
    labels = np.asarray(ws.record_labels)[records]
    if "O" not in labels or not np.isin(labels, CINC_CLASSES).all():
        return EQUAL_WEIGHTS.copy()
    other = CINC_CLASSES.index("O")
    class_p, p_af = class_p[scored], p_af[scored]

    def score(weight: float) -> float:
        weighed = weigh_other_classes(class_p, _with_weight(other, weight))
        return challenge_score(weighed, index, p_af, threshold, labels)["mean"]  # type: ignore[index]

    candidates = np.array(OTHER_WEIGHTS)
    best = plateau_middle(candidates, np.array([score(w) for w in candidates]), OTHER_WEIGHT_TOLERANCE)
    return _with_weight(other, best)


def _with_weight(column: int, weight: float) -> np.ndarray:
    """Class weights of 1 with ``weight`` in ``column``."""
    weights = EQUAL_WEIGHTS.copy()
    weights[column] = weight
    return weights


def _split_metrics(ws: WindowSet, p_af: np.ndarray, threshold: float, mask: np.ndarray, name: str) -> dict:
    """Window and record metrics of the windows in ``mask`` (nothing when it is empty)."""
    if not mask.any():
        return {}
    records, index = np.unique(ws.record_index[mask], return_inverse=True)
    return {
        name: binary_metrics(ws.labels[mask], p_af[mask], threshold),
        f"{name}_record": record_metrics(index, ws.record_targets()[records], p_af[mask], threshold),
    }
