"""The trees' other-class weights: how they weigh the classes, how training chooses them, the file entry."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from afdetect.config import AF_CLASS, CINC_CLASSES
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.evaluate.records import record_classes
from afdetect.models.trees import EQUAL_WEIGHTS, load_trees, weigh_other_classes
from afdetect.training.trees import choose_other_weight

O_COLUMN = CINC_CLASSES.index("O")
N_LIKE = [0.7, 0.05, 0.2, 0.05]  # an N record: N well ahead
O_LIKE = [0.5, 0.05, 0.4, 0.05]  # an O record the booster ranks just behind N


def weights_with_o(weight: float) -> np.ndarray:
    weights = EQUAL_WEIGHTS.copy()
    weights[O_COLUMN] = weight
    return weights


def test_weighing_moves_a_close_call_to_o_and_keeps_p_af():
    p = np.array([O_LIKE, N_LIKE])
    weighed = weigh_other_classes(p, weights_with_o(1.5))
    np.testing.assert_allclose(weighed[:, AF_CLASS], p[:, AF_CLASS])  # p_af and every AF call unchanged
    np.testing.assert_allclose(weighed.sum(axis=1), 1.0)
    assert record_classes(p, np.arange(2), np.zeros(2, bool)).tolist() == ["N", "N"]
    assert record_classes(weighed, np.arange(2), np.zeros(2, bool)).tolist() == ["O", "N"]
    np.testing.assert_allclose(weigh_other_classes(p, EQUAL_WEIGHTS), p)


def fake_windows(labels: list[str]) -> SimpleNamespace:
    """One window per record, with the record labels :func:`choose_other_weight` reads."""
    return SimpleNamespace(record_index=np.arange(len(labels)), record_labels=np.array(labels))


def test_training_chooses_an_o_weight_that_calls_the_underrated_o_records_right():
    labels = ["N"] * 20 + ["O"] * 10 + ["A"] * 5
    class_p = np.array([N_LIKE] * 20 + [O_LIKE] * 10 + [[0.1, 0.8, 0.05, 0.05]] * 5)
    ws, scored = fake_windows(labels), np.ones(len(labels), bool)
    weights = choose_other_weight(ws, class_p, class_p[:, AF_CLASS], 0.5, scored)
    assert weights[O_COLUMN] > 1 and np.delete(weights, O_COLUMN).tolist() == [1.0, 1.0, 1.0]
    calls = record_classes(weigh_other_classes(class_p, weights), ws.record_index, class_p[:, AF_CLASS] >= 0.5)
    assert calls.tolist() == labels


def test_without_o_records_every_weight_stays_one():
    labels = ["N"] * 4 + ["A"] * 2
    class_p = np.array([O_LIKE] * 4 + [[0.1, 0.8, 0.05, 0.05]] * 2)
    weights = choose_other_weight(fake_windows(labels), class_p, class_p[:, AF_CLASS], 0.5, np.ones(6, bool))
    np.testing.assert_array_equal(weights, EQUAL_WEIGHTS)


def test_trees_files_carry_their_class_weights_to_the_scorer(trees_file: Path, tmp_path: Path):
    payload = json.loads(trees_file.read_text())
    entry = payload["members"][0]
    assert entry["class_weights"] == dict.fromkeys(CINC_CLASSES, 1.0)  # the fixture's records hold no O
    entry["class_weights"]["O"] = 1.7
    weighed = tmp_path / "weighed.json"
    weighed.write_text(json.dumps(payload))
    assert Predictor.from_trees(weighed).scorer.members[0].class_weights.tolist() == [1.0, 1.0, 1.7, 1.0]
    del entry["class_weights"]  # files written before the weights weigh every class 1
    payload.update(format_version=2, **{k: v for k, v in entry.items()})
    del payload["members"]
    older = tmp_path / "older.json"
    older.write_text(json.dumps(payload))
    np.testing.assert_array_equal(load_trees(older)[0][0].class_weights, EQUAL_WEIGHTS)


@pytest.mark.parametrize("weights", [{"N": 1.0, "O": 2.0}, {"N": 1, "A": 1, "O": -1, "~": 1}, [1, 1, 2, 1]])
def test_bad_class_weights_are_refused_with_the_reason(trees_file: Path, tmp_path: Path, weights: object):
    payload = json.loads(trees_file.read_text())
    payload["members"][1]["class_weights"] = weights
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(payload))
    with pytest.raises(UsageError, match="class_weights must give a positive number for each of N, A, O, ~"):
        load_trees(path)
