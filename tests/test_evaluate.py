"""Evaluation: window and record metrics on a windows file, split selection, report files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from afdetect.config import IGNORE_LABEL
from afdetect.dataset import WindowSet, load_window_set
from afdetect.errors import UsageError
from afdetect.evaluate import evaluate, select_split, write_report
from afdetect.predict import Predictor

# Three records; each window's first sample holds the probability the fake scorer returns.
LABELS = [1, 1, IGNORE_LABEL, 0, 0, 0, 0, 0]
P_AF = [0.9, 0.2, 0.99, 0.1, 0.75, 0.25, 0.125, 0.0625]
RECORD_INDEX = [0, 0, 0, 1, 1, 2, 2, 2]


@pytest.fixture
def ws() -> WindowSet:
    windows = np.zeros((len(LABELS), 64), dtype=np.float16)
    windows[:, 0] = P_AF
    return WindowSet(
        windows=windows,
        labels=np.array(LABELS),
        record_index=np.array(RECORD_INDEX),
        start_s=np.zeros(len(LABELS), dtype=np.float32),
        end_s=np.full(len(LABELS), 30, dtype=np.float32),
        records=np.array(["src/r0", "src/r1", "src/r2"]),
        record_labels=np.array(["AF", "non-AF", "non-AF"]),
    )


@pytest.fixture
def predictor() -> Predictor:
    return Predictor(scorer=lambda x: x[:, 0].astype(float), threshold=0.5, meta={"model": "fake"})


def test_evaluate_hand_computed(ws: WindowSet, predictor: Predictor) -> None:
    result = evaluate(predictor, ws)
    w = result.window
    # labelled windows: y 1 1 0 0 0 0 0, calls (p >= 0.5): 0.9 and 0.75
    assert (w["n"], w["tp"], w["fn"], w["fp"], w["tn"]) == (7, 1, 1, 1, 4)
    assert w["auroc"] == pytest.approx(8 / 10)  # 0.9 beats all 5 negatives, 0.2 beats 3
    # records: r0 (AF) 1 of 2 windows called -> AF; r1 (non-AF) 1 of 2 -> AF; r2 (non-AF) 0 of 3
    r = result.record
    assert (r["n"], r["tp"], r["fp"], r["tn"], r["fn"]) == (3, 1, 1, 1, 0)
    table = result.per_record
    assert table["record"].tolist() == ["src/r0", "src/r1", "src/r2"]
    assert table["truth"].tolist() == ["AF", "non-AF", "non-AF"]
    assert table["windows"].tolist() == [2, 2, 3]
    assert table["af_fraction"].tolist() == [0.5, 0.5, 0.0]
    assert table["mean_p_af"].tolist() == pytest.approx([0.55, 0.425, 0.1458], abs=1e-4)
    summary = result.to_json()
    assert summary["confusion_matrix"]["window"] == [[4, 1], [1, 1]]
    assert summary["confusion_matrix"]["record"] == [[1, 1], [0, 1]]
    assert summary["threshold"] == 0.5


def test_evaluate_record_mask_and_threshold(ws: WindowSet, predictor: Predictor) -> None:
    result = evaluate(predictor, ws, np.array([False, True, True]))
    assert result.window["n"] == 5 and result.window["fp"] == 1
    assert math.isnan(result.window["auroc"])  # one class only
    strict = Predictor(predictor.scorer, threshold=0.95, meta={})
    assert evaluate(strict, ws).window["tp"] == 0
    with pytest.raises(UsageError, match="no labelled window"):
        evaluate(predictor, ws, np.array([False, False, False]))


def test_select_split(ws: WindowSet) -> None:
    meta = {"training": {"val_records": ["src/r1"], "test_records": ["src/r2"]}}
    assert select_split(ws, "all", meta).tolist() == [True, True, True]
    assert select_split(ws, "train", meta).tolist() == [True, False, False]
    assert select_split(ws, "val", meta).tolist() == [False, True, False]
    assert select_split(ws, "test", meta).tolist() == [False, False, True]
    with pytest.raises(UsageError, match="--split"):
        select_split(ws, "holdout", meta)
    with pytest.raises(UsageError, match="no test records"):
        select_split(ws, "test", {"training": {}})


def test_write_report(ws: WindowSet, predictor: Predictor, tmp_path: Path) -> None:
    written = write_report(evaluate(predictor, ws), tmp_path / "report", title="fake")
    assert [p.name for p in written] == ["metrics.json", "per_record.csv", "confusion.png", "roc.png"]
    summary = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert summary["window"]["tp"] == 1 and summary["record"]["fp"] == 1
    assert summary["confusion_matrix"]["labels"] == ["non-AF", "AF"]
    per_record = pd.read_csv(tmp_path / "report" / "per_record.csv")
    assert per_record["record"].tolist() == ["src/r0", "src/r1", "src/r2"]
    for png in ("confusion.png", "roc.png"):
        assert (tmp_path / "report" / png).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_tiny_model_on_windows_file(windows_file: Path, tiny_weights: Path) -> None:
    ws = load_window_set(windows_file)
    result = evaluate(Predictor.from_weights(tiny_weights), ws)
    assert result.window["n"] == int((ws.labels >= 0).sum())
    assert result.record["n"] == len(ws.records)
    assert np.all((result.p_af >= 0) & (result.p_af <= 1))
