"""Evaluation: window and record metrics on a windows file, split selection, report files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth

from afdetect.config import IGNORE_LABEL
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.evaluate.records import evaluate, evaluate_records, select_split
from afdetect.evaluate.report import write_report
from afdetect.io.annotations import read_rhythm_intervals
from afdetect.io.reference import record_labeller
from afdetect.training.cache import WindowSet, load_window_set

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
    with pytest.raises(UsageError, match=r"^split must be one of"):
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


# --- evaluation on records (one streamed pass) ---------------------------------------------


class CountingScorer:
    """A scorer returning a constant probability and counting the windows it scored."""

    def __init__(self, p_af: float) -> None:
        self.p_af, self.windows = p_af, 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.windows += len(x)
        return np.full(len(x), self.p_af)


def annotated_and_plain(fmt212_record: Path, tmp_path: Path) -> list[Path]:
    """The annotated fmt212 record and a copy without ``.atr``, labelled ``N`` by ``REFERENCE.csv``."""
    plain = tmp_path / "plain"
    plain.mkdir()
    for f in fmt212_record.parent.glob(f"{fmt212_record.name}.*"):
        if f.suffix != ".atr":
            (plain / f.name).write_bytes(f.read_bytes())
    synth.write_reference_csv(plain, {fmt212_record.name: "N"})
    return [fmt212_record, plain / fmt212_record.name]


def test_evaluate_records_jobs_give_the_same_result(fmt212_record: Path, tmp_path: Path) -> None:
    """``eval --jobs N``: records scored in worker processes give the one-process result, errors included."""
    records = [*annotated_and_plain(fmt212_record, tmp_path), tmp_path / "missing"]
    predictor = Predictor(CountingScorer(0.7), 0.5, {"model": "constant"})
    runs = []
    for jobs in (1, 2):
        seen: list[tuple[str, str | None]] = []

        def on_record(path: Path, error: Exception | None, seen: list = seen) -> None:
            seen.append((path.name, None if error is None else str(error)))

        result = evaluate_records(predictor, records, jobs=jobs, on_record=on_record)
        runs.append((result.y_true.tolist(), result.p_af.tolist(), result.per_record.to_dict(), result.ec57, seen))
    assert runs[0] == runs[1]
    assert runs[0][4][-1][1] is not None  # the missing record is reported, not fatal


def test_evaluate_records_scores_each_window_once_and_compares_annotated_episodes(
    fmt212_record: Path, tmp_path: Path
) -> None:
    # fmt212_record: N 0-40, AFIB 40-100, AFL 100-120, N 120-140 (s). Everything called AF -> one test
    # episode 0-140. ESe 1/1, E+P 1/1, DSe 60/60, D+P 60/140; with exclude_flutter D+P 60/(140-20).
    assert [iv.rhythm for iv in read_rhythm_intervals(fmt212_record)] == ["(N", "(AFIB", "(AFL", "(N"]
    records = annotated_and_plain(fmt212_record, tmp_path)
    scorer = CountingScorer(0.9)
    seen: list[tuple[str, object]] = []
    result = evaluate_records(
        Predictor(scorer, 0.5, {"model": "constant"}), records, on_record=lambda p, e: seen.append((p.parent.name, e))
    )
    n_windows = len(Predictor(scorer, 0.5, {}).predict_record(fmt212_record))
    assert scorer.windows == 3 * n_windows  # both records in one pass each, then the predict_record check
    assert seen == [(fmt212_record.parent.name, None), ("plain", None)]
    # Window metrics: the annotated record's clean windows and every window of the plain (N) record.
    truth = label_windows_of(fmt212_record)
    assert list(result.y_true) == [*truth[truth >= 0], *[0] * n_windows]
    assert list(result.per_record["record"]) == [f"{fmt212_record.parent.name}/afdb1", "plain/afdb1"]
    assert list(result.per_record["truth"]) == ["AF", "non-AF"]
    assert result.record["tp"] == 1 and result.record["fp"] == 1
    # EC57: only the annotated record is compared.
    assert result.ec57["records_compared"] == 1
    (c,) = result.ec57["records"]
    assert c["record"] == f"{fmt212_record.parent.name}/afdb1"
    assert (c["ref_episodes"], c["ref_detected"], c["test_episodes"], c["test_true"]) == (1, 1, 1, 1)
    assert (c["episode_se"], c["episode_ppv"], c["duration_se"]) == (1.0, 1.0, 1.0)
    assert c["duration_ppv"] == pytest.approx(60 / 140)
    flutter_cut = evaluate_records(Predictor(CountingScorer(0.9), 0.5, {}), records, exclude_flutter=True)
    assert flutter_cut.ec57["records"][0]["duration_ppv"] == pytest.approx(60 / 120)
    # Nothing called AF: the reference episode is missed, no test episode.
    (n,) = evaluate_records(Predictor(CountingScorer(0.1), 0.5, {}), records).ec57["records"]
    assert (n["ref_detected"], n["test_episodes"], n["episode_se"]) == (0, 0, 0.0)
    assert math.isnan(n["episode_ppv"])


def label_windows_of(record: Path) -> np.ndarray:
    """Reference labels of every window ``afdetect predict`` makes of ``record``."""
    table = Predictor(CountingScorer(0.0), 0.5, {}).predict_record(record)
    return record_labeller(record, {}).label_windows(table["start_s"].to_numpy(), table["end_s"].to_numpy())


def test_evaluate_records_skips_unreadable_and_unlabelled_records(fmt212_record: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in fmt212_record.parent.glob(f"{fmt212_record.name}.*"):
        if f.suffix != ".dat":
            (broken / f.name).write_bytes(f.read_bytes())
    unlabelled = tmp_path / "unlabelled"
    unlabelled.mkdir()
    for f in fmt212_record.parent.glob(f"{fmt212_record.name}.*"):
        if f.suffix != ".atr":
            (unlabelled / f.name).write_bytes(f.read_bytes())
    errors: dict[str, str] = {}

    def on_record(path: Path, error: object) -> None:
        errors[path.parent.name] = str(error)

    records = [broken / fmt212_record.name, unlabelled / fmt212_record.name, fmt212_record]
    result = evaluate_records(Predictor(CountingScorer(0.9), 0.5, {}), records, on_record=on_record)
    assert list(result.per_record["record"]) == [f"{fmt212_record.parent.name}/afdb1"]
    assert result.ec57["records_compared"] == 1
    assert "afdb1.dat" in errors["broken"]
    assert "no label" in errors["unlabelled"]
    assert errors[fmt212_record.parent.name] == "None"
    with pytest.raises(UsageError, match="no labelled record could be read"):
        evaluate_records(Predictor(CountingScorer(0.9), 0.5, {}), records[:2])
