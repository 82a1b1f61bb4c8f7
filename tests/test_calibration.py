"""Calibration of p_af: the Platt map, its metrics, and the trees file that stores it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY_MODEL

from afdetect.config import AF_CLASS
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.evaluate.metrics import calibration_metrics
from afdetect.evaluate.records import evaluate
from afdetect.models.calibration import PlattCalibration, log_odds
from afdetect.models.trees import load_trees
from afdetect.signal.features import rhythm_features
from afdetect.training.cache import load_window_set


def over_confident(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Truths drawn from sigmoid(0.5 z - 1) and a forecaster that claims sigmoid(z)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 4, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(0.5 * z - 1)))).astype(float)
    return 1 / (1 + np.exp(-z)), y


def test_fit_recovers_the_map_that_generated_the_truths():
    p, y = over_confident(20000)
    cal = PlattCalibration.fit(p, y)
    assert cal.slope == pytest.approx(0.5, abs=0.03)
    assert cal.intercept == pytest.approx(-1.0, abs=0.06)


def test_calibration_lowers_the_calibration_error_on_new_windows():
    p, y = over_confident(20000, seed=0)
    cal = PlattCalibration.fit(p, y)
    p_new, y_new = over_confident(20000, seed=1)
    before, after = calibration_metrics(y_new, p_new), calibration_metrics(y_new, cal.apply(p_new))
    assert after["ece"] < 0.02 < before["ece"]
    assert after["brier"] < before["brier"]


def test_a_ranking_worse_than_chance_gets_the_identity():
    p, y = over_confident(2000)
    assert PlattCalibration.fit(1 - p, y) == PlattCalibration()


def test_the_map_keeps_the_order_and_the_identity_changes_nothing():
    p = np.array([1e-9, 0.01, 0.3, 0.5, 0.97, 1.0])
    assert np.all(np.diff(PlattCalibration(0.4, 0.7).apply(p)) > 0)
    assert PlattCalibration().apply(p[1:-1]) == pytest.approx(p[1:-1])
    assert log_odds(np.array([0.0, 1.0])).tolist() == pytest.approx([-13.8155, 13.8155], abs=1e-4)


@pytest.mark.parametrize(
    ("p", "y", "message"),
    [(np.array([0.2, 0.8]), np.array([0, 1, 1]), "as many truths"), (np.array([0.2, 0.8]), np.array([1, 1]), "both")],
)
def test_fit_names_bad_input(p: np.ndarray, y: np.ndarray, message: str):
    with pytest.raises(ValueError, match=message):
        PlattCalibration.fit(p, y)


def test_stored_entries_round_trip_and_bad_ones_are_refused():
    cal = PlattCalibration(0.46, -0.1)
    assert PlattCalibration.from_dict(json.loads(json.dumps(cal.to_dict()))) == cal
    assert PlattCalibration.from_dict(None) == PlattCalibration()
    for bad in ({"method": "isotonic", "slope": 1, "intercept": 0}, {"method": "platt", "slope": -1, "intercept": 0},
                {"method": "platt", "slope": "x"}, {"method": "platt"}):  # fmt: skip
        with pytest.raises(UsageError, match=r"model\.json: calibration entry is not a Platt map"):
            PlattCalibration.from_dict(bad, "model.json")


def test_calibration_metrics_of_perfect_and_constant_forecasts():
    y = np.array([0, 0, 0, 1])
    assert calibration_metrics(y, y.astype(float)) == {"ece": 0.0, "brier": 0.0}
    assert calibration_metrics(y, np.full(4, 0.25))["ece"] == pytest.approx(0.0)
    assert calibration_metrics(y, np.full(4, 0.75))["ece"] == pytest.approx(0.5)
    assert np.isnan(calibration_metrics(np.zeros(0), np.zeros(0))["ece"])


def test_trained_trees_store_calibrations_whose_mean_is_p_af(trees_file: Path):
    members, _ = load_trees(trees_file)
    assert len(members) == 4  # the recipe's bag
    assert all(isinstance(m.calibration, PlattCalibration) and m.calibration.slope > 0 for m in members)
    stored = json.loads(trees_file.read_text())
    assert stored["format_version"] == 3
    assert [entry["calibration"] for entry in stored["members"]] == [m.calibration.to_dict() for m in members]
    summary = stored["training"]["best"]["calibration"]
    assert set(summary) == {"before", "after"} and summary["after"]["brier"] <= summary["before"]["brier"] + 1e-9
    predictor = Predictor.from_trees(trees_file)
    x = np.random.default_rng(0).normal(size=(4, 3840)).astype(np.float32)
    features = rhythm_features(x, predictor.scorer.fs)
    raw = [m.booster.predict(features)[:, AF_CLASS] for m in members]
    expected = np.mean([m.calibration.apply(p) for m, p in zip(members, raw, strict=True)], axis=0)
    assert predictor.scorer(x) == pytest.approx(expected)
    assert predictor.scorer.uncalibrated_af_probability(x) == pytest.approx(np.mean(raw, axis=0))
    class_p = predictor.scorer.class_probabilities(x)
    assert class_p.sum(axis=1) == pytest.approx(np.ones(4))


def test_version_1_trees_files_load_with_uncalibrated_p_af(trees_file: Path, tmp_path: Path):
    payload = json.loads(trees_file.read_text())
    first = payload.pop("members")[0]
    payload.update(format_version=1, booster=first["booster"], threshold=first["threshold"])
    old = tmp_path / "old.json"
    old.write_text(json.dumps(payload))
    members, meta = load_trees(old)
    assert len(members) == 1 and members[0].calibration == PlattCalibration()
    assert members[0].threshold == meta["threshold"] == first["threshold"]


def test_eval_scores_the_trees_calibrated_p_af(trees_file: Path, windows_file: Path):
    predictor = Predictor.from_trees(trees_file)
    ws = load_window_set(windows_file)
    result = evaluate(predictor, ws)  # CinC labels: the trees' class probabilities are used too
    assert result.class_p is not None and result.challenge is not None
    x = np.asarray(ws.windows[ws.labels >= 0], dtype=np.float32)
    np.testing.assert_allclose(result.p_af, predictor.scorer(x), rtol=1e-6)  # the p_af the threshold is on
    np.testing.assert_array_equal(result.p_af, result.class_p[:, AF_CLASS])  # the bag's p_af in the AF column
    raw = predictor.scorer.uncalibrated_af_probability(x)
    assert not np.allclose(result.p_af, raw)  # the members' calibrations move it


def test_ecgcnn_training_stores_a_validation_calibration_that_p_af_applies(
    windows_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from afdetect.detect.inference import predict_proba
    from afdetect.models.weights import load_weights
    from afdetect.training.loop import train
    from afdetect.training.options import TrainConfig

    fitted: list[tuple[np.ndarray, np.ndarray]] = []

    def fit(p: np.ndarray, y: np.ndarray) -> PlattCalibration:  # a known map, and what it was fitted on
        fitted.append((p, y))
        return PlattCalibration(0.5, 0.25)

    monkeypatch.setattr(PlattCalibration, "fit", staticmethod(fit))
    options = {"epochs": 2, "batch_size": 8, "device": "cpu", "augment_p": 0.0, "val_fraction": 0.3}
    train(TrainConfig(data=windows_file, out_dir=tmp_path, model_overrides=dict(TINY_MODEL), **options))
    model, meta = load_weights(tmp_path / "best.pt")
    assert meta["calibration"] == PlattCalibration(0.5, 0.25)
    stored = meta["training"]["best"]["val"]["calibration"]
    assert {"before", "after"} <= set(stored) and stored["slope"] == 0.5
    ws = load_window_set(windows_file)  # fitted on the validation windows' P(AF), once per epoch
    val = np.isin(ws.records[ws.record_index], meta["training"]["val_records"]) & (ws.labels >= 0)
    assert len(fitted) == 2 and all(np.array_equal(y, ws.labels[val]) for _, y in fitted)
    x = np.random.default_rng(1).normal(size=(3, 3840)).astype(np.float32)
    scored = Predictor.from_weights(tmp_path / "best.pt").scorer(x)
    np.testing.assert_allclose(scored, PlattCalibration(0.5, 0.25).apply(predict_proba(model, x)), rtol=1e-5)


def test_weights_without_calibration_score_as_before_and_bad_entries_are_refused(tiny_weights: Path, tmp_path: Path):
    import torch

    from afdetect.detect.inference import predict_proba
    from afdetect.models.weights import load_weights

    payload = torch.load(tiny_weights, weights_only=True)
    del payload["calibration"]  # a file written before calibration
    old = tmp_path / "old.pt"
    torch.save(payload, old)
    model, meta = load_weights(old)
    assert meta["calibration"] == PlattCalibration()
    x = np.random.default_rng(2).normal(size=(3, 3840)).astype(np.float32)
    np.testing.assert_allclose(Predictor.from_weights(old).scorer(x), predict_proba(model, x), rtol=1e-5)
    payload["calibration"] = {"method": "platt", "slope": 0.0, "intercept": 1.0}
    bad = tmp_path / "bad.pt"
    torch.save(payload, bad)
    with pytest.raises(UsageError, match=r"bad\.pt: calibration entry is not a Platt map"):
        load_weights(bad)
