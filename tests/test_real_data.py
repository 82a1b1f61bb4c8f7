"""Real PhysioNet records (CinC 2017, CPSC 2021) read in place from ../shared/data; skipped without them."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.config import AF_RHYTHMS, FLUTTER_RHYTHMS, IGNORE_LABEL
from afdetect.detect.predictor import WINDOW_COLUMNS, Predictor
from afdetect.errors import EXIT_OK
from afdetect.io.annotations import read_rhythm_intervals
from afdetect.io.header import read_header
from afdetect.io.reference import read_reference_labels
from afdetect.io.signals import read_signal, select_lead
from afdetect.signal.windows import record_windows
from afdetect.training.cache import windows_from_records


def test_read_cinc2017_record(shared_data: Path) -> None:
    info = read_header(shared_data / "cinc2017" / "A00001.hea")
    assert (info.fs, info.n_samples, info.sig_names) == (300.0, 9000, ["ECG"])
    signal = read_signal(info, select_lead(info))
    assert signal.shape == (9000,)
    assert np.isfinite(signal).all()
    assert 0.5 < np.ptp(signal) < 10  # a real ECG in mV (1000 adu/mV), not adu
    labels = read_reference_labels(shared_data / "cinc2017")
    assert labels["A00001"] == "N" and labels["A00004"] == "A"
    assert set(labels.values()) <= {"N", "A", "O", "~"}


def test_cinc2017_windows_and_labels(shared_data: Path) -> None:
    records = [shared_data / "cinc2017" / name for name in ("A00001", "A00004")]
    ws = windows_from_records(records)
    assert ws.records.tolist() == ["cinc2017/A00001", "cinc2017/A00004"]
    assert ws.record_labels.tolist() == ["N", "A"]
    assert set(ws.labels[ws.record_index == 0].tolist()) == {0}
    assert set(ws.labels[ws.record_index == 1].tolist()) == {1}


def test_cpsc2021_persistent_af_is_af_throughout(shared_data: Path) -> None:
    record = shared_data / "cpsc2021" / "data_8_10"
    intervals = read_rhythm_intervals(record)
    duration = read_header(record).duration_s
    af_time = sum(iv.end_s - iv.start_s for iv in intervals if iv.rhythm in AF_RHYTHMS)
    assert intervals[0].start_s == 0 and intervals[0].rhythm == "(AFIB"
    assert af_time / duration > 0.999
    assert intervals[-1].end_s == pytest.approx(duration)
    ws = windows_from_records([record])
    assert len(ws) == 4 and set(ws.labels.tolist()) == {1}
    assert ws.record_labels.tolist() == ["AF"]


def test_cpsc2021_short_af_episode(shared_data: Path) -> None:
    record = shared_data / "cpsc2021" / "data_66_16"
    intervals = read_rhythm_intervals(record)
    af = [iv for iv in intervals if iv.rhythm in AF_RHYTHMS]
    assert len(af) == 1
    assert af[0].start_s == pytest.approx(110.33, abs=0.01)
    assert af[0].end_s == pytest.approx(114.28, abs=0.01)
    assert {iv.rhythm for iv in intervals} == {"(N", "(AFIB"}
    # Consecutive intervals tile the record.
    assert intervals[0].start_s == 0
    assert all(a.end_s == b.start_s for a, b in itertools.pairwise(intervals))
    ws = windows_from_records([record])
    overlaps = (ws.start_s < af[0].end_s) & (ws.end_s > af[0].start_s)
    assert overlaps.any()
    assert set(ws.labels[overlaps].tolist()) == {IGNORE_LABEL}  # 4 s of AF in 30 s: mixed
    assert set(ws.labels[~overlaps].tolist()) == {0}


def test_cpsc2021_flutter_windows_are_ignored(shared_data: Path) -> None:
    record = shared_data / "cpsc2021" / "data_25_24"
    intervals = read_rhythm_intervals(record)
    flutter = [iv for iv in intervals if iv.rhythm in FLUTTER_RHYTHMS]
    assert len(flutter) == 3
    ws = windows_from_records([record])
    for iv in flutter:
        touching = (ws.start_s < iv.end_s) & (ws.end_s > iv.start_s)
        assert touching.any() and not (ws.labels[touching] == 0).any()


def test_cpsc2021_non_af_record_without_rhythm_marks(shared_data: Path) -> None:
    record = shared_data / "cpsc2021" / "data_0_2"
    info = read_header(record)
    assert info.sig_names == ["I", "II"] and info.fs == 200
    intervals = read_rhythm_intervals(record)
    assert len(intervals) == 1 and intervals[0].rhythm == "(N"
    assert intervals[0].end_s == pytest.approx(info.duration_s)
    batch = next(record_windows(info, select_lead(info)))
    full = np.array([p is None for p in batch.problems]) & (batch.end_s - batch.start_s == 30)
    assert full.sum() == 3  # three full windows (and a padded tail)
    assert np.abs(batch.x[full].mean(axis=1)).max() < 1e-3  # conditioned: zero mean, unit variance
    np.testing.assert_allclose(batch.x[full].std(axis=1), 1, atol=1e-3)


def test_predict_cinc2017_record_writes_the_csv_columns(shared_data: Path, tiny_weights: Path, tmp_path: Path) -> None:
    record = shared_data / "cinc2017" / "A00001"
    out = tmp_path / "a00001.csv"
    result = CliRunner().invoke(app, ["predict", f"{record}.hea", "--weights", str(tiny_weights), "-o", str(out)])
    assert result.exit_code == EXIT_OK, result.stderr
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == list(WINDOW_COLUMNS)
    assert table[["start_s", "end_s"]].values.tolist() == [[0.0, 30.0]]
    assert table["record"].tolist() == [str(record)]
    assert table["label"].iloc[0] in ("AF", "non-AF")


def test_predict_cpsc2021_record_windows_are_contiguous(shared_data: Path, tiny_weights: Path) -> None:
    record = shared_data / "cpsc2021" / "data_0_2"
    table = Predictor.from_weights(tiny_weights).predict_record(record)
    duration = read_header(record).duration_s
    assert table["start_s"].tolist() == [0, 15, 30, 45]
    assert table["end_s"].iloc[-1] == pytest.approx(duration, abs=1e-3)
    text = io.StringIO()
    table.to_csv(text, index=False)
    assert text.getvalue().splitlines()[0] == ",".join(WINDOW_COLUMNS)


@pytest.mark.parametrize("name", ["data_0_1", "data_66_16"])
def test_streaming_and_whole_record_paths_agree_on_real_records(shared_data: Path, name: str) -> None:
    """Reading a real Holter-style record in 3-window chunks gives exactly the whole-record table."""
    from afdetect.models.weights import default_weights

    weights = default_weights("se")
    if not weights.is_file():
        pytest.skip("shipped weights/ecgcnn_se.pt not found")
    predictor = Predictor.from_weights(weights)
    record = shared_data / "cpsc2021" / name
    info = read_header(record)
    whole = pd.concat(list(predictor.iter_record(record, chunk_windows=10**6)), ignore_index=True)
    chunked = pd.concat(list(predictor.iter_record(record, chunk_windows=3)), ignore_index=True)
    assert len(whole) > 6
    assert whole["end_s"].iloc[-1] == pytest.approx(info.duration_s, abs=1 / info.fs)
    # p_af is rounded to 4 decimals and float32 sums depend on batch composition, so the
    # last digit may differ; everything else must be identical.
    pd.testing.assert_frame_equal(whole.drop(columns="p_af"), chunked.drop(columns="p_af"))
    np.testing.assert_allclose(whole["p_af"], chunked["p_af"], atol=2e-4)
