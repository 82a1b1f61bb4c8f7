"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afdetect.evaluate.metrics import (
    auroc,
    best_threshold,
    binary_metrics,
    confusion,
    record_metrics,
    record_scores,
    roc_curve,
)


def _pairwise_auroc(y: np.ndarray, s: np.ndarray) -> float:
    pos, neg = s[y == 1], s[y == 0]
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def test_confusion_layout() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 1, 1])
    y_pred = np.array([0, 1, 0, 1, 1, 0, 1])
    assert confusion(y_true, y_pred).tolist() == [[2, 1], [1, 3]]  # [[TN, FP], [FN, TP]]


def test_binary_metrics_hand_computed() -> None:
    # TP 3, FN 1, FP 2, TN 4 at threshold 0.5
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.8, 0.6, 0.2, 0.7, 0.55, 0.4, 0.3, 0.1, 0.05])
    m = binary_metrics(y, p, 0.5)
    assert (m["tp"], m["fn"], m["fp"], m["tn"]) == (3, 1, 2, 4)
    assert m["n"] == 10
    assert m["accuracy"] == pytest.approx(7 / 10)
    assert m["sensitivity"] == pytest.approx(3 / 4)
    assert m["specificity"] == pytest.approx(4 / 6)
    assert m["ppv"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    # AUROC: positive scores beat 0.9: 6, 0.8: 6, 0.6: 5 (not 0.7), 0.2: 2 of 6 negatives.
    assert m["auroc"] == pytest.approx((6 + 6 + 5 + 2) / 24)
    # The threshold is inclusive: p == threshold is called AF.
    assert binary_metrics(y, p, 0.6)["tp"] == 3
    assert binary_metrics(y, p, 0.61)["tp"] == 2


def test_binary_metrics_empty_denominators_are_nan() -> None:
    m = binary_metrics(np.array([0, 0, 0]), np.array([0.1, 0.2, 0.3]), 0.5)
    assert m["accuracy"] == 1.0 and m["specificity"] == 1.0
    assert math.isnan(m["sensitivity"]) and math.isnan(m["ppv"]) and math.isnan(m["f1"])
    assert math.isnan(m["auroc"])


def test_auroc_with_ties() -> None:
    y = np.array([0, 1, 0, 1])
    s = np.array([0.5, 0.5, 0.2, 0.8])
    # pairs (pos, neg): (0.5, 0.5) tie = 0.5, (0.5, 0.2) = 1, (0.8, 0.5) = 1, (0.8, 0.2) = 1
    assert auroc(y, s) == pytest.approx(3.5 / 4)
    assert auroc(np.array([0, 1, 0, 1]), np.full(4, 0.3)) == pytest.approx(0.5)  # all tied
    assert auroc(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert auroc(np.array([0, 0, 1]), np.array([0.1, 0.2, 0.9])) == 1.0
    assert auroc(np.array([1, 1, 0]), np.array([0.1, 0.2, 0.9])) == 0.0


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 5)), min_size=2, max_size=30))
def test_auroc_equals_pairwise_definition(pairs: list[tuple[int, int]]) -> None:
    y = np.array([p[0] for p in pairs])
    s = np.array([p[1] / 5 for p in pairs])  # few distinct values: many ties
    if y.min() == y.max():
        assert math.isnan(auroc(y, s))
    else:
        assert auroc(y, s) == pytest.approx(_pairwise_auroc(y, s))


def test_roc_curve_ends() -> None:
    fpr, tpr = roc_curve(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.4, 0.6]))
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0, 0, 1, 1)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    assert tpr[2] == 1 and fpr[2] == 0  # both positives rank above both negatives


def test_best_threshold_maximises_f1() -> None:
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.45, 0.4, 0.7, 0.8])
    t = best_threshold(y, p)
    f1 = binary_metrics(y, p, t)["f1"]
    for candidate in p:
        assert f1 >= binary_metrics(y, p, candidate)["f1"] - 1e-12
    assert t == pytest.approx(0.4)  # calls 0.4, 0.45, 0.7, 0.8: F1 = 6/7
    assert best_threshold(np.array([0, 1]), np.array([0.0, 1.0])) == 0.5  # no candidate inside (0.02, 0.98)


def test_record_scores_and_metrics() -> None:
    # record 0 (AF): 3 windows, 2 called; record 1 (non-AF): 2 windows, 1 called; record 2 (AF): 1 window, 0 called
    record_index = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.3])
    fraction, mean_p = record_scores(record_index, p, 0.5, 4)
    np.testing.assert_allclose(fraction[:3], [2 / 3, 1 / 2, 0])
    np.testing.assert_allclose(mean_p[:3], [1.7 / 3, 0.4, 0.3])
    assert np.isnan(fraction[3])  # record without windows
    m = record_metrics(record_index, np.array([1, 0, 1, 0]), p, 0.5)
    # record 3 is left out; calls (>= half the windows AF): r0 AF, r1 AF, r2 non-AF
    assert m["n"] == 3
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (1, 1, 1, 0)
    # ranking by fraction: r0 2/3 > r1 1/2 > r2 0; positives r0, r2 against negative r1: 1 of 2 pairs
    assert m["auroc"] == pytest.approx(0.5)
