"""Many records in shared batches (issue #15): the same rows as record at a time, failures kept apart."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth

from afdetect.detect.jobs import iter_records
from afdetect.detect.predictor import Predictor
from afdetect.detect.rows import WindowRows
from afdetect.detect.runs import predict_to_csv, rows_text
from afdetect.detect.stream import iter_record_rows
from afdetect.errors import RecordError
from afdetect.io.header import read_header
from afdetect.rhythm.burden import BurdenReport
from afdetect.signal.windows import record_windows


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Eight records in input order: strips of 9-61 s at 300 Hz, a 2-lead 360 Hz AF record, a flat
    strip, a record with a truncated signal file (``bad_signal``) and one with a broken header
    (``bad_header``), both in the middle."""
    directory = tmp_path_factory.mktemp("strips")
    records = []
    for i, (seconds, rhythm) in enumerate([(9, "sinus"), (30, "af"), (61, "sinus")]):
        ecg = synth.ecg_signal(300, seconds, rhythm, seed=i)
        records.append(synth.write_mat_record(directory, f"s{i}", 300, ecg, ["ECG"]).with_suffix(""))
    bad = synth.write_record(directory, "bad_signal", 250, synth.ecg_signal(250, 50, "sinus", seed=7), ["ECG"])
    bad.with_suffix(".dat").write_bytes(bad.with_suffix(".dat").read_bytes()[:1000])
    records.append(bad.with_suffix(""))
    two_leads = synth.multi_lead(synth.ecg_signal(360, 95, "af", seed=4), 2, seed=4)
    records.append(synth.write_record(directory, "two", 360, two_leads, ["MLII", "V1"], fmt="212").with_suffix(""))
    broken = directory / "bad_header.hea"
    broken.write_text("bad_header 1 300 -5\nbad_header.dat 16 1000 16 0 0 0 0 ECG\n")
    records.append(broken.with_suffix(""))
    flat = np.zeros(300 * 40)
    records.append(synth.write_record(directory, "flat", 300, flat, ["ECG"]).with_suffix(""))
    ecg = synth.ecg_signal(300, 45, "af", seed=9)
    records.append(synth.write_mat_record(directory, "s9", 300, ecg, ["ECG"]).with_suffix(""))
    return records


def one_at_a_time(predictor: Predictor, records: list[Path]) -> list[pd.DataFrame | str]:
    """Each record's whole table from ``Predictor.predict_record``, or its error message."""
    out: list[pd.DataFrame | str] = []
    for record in records:
        try:
            out.append(predictor.predict_record(record))
        except RecordError as exc:
            out.append(str(exc))
    return out


def batched(predictor: Predictor, records: list[Path], **options: int) -> list[pd.DataFrame | str]:
    """Each record's rows from the batched stream as one table, or its error message."""
    out: list[pd.DataFrame | str] = []
    for _, rows in iter_record_rows(predictor, records, **options):
        try:
            out.append(WindowRows.concat(list(rows)).to_frame())
        except Exception as exc:  # a RecordError, or what broke the scorer
            out.append(str(exc))
    return out


def assert_same(got: list[pd.DataFrame | str], expected: list[pd.DataFrame | str]) -> None:
    assert len(got) == len(expected)
    for a, b in zip(got, expected, strict=True):
        if isinstance(b, str):
            assert a == b
        else:
            pd.testing.assert_frame_equal(a, b)


@pytest.mark.parametrize("batch_windows", [1, 3, 256])
def test_batched_rows_match_record_at_a_time(tiny_weights: Path, folder: list[Path], batch_windows: int) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    expected = one_at_a_time(predictor, folder)
    assert [isinstance(e, str) for e in expected] == [False, False, False, True, False, True, False, False]
    assert_same(batched(predictor, folder, batch_windows=batch_windows, chunk_windows=2), expected)


def test_every_method_gives_the_same_rows_batched(folder: list[Path]) -> None:
    """Scorer-agnostic: the RR baseline (and any scorer scoring each window on its own) agrees too."""
    predictor = Predictor.rr_baseline()
    assert_same(batched(predictor, folder), one_at_a_time(predictor, folder))


def test_windows_of_many_records_share_one_scorer_call(folder: list[Path]) -> None:
    calls: list[int] = []

    def scorer(x: np.ndarray) -> np.ndarray:
        calls.append(len(x))
        return np.full(len(x), 0.25)

    predictor = Predictor(scorer, 0.5, {})
    good = [r for r in folder if not r.name.startswith("bad")]
    rows = [WindowRows.concat(list(r)) for _, r in iter_record_rows(predictor, good)]
    readable = sum(int(np.sum(r.label != "unreadable")) for r in rows)
    assert calls == [readable]  # one call for the whole folder (fewer windows than a packet)
    calls.clear()
    list(WindowRows.concat(list(r)) for _, r in iter_record_rows(predictor, good, batch_windows=4))
    assert sum(calls) == readable and all(n >= 4 for n in calls[:-1]) and len(calls) < len(good)


def test_a_record_whose_scoring_fails_fails_alone(tiny_weights: Path, folder: list[Path]) -> None:
    """The packet is scored again record by record: only the record that breaks the scorer fails."""
    predictor = Predictor.from_weights(tiny_weights)
    poison = next(record_windows(read_header(folder[1]), 0)).x[0]
    model_scorer = predictor.scorer

    def scorer(x: np.ndarray) -> np.ndarray:
        if (x == poison).all(axis=1).any():
            raise ValueError("scorer broke")
        return model_scorer(x)

    expected = one_at_a_time(predictor, folder)
    got = batched(Predictor(scorer, predictor.threshold, predictor.meta, predictor.preprocessing), folder)
    for i, (a, b) in enumerate(zip(got, expected, strict=True)):
        if i == 1:
            assert a == "scorer broke"
        elif isinstance(b, str):
            assert a == b
        else:
            pd.testing.assert_frame_equal(a, b)


def test_bad_records_in_the_middle_fail_alone_in_the_csv(
    tiny_weights: Path, folder: list[Path], tmp_path: Path
) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    errors: list[RecordError] = []
    report = BurdenReport()
    out = tmp_path / "out.csv"
    run = predict_to_csv(predictor, [str(r) for r in folder], str(out), on_error=errors.append, on_record=report.add)
    assert (run.records, run.failed, run.exit_code) == (8, 2, 1)
    assert [Path(str(e.path)).stem for e in errors] == ["bad_signal", "bad_header"]
    assert "truncated" in errors[0].problem and "samples" in errors[1].problem
    table = pd.read_csv(out, keep_default_na=False)
    good = [r for r in folder if not r.name.startswith("bad")]
    expected = pd.concat([predictor.predict_record(r) for r in good], ignore_index=True)
    assert table["record"].tolist() == expected["record"].tolist()
    assert table["label"].tolist() == expected["label"].tolist()
    assert [s["record"] for s in report.summaries] == [str(r) for r in good]


@pytest.mark.parametrize("jobs", [2, 3])
def test_jobs_run_groups_of_records_with_the_same_rows(tiny_weights: Path, folder: list[Path], jobs: int) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    records = folder * 3  # 24 records: groups of 2-3 records a task
    expected = batched(predictor, records)
    got = []
    for _, rows in iter_records(predictor, records, jobs=jobs):
        try:
            got.append(WindowRows.concat(list(rows)).to_frame())
        except RecordError as exc:
            got.append(str(exc))
    assert_same(got, expected)


def test_rows_text_matches_pandas() -> None:
    rng = np.random.default_rng(0)
    n = 200
    p_af = np.round(rng.uniform(0, 1, n) ** 3, 4)
    p_af[::7] = np.nan
    p_af[1] = 1e-4
    frame = pd.DataFrame(
        {
            "record": 'dir, with "quotes"/r1',
            "start_s": np.round(np.arange(n) * 15.0 + rng.uniform(0, 1e-3, n), 3),
            "end_s": np.round(np.arange(n) * 15.0 + 30.0, 3),
            "label": np.where(np.isnan(p_af), "unreadable", np.where(p_af > 0.5, "AF", "non-AF")).astype(object),
            "p_af": p_af,
            "problem": np.where(np.isnan(p_af), "invalid samples", "").astype(object),
        }
    )
    columns = (frame[c].to_numpy() for c in ("start_s", "end_s", "label", "p_af", "problem"))
    rows = WindowRows(frame["record"].iloc[0], *columns)
    pd.testing.assert_frame_equal(rows.to_frame(), frame)
    for output_format in ("csv", "jsonl"):
        assert rows.text(output_format) == rows_text(frame, output_format)
    assert rows_text(rows, "csv") == rows.text()
    back = pd.read_csv(io.StringIO(rows.text()), header=None, keep_default_na=False)
    assert back[0].iloc[0] == 'dir, with "quotes"/r1'
    assert json.loads(rows.text("jsonl").splitlines()[0])["p_af"] is None


def test_burden_from_rows_matches_burden_from_tables(tiny_weights: Path, folder: list[Path]) -> None:
    predictor = Predictor.from_weights(tiny_weights, threshold=0.3)
    from_rows, from_tables = BurdenReport(), BurdenReport()
    for record, rows in iter_record_rows(predictor, [r for r in folder if not r.name.startswith("bad")]):
        whole = WindowRows.concat(list(rows))
        from_rows.add(record, whole)
        from_tables.add(record, whole.to_frame())
    assert from_rows.summaries == from_tables.summaries
    pd.testing.assert_frame_equal(from_rows.episodes_table(), from_tables.episodes_table())
    assert any(s["episodes"] for s in from_rows.summaries)


def test_a_record_whose_conditioning_fails_fails_alone(folder: list[Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of a batch are conditioned together; when that fails, each record is conditioned alone."""
    import afdetect.signal.windows as windows

    predictor = Predictor.rr_baseline()
    expected = one_at_a_time(predictor, folder)
    real = windows.condition_windows

    def fails_at_360_hz(x: np.ndarray, valid: np.ndarray, fs: float, **options: object) -> object:
        if fs == 360:
            raise ValueError("conditioning broke")
        return real(x, valid, fs, **options)

    monkeypatch.setattr(windows, "condition_windows", fails_at_360_hz)
    got = batched(predictor, folder)
    assert got[4] == "conditioning broke" and folder[4].name == "two"
    assert_same(got[:4] + got[5:], expected[:4] + expected[5:])
