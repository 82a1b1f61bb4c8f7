"""Smoke test of ``benchmarks/predict_speed.py``: a short synthetic Holter record, tiny weights, repeated runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import wfdb
from conftest import load_benchmark


def test_short_record_is_written_read_and_predicted(
    tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_benchmark("predict_speed")
    argv = ["--hours", "0.05", "--weights", str(tiny_weights), "--workdir", str(tmp_path), "--repeat", "2"]
    assert bench.main(argv) == 0
    out = capsys.readouterr().out
    record = wfdb.rdheader(str(tmp_path / "holter_0_05h"))
    assert (record.fs, record.n_sig, record.sig_len, record.fmt) == (250, 2, 45_000, ["212", "212"])
    # 180 s in 30 s windows every 15 s: 11 windows; two interleaved runs of each command summarised.
    assert "0.05 h (11 windows): predict" in out
    assert "medians of 2 runs; predict" in out
    assert "start-up floor: a fresh interpreter importing the predictor and its scorer takes" in out
    assert "(targets apply to --hours 10 24)" in out


def test_median_run_reports_a_failure_rather_than_a_median() -> None:
    bench = load_benchmark("predict_speed")
    ok, failed = bench.RunResult(1.0, 5, 0, ""), bench.RunResult(9.0, 7, 1, "boom")
    assert bench.median_run([ok, failed, ok]) == failed
    assert bench.median_run([ok, bench.RunResult(3.0, 9, 0, "")]) == bench.RunResult(2.0, 9, 0, "")


def test_folder_of_strips_against_a_bare_read(
    tiny_weights: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = load_benchmark("folder_speed")
    argv = ["--records", "5", "--weights", str(tiny_weights), "--workdir", str(tmp_path), "--repeat", "1"]
    assert bench.main([*argv, "--jobs", "1", "2"]) == 0
    out = capsys.readouterr().out
    headers = sorted((tmp_path / "strips_5").glob("*.hea"))
    assert len(headers) == 5
    record = wfdb.rdheader(str(headers[0].with_suffix("")))
    assert (record.fs, record.n_sig, record.fmt) == (300, 1, ["16"])
    assert 9 * 300 <= record.sig_len <= 61 * 300
    assert "5 records in" in out and "bare wfdb.rdrecord of every record:" in out
    assert "predict --jobs 1:" in out and "predict --jobs 2:" in out and "the read's)" in out
