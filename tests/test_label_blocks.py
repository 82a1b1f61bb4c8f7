"""``benchmarks/label_blocks.py``: false alarms and a model-free AF screen by block of record numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import load_benchmark

from afdetect.errors import UsageError
from afdetect.signal.features import FEATURE_NAMES, FEATURES_VERSION
from afdetect.training.cache import WindowSet, save_window_set

AF_LIKE = {"clean_nrmssd": 0.3, "p_corr": 0.2}
SINUS = {"clean_nrmssd": 0.03, "p_corr": 0.9}


def _windows(tmp_path: Path) -> tuple[Path, Path]:
    """Records A00001-A00006 (block 0-9) and A00011-A00016 (block 10-19), one window each, and a
    crossval report calling some of them AF. Block 10-19 holds two AF-like ``O`` records."""
    spec = [  # (number, label, features, called AF)
        (1, "A", AF_LIKE, True), (2, "N", SINUS, False), (3, "O", SINUS, False),
        (4, "O", SINUS, True), (5, "N", SINUS, False), (6, "A", AF_LIKE, True),
        (11, "A", AF_LIKE, False), (12, "O", AF_LIKE, True), (13, "O", AF_LIKE, True),
        (14, "O", SINUS, False), (15, "N", SINUS, False), (16, "N", SINUS, False),
    ]  # fmt: skip
    features = np.full((len(spec), len(FEATURE_NAMES)), np.nan, np.float32)
    for row, (_, _, values, _) in enumerate(spec):
        for name, value in values.items():
            features[row, FEATURE_NAMES.index(name)] = value
    n = len(spec)
    ws = WindowSet(
        windows=np.zeros((n, 8), np.float16),
        labels=np.array([int(label == "A") for _, label, _, _ in spec]),
        record_index=np.arange(n),
        start_s=np.zeros(n, np.float32),
        end_s=np.full(n, 30, np.float32),
        records=np.array([f"cinc2017/A{number:05d}" for number, *_ in spec]),
        record_labels=np.array([label for _, label, _, _ in spec]),
        provenance={"feature_names": list(FEATURE_NAMES), "features_version": FEATURES_VERSION},
        features=features,
    )
    windows = tmp_path / "windows.npz"
    save_window_set(ws, windows)
    report = tmp_path / "report"
    report.mkdir()
    called = np.array([c for *_, c in spec])
    np.savez(report / "crossval_windows.npz", window=np.arange(n), p_af_trees=np.where(called, 0.9, 0.1),
             threshold_trees=np.full(n, 0.5))  # fmt: skip
    (report / "crossval.json").write_text(json.dumps({"run": {"windows_file": str(windows)}}))
    return windows, report


def test_blocks_count_false_alarms_and_flag_af_like_other_rhythms(tmp_path: Path) -> None:
    bench = load_benchmark("label_blocks")
    _, report = _windows(tmp_path)
    assert bench.main([str(report), "--block", "10", "--flag-share", "0.5"]) == 0
    result = json.loads((report / "label_blocks.json").read_text())
    first, second = result["blocks"]
    assert (first["first"], first["last"], second["first"]) == (0, 9, 10)
    assert (first["A"], first["O"], second["O"]) == (2, 2, 3)
    assert first["screen_A"] == 1.0 and second["screen_A"] == 1.0
    assert first["screen_O"] == 0.0 and second["screen_O"] == pytest.approx(2 / 3)
    assert not first["flagged"] and second["flagged"]
    assert first["false_alarms"] == {"trees": 1} and second["false_alarms"] == {"trees": 2}
    split = result["split"]
    assert split["rest"]["trees"]["f1"] == pytest.approx(2 * 2 / (2 * 2 + 1))  # 2 TP, 1 FP, 0 FN
    assert split["flagged"]["trees"]["f1"] == 0.0  # 0 TP, 2 FP, 1 FN
    assert (split["all"]["records"], split["all"]["A"]) == (12, 3)
    assert "| A00010-A00019 * | 6 | 1 | 3 |" in (report / "label_blocks.md").read_text()


def test_record_names_without_a_number_are_refused() -> None:
    bench = load_benchmark("label_blocks")
    np.testing.assert_array_equal(bench.record_numbers(["cinc2017/A05591", "A00001"]), [5591, 1])
    with pytest.raises(UsageError, match="data_0_1x: record name does not end in a number"):
        bench.record_numbers(["cpsc2021/data_0_1x"])
