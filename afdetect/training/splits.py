"""Record-wise splits and folds: windows of one record never fall on both sides of a split."""

from __future__ import annotations

import numpy as np


def record_folds(record_truth: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Deal records into ``folds`` folds, stratified by record-level AF truth.

    The members of each class are shuffled and dealt round-robin; each class starts
    dealing where the previous one stopped, so fold sizes differ by at most one record
    overall and each class's count by at most one per fold.

    Parameters
    ----------
    record_truth : numpy.ndarray
        ``(r,)`` record-level truth (1 AF, 0 non-AF).
    folds : int
        Number of folds K (≥ 2).
    rng : numpy.random.Generator
        Source of the shuffles (consumed: one permutation per class, in class order).

    Returns
    -------
    numpy.ndarray
        ``(r,)`` int64 fold (0 .. K-1) of each record.

    Example
    -------
    >>> np.bincount(record_folds(np.array([0] * 6 + [1] * 3), 3, np.random.default_rng(0))).tolist()
    [3, 3, 3]
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    fold_of = np.zeros(len(record_truth), dtype=np.int64)
    start = 0
    for cls in np.unique(record_truth):
        members = rng.permutation(np.flatnonzero(record_truth == cls))
        fold_of[members] = (start + np.arange(len(members))) % folds
        start = (start + len(members)) % folds
    return fold_of


def split_records(
    record_truth: np.ndarray, val_fraction: float, test_fraction: float, seed: int, folds: int = 0, fold: int = 0
) -> np.ndarray:
    """Assign each record to train (0), validation (1) or test (2), stratified by AF truth.

    With ``folds = 0`` ``test_fraction`` of each class is tested and ``val_fraction``
    validates. With ``folds = K ≥ 2`` the records are dealt into K stratified folds
    (:func:`record_folds`, the same for every ``fold`` of one ``seed``), fold ``fold`` is
    the test split (``test_fraction`` is unused), and ``val_fraction`` of each class of the
    other records validates (at least one record of a class with two or more, and at
    least one left for training).

    Example
    -------
    >>> split_records(np.array([0] * 8 + [1] * 4), 0.25, 0.25, seed=0).tolist().count(1)
    3
    >>> split_records(np.array([0] * 8 + [1] * 4), 0.25, 0.0, seed=0, folds=4, fold=1).tolist().count(2)
    3
    """
    rng = np.random.default_rng(seed)
    if folds:
        if not 0 <= fold < folds:
            raise ValueError(f"fold must lie in [0, {folds - 1}], got {fold}")
        split = np.where(record_folds(record_truth, folds, rng) == fold, 2, 0).astype(np.int64)
        for cls in np.unique(record_truth):
            members = rng.permutation(np.flatnonzero((record_truth == cls) & (split == 0)))
            n_val = min(len(members) - 1, max(1, int(round(len(members) * val_fraction))))
            split[members[: max(n_val, 0)]] = 1
        return split
    split = np.zeros(len(record_truth), dtype=np.int64)
    for cls in np.unique(record_truth):
        members = rng.permutation(np.flatnonzero(record_truth == cls))
        n_val = int(round(len(members) * val_fraction))
        n_test = int(round(len(members) * test_fraction))
        split[members[:n_val]] = 1
        split[members[n_val : n_val + n_test]] = 2
    return split


def split_summary(records: np.ndarray, split: np.ndarray, *, seed: int, folds: int, fold: int) -> dict:
    """What a model file records about its split: seed, folds, and the validation and test record names.

    ``eval --split`` selects records by these names (:func:`afdetect.evaluate.records.select_split`).

    Example
    -------
    >>> split_summary(np.array(["a", "b", "c"]), np.array([0, 1, 2]), seed=0, folds=0, fold=0)["test_records"]
    ['c']
    """
    return {
        "split_seed": seed,
        "folds": folds,
        "fold": fold,
        "train_records": int((split == 0).sum()),
        "val_records": [str(r) for r in records[split == 1]],
        "test_records": [str(r) for r in records[split == 2]],
    }
