"""``benchmarks/robustness.py``: its perturbations on a synthetic ECG, its clean rebuild of the windows."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import synth
import torch
from conftest import load_benchmark

from afdetect.errors import UsageError
from afdetect.io.find import find_records
from afdetect.models.registry import create_model
from afdetect.models.trees import TreesMember, TreesRecipe, fit_trees, save_trees
from afdetect.models.weights import save_weights
from afdetect.signal.features import FEATURE_NAMES
from afdetect.training.cache import WindowSet, save_window_set, windows_from_records
from afdetect.training.splits import split_records

FS = 300.0


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return load_benchmark("robustness")


@pytest.fixture(scope="module")
def ecg() -> np.ndarray:
    """20 s of sinus rhythm at 300 Hz, float32 mV (as ``read_signal`` gives)."""
    return synth.ecg_signal(int(FS), 20, "sinus", hr_bpm=70, seed=3).astype(np.float32)


def _apply(bench: ModuleType, name: str, x: np.ndarray, seed: int = 0) -> tuple[np.ndarray, float]:
    return bench.PERTURBATIONS[name](x, FS, bench.noise_generator(seed, name))


def _spectrum(signal: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Frequencies (Hz) and power of ``signal``."""
    return np.fft.rfftfreq(len(signal), 1 / fs), np.abs(np.fft.rfft(signal - signal.mean())) ** 2


def test_every_perturbation_but_the_rates_and_cuts_keeps_length_dtype_and_rate(
    bench: ModuleType, ecg: np.ndarray
) -> None:
    for name in bench.PERTURBATIONS:
        if name.startswith(("rate_", "first_")):
            continue
        y, fs = _apply(bench, name, ecg)
        assert (y.shape, y.dtype, fs) == (ecg.shape, np.float32, FS), name
        assert np.isfinite(y).all(), name
        assert bench.describe(bench.PERTURBATIONS[name]), name


def test_a_short_recording_is_the_start_of_the_record(bench: ModuleType, ecg: np.ndarray) -> None:
    y, fs = _apply(bench, "first_10s", ecg)
    assert fs == FS and np.array_equal(y, ecg[: int(10 * FS)])
    short = ecg[: int(8 * FS)]
    assert np.array_equal(_apply(bench, "first_10s", short)[0], short), "a shorter record is left whole"


def test_clean_is_the_identity_and_inversion_is_minus_one(bench: ModuleType, ecg: np.ndarray) -> None:
    assert np.array_equal(_apply(bench, "clean", ecg)[0], ecg)
    assert np.array_equal(_apply(bench, "inverted", ecg)[0], -ecg)


@pytest.mark.parametrize(("name", "gain"), [("gain_0.3", 0.3), ("gain_3", 3.0)])
def test_gain_scales_the_signal(bench: ModuleType, ecg: np.ndarray, name: str, gain: float) -> None:
    np.testing.assert_allclose(_apply(bench, name, ecg)[0], gain * ecg, rtol=1e-6)


@pytest.mark.parametrize(("name", "snr_db"), [("emg_20db", 20.0), ("emg_10db", 10.0)])
def test_muscle_noise_has_the_stated_snr_in_its_band(
    bench: ModuleType, ecg: np.ndarray, name: str, snr_db: float
) -> None:
    noise = _apply(bench, name, ecg)[0].astype(np.float64) - ecg
    assert 10 * np.log10(ecg.var() / noise.var()) == pytest.approx(snr_db, abs=0.05)
    freqs, power = _spectrum(noise, FS)
    assert power[freqs < 15].sum() < 0.05 * power.sum(), "band-limited to 20-135 Hz"


@pytest.mark.parametrize("freq_hz", [50, 60])
def test_mains_adds_a_sine_of_the_stated_frequency_and_amplitude(
    bench: ModuleType, ecg: np.ndarray, freq_hz: int
) -> None:
    hum = _apply(bench, f"mains_{freq_hz}hz", ecg)[0].astype(np.float64) - ecg
    assert np.sqrt(2) * hum.std() == pytest.approx(0.1, abs=1e-3), "0.1 mV peak (sampled: RMS × √2)"
    freqs, power = _spectrum(hum, FS)
    assert freqs[np.argmax(power)] == pytest.approx(freq_hz, abs=0.1)


def test_baseline_wander_is_slow_and_bounded(bench: ModuleType, ecg: np.ndarray) -> None:
    wander = _apply(bench, "wander_2x0.5mv", ecg)[0].astype(np.float64) - ecg
    assert 0.3 < np.abs(wander).max() <= 1.0 + 1e-5, "two sines of 0.5 mV"
    freqs, power = _spectrum(wander, FS)
    assert power[freqs <= 1.0].sum() > 0.95 * power.sum()


def test_quantisation_rounds_to_the_step(bench: ModuleType, ecg: np.ndarray) -> None:
    y = _apply(bench, "adc_20uv", ecg)[0].astype(np.float64)
    np.testing.assert_allclose(y / 0.02, np.round(y / 0.02), atol=1e-3)
    assert np.abs(y - ecg).max() <= 0.01 + 1e-6
    assert len(np.unique(y)) < len(np.unique(ecg))


@pytest.mark.parametrize("fs_out", [128, 250, 500, 1000])
def test_resampling_gives_the_new_rate_and_length(bench: ModuleType, ecg: np.ndarray, fs_out: int) -> None:
    t_in = np.arange(len(ecg)) / FS
    sine = np.sin(2 * np.pi * 3 * t_in).astype(np.float32)
    y, fs = _apply(bench, f"rate_{fs_out}hz", sine)
    assert (fs, y.dtype) == (fs_out, np.float32)
    assert len(y) == int(np.ceil(len(sine) * fs_out / FS))
    t = np.arange(len(y)) / fs
    inner = (t > 0.5) & (t < t[-1] - 0.5)
    np.testing.assert_allclose(y[inner], np.sin(2 * np.pi * 3 * t[inner]), atol=1e-2)


def test_noise_is_seeded(bench: ModuleType, ecg: np.ndarray) -> None:
    for name in ("emg_10db", "wander_2x0.5mv", "mains_50hz"):
        assert np.array_equal(_apply(bench, name, ecg, seed=1)[0], _apply(bench, name, ecg, seed=1)[0])
        assert not np.array_equal(_apply(bench, name, ecg, seed=1)[0], _apply(bench, name, ecg, seed=2)[0])


def test_clean_rebuild_is_the_windows_file(bench: ModuleType, cinc_like_dir: Path) -> None:
    """The benchmark's pipeline from raw records gives ``afdetect preprocess``'s windows and labels."""
    ws = windows_from_records(find_records([cinc_like_dir]))
    raw = bench.read_records(ws, cinc_like_dir.parent)
    rebuilt = bench.perturbed_windows(ws, raw, bench.PERTURBATIONS["clean"], np.random.default_rng(0), batch=3)
    assert np.array_equal(rebuilt.labels, ws.labels)
    assert bench.windows_file_difference(rebuilt, ws) < 1e-2  # float16 rounding of the file
    inverted = bench.perturbed_windows(ws, raw, bench.PERTURBATIONS["inverted"], np.random.default_rng(0))
    np.testing.assert_allclose(inverted.windows, -rebuilt.windows, atol=1e-5)


def test_a_runs_folder_without_trees_folds_is_refused(bench: ModuleType, tmp_path: Path, windows_file: Path) -> None:
    argv = ["--runs", str(tmp_path), "--windows", str(windows_file), "--data", str(tmp_path), "--out", str(tmp_path)]
    with pytest.raises(UsageError, match="no finished trees fold"):
        bench.main(argv)


def _tiny_folds(ws: WindowSet, runs: Path, with_resnet: bool = False) -> None:
    """Two folds of tiny trees (and tiny four-class ResNets), as ``crossval.py`` leaves them in RUNS."""
    features = np.random.default_rng(0).normal(size=(40, len(FEATURE_NAMES)))
    booster = fit_trees(features, np.arange(40) % 4, TreesRecipe(n_trees=2, min_data_in_leaf=2))
    for k in range(2):
        split = split_records(ws.record_targets(), 0.15, 0.0, 0, 2, k)
        training = {"folds": 2, "fold": k, "test_records": ws.records[split == 2].tolist()}
        training["val_records"] = ws.records[split == 1].tolist()
        done = json.dumps({"recipe": {"folds": 2, "val_fraction": 0.15, "seed": 0}})
        fold = runs / "trees" / f"fold_{k}"
        fold.mkdir(parents=True)
        save_trees(fold / "best.json", [TreesMember(booster, 0.3 + 0.1 * k)], training)
        (fold / "done.json").write_text(done)
        if with_resnet:
            fold = runs / "resnet" / f"fold_{k}"
            fold.mkdir(parents=True)
            torch.manual_seed(k)
            save_weights(fold / "best.pt", create_model("resnet", widths=(4, 8), n_classes=4), "resnet", 0.4, training)
            (fold / "done.json").write_text(done)


def test_each_record_is_scored_by_its_own_fold_and_reported(
    bench: ModuleType, tmp_path: Path, cinc_like_dir: Path
) -> None:
    """Two folds of tiny trees (what ``crossval.py`` leaves in ``RUNS/trees``) over the CinC-like records."""
    ws = windows_from_records(find_records([cinc_like_dir]))
    save_window_set(ws, tmp_path / "windows.npz")
    _tiny_folds(ws, tmp_path / "runs")
    out = tmp_path / "out"
    argv = ["--runs", str(tmp_path / "runs"), "--windows", str(tmp_path / "windows.npz")]
    assert bench.main([*argv, "--data", str(cinc_like_dir.parent), "--out", str(out), "--only", "gain_3"]) == 0
    results = json.loads((out / "robustness.json").read_text())
    assert results["run"]["thresholds"] == [0.3, 0.4]
    assert list(results["perturbations"]) == ["clean", "gain_3"]
    clean, gain = results["perturbations"]["clean"], results["perturbations"]["gain_3"]
    assert (clean["record"]["n"], clean["window"]["n"]) == (len(ws.records), len(ws))
    assert gain["record"] == clean["record"] and gain["calls_changed"] == 0, "z-normalisation undoes a gain"
    assert "| `gain_3` | 8 |" in (out / "robustness.md").read_text()


def test_the_blend_is_scored_from_both_members_folds(bench: ModuleType, tmp_path: Path, cinc_like_dir: Path) -> None:
    ws = windows_from_records(find_records([cinc_like_dir]))
    save_window_set(ws, tmp_path / "windows.npz")
    runs, out = tmp_path / "runs", tmp_path / "out"
    _tiny_folds(ws, runs)
    argv = ["--runs", str(runs), "--windows", str(tmp_path / "windows.npz"), "--data", str(cinc_like_dir.parent)]
    with pytest.raises(UsageError, match="no finished resnet fold"):
        bench.main([*argv, "--out", str(out), "--method", "blend"])
    shutil.rmtree(runs)
    _tiny_folds(ws, runs, with_resnet=True)
    assert bench.main([*argv, "--out", str(out), "--method", "blend", "--only", "inverted"]) == 0
    results = json.loads((out / "robustness.json").read_text())
    assert results["run"]["method"] == "blend" and results["run"]["thresholds"] == [0.5, 0.5]
    assert all(" + " in files and files.endswith("best.pt") for files in results["run"]["folds"])
    assert results["perturbations"]["clean"]["record"]["n"] == len(ws.records)
    assert (out / "robustness.md").read_text().startswith("# Robustness of the blend of trees and signal ResNet")
