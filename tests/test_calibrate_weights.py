"""Calibrating p_af of weights trained before `train` calibrated: every AF call kept, refusals, the shipped files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from afdetect.cli.app import app
from afdetect.detect.inference import predict_proba
from afdetect.detect.predictor import Predictor
from afdetect.errors import EXIT_OK, EXIT_USAGE, ParameterError, UsageError
from afdetect.evaluate.metrics import calibration_metrics
from afdetect.models.calibration import PlattCalibration
from afdetect.models.files import sha256, verify_manifest, write_manifest
from afdetect.models.weights import default_weights, load_weights
from afdetect.training.cache import load_window_set, save_window_set
from afdetect.training.calibrate import calibrate_weights

VAL_RECORDS = [f"synth/R{r:02d}" for r in range(8)]
"""Validation records of the uncalibrated weights: 4 AF (odd) and 4 non-AF records of ``windows_file``."""


@pytest.fixture
def uncalibrated(tiny_weights: Path, windows_file: Path, tmp_path: Path) -> Path:
    """The tiny model as a file from before calibration (no ``calibration``, no ``classes``, as the
    shipped se and l were) whose threshold on its own P(AF) splits the windows' calls."""
    payload = torch.load(tiny_weights, weights_only=True)
    for key in ("calibration", "classes"):
        del payload[key]
    model, _ = load_weights(tiny_weights)
    raw = predict_proba(model, np.asarray(load_window_set(windows_file).windows, dtype=np.float32))
    payload["threshold"] = float(np.round(np.median(raw), 3))
    payload["training"] = {"val_records": VAL_RECORDS, "test_records": ["synth/R10", "synth/R11"], "best": {}}
    path = tmp_path / "old.pt"
    torch.save(payload, path)
    return path


def calls_and_p(weights: Path, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AF calls and p_af of windows ``x`` as ``predict`` makes them with a weights file."""
    predictor = Predictor.from_weights(weights)
    p = predictor.scorer(x)
    return p >= predictor.threshold, p


def test_calibration_keeps_every_call_and_stores_the_loops_fit(
    uncalibrated: Path, windows_file: Path, tmp_path: Path
) -> None:
    ws = load_window_set(windows_file)
    x = np.asarray(ws.windows, dtype=np.float32)  # every window, the unlabelled one too
    out = tmp_path / "calibrated.pt"
    summary = calibrate_weights(uncalibrated, windows_file, out)

    model, meta = load_weights(out)
    calibration, threshold = meta["calibration"], meta["threshold"]
    val = np.isin(ws.records[ws.record_index], VAL_RECORDS) & (ws.labels >= 0)
    raw = predict_proba(model, x)
    expected = PlattCalibration.fit(raw[val], ws.labels[val])  # as the loop fits it
    assert not calibration.is_identity and calibration.slope == pytest.approx(expected.slope, rel=1e-5)
    assert calibration.intercept == pytest.approx(expected.intercept, rel=1e-5, abs=1e-7)
    old_threshold = load_weights(uncalibrated)[1]["threshold"]
    assert threshold == calibration.apply(np.array([old_threshold]))[0] == summary["threshold"] != old_threshold

    old_calls, old_p = calls_and_p(uncalibrated, x)
    new_calls, new_p = calls_and_p(out, x)
    assert 0 < old_calls.sum() < len(x) and np.array_equal(new_calls, old_calls)
    np.testing.assert_allclose(new_p, calibration.apply(old_p), rtol=1e-12)
    near = np.concatenate([  # every float32 P(AF) within 4096 steps of the threshold, and a grid of [0, 1]
        np.float32(old_threshold) + np.arange(-4096, 4097) * np.spacing(np.float32(old_threshold)),
        np.linspace(0, 1, 100_001, dtype=np.float32),
    ]).astype(np.float32)  # fmt: skip
    assert np.array_equal(calibration.apply(near) >= threshold, near >= old_threshold)

    stored = meta["training"]["best"]["val"]["calibration"]
    assert stored == summary["calibration"] and stored["slope"] == calibration.slope
    assert stored["before"] == pytest.approx(calibration_metrics(ws.labels[val], raw[val]), rel=1e-5)
    assert stored["after"]["brier"] < stored["before"]["brier"]
    after = meta["training"]["calibrated_after_training"]
    assert after["threshold_before"] == old_threshold and after["val_windows"] == val.sum()
    payload, original = torch.load(out, weights_only=True), torch.load(uncalibrated, weights_only=True)
    assert "classes" not in payload  # a file from before four-class training stays one
    assert all(torch.equal(payload["state_dict"][k], v) for k, v in original["state_dict"].items())
    assert {k: v for k, v in payload.items() if k not in ("threshold", "calibration", "training", "state_dict")} == {
        k: v for k, v in original.items() if k not in ("threshold", "training", "state_dict")
    }


def test_refitting_needs_force_and_still_keeps_every_call(uncalibrated: Path, windows_file: Path) -> None:
    x = np.asarray(load_window_set(windows_file).windows, dtype=np.float32)
    old_calls, _ = calls_and_p(uncalibrated, x)
    calibrate_weights(uncalibrated, windows_file)  # in place
    once = sha256(uncalibrated)
    with pytest.raises(ParameterError, match=r"old\.pt: already carries a calibration of p_af .*; force refits it"):
        calibrate_weights(uncalibrated, windows_file)
    assert sha256(uncalibrated) == once
    payload = torch.load(uncalibrated, weights_only=True)  # another map, as a refit after a retraining might
    torch.save({**payload, "calibration": PlattCalibration(2.0, 0.5).to_dict(), "threshold": 0.7}, uncalibrated)
    moved_calls, _ = calls_and_p(uncalibrated, x)
    summary = calibrate_weights(uncalibrated, windows_file, force=True)
    assert summary["calibration_before"] == PlattCalibration(2.0, 0.5).to_dict() and summary["threshold_before"] == 0.7
    new_calls, _ = calls_and_p(uncalibrated, x)
    assert np.array_equal(new_calls, moved_calls) and not np.array_equal(moved_calls, old_calls)


def test_windows_of_other_preprocessing_or_records_are_refused(
    uncalibrated: Path, tiny_weights: Path, windows_file: Path, tmp_path: Path
) -> None:
    ws = load_window_set(windows_file, mmap=False)
    ws.provenance = {**ws.provenance, "preprocessing": {**ws.preprocessing.to_dict(), "hop_s": 10.0}}
    save_window_set(ws, other := tmp_path / "other.npz")
    ws = load_window_set(windows_file, mmap=False)
    ws.records = np.array([name.replace("R0", "X0") for name in ws.records])
    save_window_set(ws, renamed := tmp_path / "renamed.npz")
    digest = sha256(uncalibrated)
    cases = [
        (uncalibrated, other, r"disagree on preprocessing \(weights vs windows: hop_s 15.0 vs 10.0\)"),
        (uncalibrated, renamed, r"renamed\.npz: holds 0 of the 8 validation records the weights name"),
        (tiny_weights, windows_file, r"tiny_se\.pt: names no validation records"),
    ]
    for weights, windows, problem in cases:
        with pytest.raises(UsageError, match=problem) as caught:
            calibrate_weights(weights, windows)
        assert "\n" not in str(caught.value)
    assert sha256(uncalibrated) == digest


def test_cli_calibrate_only_in_place_updates_the_manifest(uncalibrated: Path, windows_file: Path) -> None:
    manifest = write_manifest(uncalibrated.parent)  # as weights/ with its SHA256SUMS
    runner = CliRunner()
    args = ["train", "--data", str(windows_file), "--calibrate-only", str(uncalibrated), "--threads", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_OK, result.stderr
    assert "(every AF call kept)" in result.stderr and "threshold" in result.stderr
    assert verify_manifest(uncalibrated) is True and sha256(uncalibrated) in manifest.read_text()
    assert not load_weights(uncalibrated)[1]["calibration"].is_identity
    result = runner.invoke(app, args)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == EXIT_USAGE and len(errors) == 1 and "--force refits it" in errors[0], result.stderr
    assert runner.invoke(app, [*args, "--force"]).exit_code == EXIT_OK


@pytest.mark.parametrize(("variant", "raw_threshold"), [("se", 0.858), ("l", 0.895)])
def test_the_shipped_weights_carry_a_calibration_that_kept_their_threshold(variant: str, raw_threshold: float) -> None:
    _, meta = load_weights(default_weights(variant), variant)
    calibration = meta["calibration"]
    assert not calibration.is_identity and 0 < calibration.slope < 1  # the softmax was over-confident
    after = meta["training"]["calibrated_after_training"]
    assert after["threshold_before"] == raw_threshold and after["calibration_before"]["slope"] == 1.0
    assert meta["threshold"] == calibration.apply(np.array([raw_threshold]))[0]
    stored = meta["training"]["best"]["val"]["calibration"]
    assert stored["after"]["ece"] < stored["before"]["ece"] and stored["after"]["brier"] < stored["before"]["brier"]
    assert "classes" not in torch.load(default_weights(variant), weights_only=True)
