"""Smoke test of ``benchmarks/evaluate_models.py`` on a tiny synthetic setup (tiny weights, data, windows)."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import synth
import torch
from conftest import TINY_MODEL, load_benchmark

from afdetect.errors import UsageError
from afdetect.models.calibration import IDENTITY, PlattCalibration
from afdetect.models.registry import create_model
from afdetect.models.trees import TreesMember, TreesRecipe, fit_trees, save_trees
from afdetect.models.weights import save_weights
from afdetect.signal.features import FEATURE_NAMES

CINC_NAMES = {"S0": ("sinus", "N"), "S1": ("sinus", "O"), "F0": ("af", "A"), "F1": ("af", "A")}


def _load_script() -> ModuleType:
    return load_benchmark("evaluate_models")


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    return _load_script()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny data folder (CinC-like 300 Hz .mat + REFERENCE.csv; CPSC-like 200 Hz two-lead + .atr) and weights."""
    root = tmp_path_factory.mktemp("bench")
    cinc = root / "data" / "cinc2017"
    for i, (name, (rhythm, _)) in enumerate(CINC_NAMES.items()):
        synth.write_mat_record(cinc, name, 300, synth.ecg_signal(300, 30 + 10 * i, rhythm, hr_bpm=70, seed=i), ["ECG"])
    synth.write_reference_csv(cinc, {name: label for name, (_, label) in CINC_NAMES.items()})
    cpsc = root / "data" / "cpsc2021"
    for name, segments in (("data_0_1", [("sinus", 45), ("af", 60), ("sinus", 45)]), ("data_0_2", [("sinus", 40)])):
        ecg = synth.rhythm_signal(200, segments, seed=len(name))
        record = synth.write_record(cpsc, name, 200, synth.multi_lead(ecg.signal, 2), ["I", "II"], fmt="16")
        synth.write_rhythm_annotations(record, ecg.changes, 200)
    training = {"val_records": [], "test_records": [f"cinc2017/{name}" for name in CINC_NAMES]}
    torch.manual_seed(0)
    for variant, calibration in (("se", IDENTITY), ("l", PlattCalibration(0.5, 0.1))):
        model = create_model(variant, **TINY_MODEL)
        save_weights(root / f"{variant}.pt", model, variant, 0.5, training, calibration=calibration)
    resnet = create_model("resnet", widths=(4, 8), n_classes=4)
    save_weights(root / "resnet.pt", resnet, "resnet", 0.5, training)
    features = np.random.default_rng(0).normal(size=(40, len(FEATURE_NAMES)))
    booster = fit_trees(features, np.arange(40) % 4, TreesRecipe(n_trees=2, min_data_in_leaf=2))
    save_trees(root / "trees.json", [TreesMember(booster, 0.5)], training)
    curves = root / "curves_se.png"
    curves.write_bytes(b"\x89PNG\r\n\x1a\n tiny stand-in")
    return {
        "root": root,
        "data": root / "data",
        "se": root / "se.pt",
        "l": root / "l.pt",
        "trees": root / "trees.json",
        "resnet": root / "resnet.pt",
        "curves": curves,
    }


def _argv(setup: dict[str, Path], out: Path, **extra: str) -> list[str]:
    root = setup["root"]
    options = {
        "--weights-se": str(setup["se"]),
        "--weights-l": str(setup["l"]),
        "--trees": str(setup["trees"]),
        "--resnet": str(setup["resnet"]),
        "--windows": str(root / "windows.npz"),
        "--data": str(setup["data"]),
        "--out": str(out),
        "--curves-se": str(setup["curves"]),
        "--curves-l": str(root / "missing_curves.png"),
        "--workdir": str(root / "work"),
        "--synthetic-s": "30",
        **extra,
    }
    return ["--quick", *(item for pair in options.items() for item in pair)]


def test_quick_run_writes_every_result(
    bench: ModuleType, setup: dict[str, Path], capsys: pytest.CaptureFixture
) -> None:
    out = setup["root"] / "results"
    assert bench.main(_argv(setup, out)) == 0

    assert (setup["root"] / "windows.npz").is_file(), "a missing windows file is built from DATA/cinc2017"
    results = json.loads((out / "results.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    cinc = results["cinc2017_test"]
    assert cinc["records"] == len(CINC_NAMES) and cinc["af_records"] == 2
    assert set(cinc["methods"]) == {"se", "l", "resnet", "trees", "blend", "rr"}
    for entry in cinc["methods"].values():
        assert set(entry["ci"]) == {"window", "record"}
        low, high = entry["ci"]["window"]["sensitivity"]
        assert 0 <= low <= high <= 1
    assert cinc["bootstrap"]["resamples"] == 100
    trees_cal = cinc["methods"]["trees"]["calibration"]  # the trees give their own P(AF) before calibration
    assert {"ece", "brier"} <= set(trees_cal) and {"ece", "brier"} == set(trees_cal["uncalibrated"])
    assert "uncalibrated" not in cinc["methods"]["se"]["calibration"]  # a file made before calibration
    l_cal = cinc["methods"]["l"]["calibration"]  # a calibrated ECGCNN: its softmax's P(AF) before the map
    assert set(l_cal["uncalibrated"]) == {"ece", "brier"} and l_cal["uncalibrated"]["brier"] != l_cal["brier"]

    cpsc = results["cpsc2021"]
    assert cpsc["records"] == 2
    for entry in cpsc["methods"].values():
        assert entry["ec57"]["records_compared"] == 2
        assert entry["ec57"]["gross"]["ref_episodes"] == 1

    rates = results["resampling"]["rates_hz"]
    assert set(rates) == {"250", "500"}
    for entry in rates.values():
        assert entry["records"] == len(CINC_NAMES)
        for m in entry["methods"].values():
            assert m["matched_windows"] == cinc["windows"]
            assert m["mean_abs_dp"] < 0.1, "resampling should barely move the probabilities"

    rows = results["synthetic"]["rows"]
    assert len(rows) == 2 * 3 * 6  # rhythms × rates × methods
    assert {(r["rhythm"], r["hr_bpm"]) for r in rows} == {(r, b) for r in ("sinus", "af") for b in (45, 70, 130)}
    assert all(r["windows"] > 0 for r in rows)

    assert results["training_curves"] == {"se": "training_curves_se.png", "l": None}
    assert (out / "training_curves_se.png").read_bytes() == setup["curves"].read_bytes()
    for png in ("cinc2017_test_roc.png", "cinc2017_test_roc_record.png", "cinc2017_test_confusion_rr.png"):
        assert (out / png).read_bytes().startswith(b"\x89PNG")

    markdown = (out / "RESULTS.md").read_text()
    for heading in ("## 1. CinC 2017", "## 2. The original work", "## 3. Cross-domain", "## 4. Resampling", "## 5."):
        assert heading in markdown
    assert "76.05 %" in markdown and "64.88 %" in markdown and "for scale only" in markdown
    assert f"| Rhythm trees | {trees_cal['ece']:.3f} | {trees_cal['brier']:.3f} |" in markdown
    assert "Quick run" in markdown and "synthetic signals, not patient data" in markdown
    assert not list(out.glob(".*.part")), "no temporary files left behind"
    assert "CinC 2017 test" in capsys.readouterr().out


def test_weights_with_different_test_records_are_refused(bench: ModuleType, setup: dict[str, Path]) -> None:
    other = setup["root"] / "other_l.pt"
    training = {"val_records": [], "test_records": ["cinc2017/S0"]}
    save_weights(other, create_model("l", **TINY_MODEL), "l", 0.5, training)
    with pytest.raises(UsageError, match="test records differ"):
        bench.load_predictors(setup["se"], other, setup["trees"], setup["resnet"])


def test_bootstrap_resamples_records_not_windows(bench: ModuleType) -> None:
    # Record 0 has 9 windows, all AF and called AF; records 1-2 one non-AF window each, one called AF.
    y = np.array([1] * 9 + [0, 0])
    p = np.array([0.9] * 9 + [0.1, 0.9])
    local_index = np.array([0] * 9 + [1, 2])
    truth = np.array([1, 0, 0])
    ci = bench.bootstrap_intervals(y, p, 0.5, local_index, truth, 200, seed=0)
    # specificity over non-AF windows can only be 0, 0.5 or 1 whichever records are drawn
    low, high = ci["window"]["specificity"]
    assert low == 0.0 and high == 1.0
    # a resample drawing record 0 has sensitivity 1; one without it has none (undefined, skipped)
    assert ci["window"]["sensitivity"] == [1.0, 1.0]
    again = bench.bootstrap_intervals(y, p, 0.5, local_index, truth, 200, seed=0)
    assert again == ci, "seeded: the same intervals every run"


def test_resample_signal_keeps_duration_and_invalid_samples() -> None:
    x = np.sin(2 * np.pi * 1.0 * np.arange(3000) / 300)
    x[1500:1530] = np.nan
    y = load_benchmark("common").resample_signal(x, 300, 500)
    assert len(y) == 5000
    assert np.isnan(y[2500:2550]).all() and np.isfinite(y[:2400]).all()
    t = np.arange(5000) / 500
    ok = np.isfinite(y) & (t > 0.5) & (t < 9.5) & (np.abs(t - 5.05) > 0.3)
    assert np.max(np.abs(y[ok] - np.sin(2 * np.pi * t[ok]))) < 1e-2


def test_rpeak_accuracy_counts_matched_beats_one_to_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark("rpeak_accuracy")
    ecg = synth.rhythm_signal(250, [("sinus", 40), ("af", 40)], seed=3)
    record = synth.write_record(tmp_path, "beats", 250, ecg.signal[:, None], ["II"], fmt="16")
    synth.write_rhythm_annotations(record, ecg.changes, 250, beat_times=ecg.beat_times_s)
    assert bench.main(["--records", str(tmp_path)]) == 0
    total = capsys.readouterr().out.strip().splitlines()[-1].split()
    assert total[0] == "total" and int(total[1]) == len(ecg.beat_times_s)
    assert float(total[3].rstrip("%")) > 99 and float(total[4].rstrip("%")) > 99
    assert bench.match_beats(np.array([1.0, 1.1]), np.array([1.05])) == 1  # one detection serves one beat


def test_rpeak_accuracy_needs_beat_annotations(tmp_path: Path) -> None:
    bench = load_benchmark("rpeak_accuracy")
    synth.write_record(tmp_path, "plain", 250, synth.ecg_signal(250, 20)[:, None], ["II"], fmt="16")
    assert bench.main(["--records", str(tmp_path)]) == 1


def test_training_curves_are_copied_or_kept_from_an_earlier_run(bench: ModuleType, tmp_path: Path) -> None:
    run, out = tmp_path / "run", tmp_path / "out"
    run.mkdir()
    out.mkdir()
    (run / "curves.png").write_bytes(b"png of this run")
    (out / "training_curves_l.png").write_bytes(b"png of the run that trained the shipped weights")
    copied = bench.copy_curves({"se": run / "curves.png", "l": run / "absent.png", "x": run / "absent.png"}, out)
    assert copied == {"se": "training_curves_se.png", "l": "training_curves_l.png", "x": None}
    assert (out / "training_curves_se.png").read_bytes() == b"png of this run"
    assert (out / "training_curves_l.png").read_bytes() == b"png of the run that trained the shipped weights"


def test_ectopy_benchmark_reports_false_alarms_and_sensitivity(
    setup: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_benchmark("ectopy")
    out = tmp_path / "ectopy"
    chosen = ["noisy-af-80-pvc-20", "clean-sinus-50-vvi-60-bpm", "clean-sinus-60-pvc-bigeminy", "clean-sinus-60-none"]
    options = ["--trees", str(setup["trees"]), "--weights-se", str(setup["se"]), "--records", "1"]
    options += ["--duration-s", "60", "--threads", "1", "--out", str(out), "--workdir", str(tmp_path / "records")]
    assert bench.main([*options, "--only", *chosen]) == 0

    results = json.loads((out / "ectopy.json").read_text(), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    rows = results["scenarios"]
    assert [row["name"] for row in rows] == [chosen[3], chosen[2], chosen[1], chosen[0]], (
        "report order: clean before noisy, sinus before AF, paced after unpaced"
    )
    assert len(list((tmp_path / "records").glob("*.hea"))) == 4
    by_name = {row["name"]: row for row in rows}
    for row in rows:
        assert set(row["methods"]) == {"trees", "se", "rr"}
        assert all(entry["windows"] == 3 and entry["unreadable"] == 0 for entry in row["methods"].values())
    none, bigeminy, af = (by_name[name] for name in ("clean-sinus-60-none", "clean-sinus-60-pvc-bigeminy", chosen[0]))
    assert none["burden_measured"] == 0 and abs(bigeminy["burden_measured"] - 0.5) < 0.02
    assert abs(af["burden_measured"] - 0.2) < 0.08
    # The RR baseline is the real one: regular sinus is never AF, AF with PVCs always is.
    assert none["methods"]["rr"]["fraction_af"] == 0 and af["methods"]["rr"]["fraction_af"] == 1
    # The trees' features see the PVCs as abnormal beats and the sinus P waves.
    assert abs(bigeminy["trees_features"]["normal_frac"] - 0.5) < 0.1
    assert none["trees_features"]["p_present"] > 0.9 and af["trees_features"]["p_present"] < 0.5
    # Sinus at 50 bpm under a pacemaker at 60: mostly paced (wide) beats; the conducted ones keep their P waves.
    paced = by_name["clean-sinus-50-vvi-60-bpm"]
    assert paced["ectopy"] == "VVI 60 bpm" and 0.4 < paced["burden_measured"] < 0.9
    assert paced["trees_features"]["normal_frac"] < 0.8 and paced["trees_features"]["p_present"] > 0.9

    markdown = (out / "ectopy.md").read_text()
    assert "Synthetic signals, not patient data" in markdown
    assert "## Clean signals" in markdown and "## Noisy signals" in markdown
    assert "| sinus 60 bpm | PVC bigeminy | 50." in markdown
    assert "### AF with PVCs or pacing: share of windows called AF (sensitivity)" in markdown
    assert "| sinus 50 bpm | VVI 60 bpm | " in markdown
    assert "Premature beats, pacing and AF alarms" in capsys.readouterr().out
    assert not list(out.glob(".*.part")), "no temporary files left behind"

    with pytest.raises(UsageError, match="matches no scenario"):
        bench.main([*options, "--only", "sinus-45-*"])
