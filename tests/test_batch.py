"""``predict --jobs``: parallel records give the same CSV as one job; failures stay local; stdin input."""

from __future__ import annotations

import io
import multiprocessing
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth
from conftest import load_benchmark
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.detect.jobs import iter_record_tables, resolve_jobs
from afdetect.detect.predictor import WINDOW_COLUMNS, Predictor
from afdetect.errors import EXIT_RECORD_FAILED, RecordError, UsageError


def run(*args: object, stdin: str | None = None) -> tuple[int, str, str]:
    """Invoke the CLI in-process; return (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def three_records(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Records ``a`` (sinus, 1 lead), ``b`` (signal file truncated) and ``c`` (AF, 2 leads), in that order."""
    directory = tmp_path_factory.mktemp("batch")
    a = synth.write_record(directory, "a", 250, synth.ecg_signal(250, 50, "sinus", seed=1), ["ECG"])
    b = synth.write_record(directory, "b", 250, synth.ecg_signal(250, 50, "sinus", seed=2), ["ECG"])
    b.with_suffix(".dat").write_bytes(b.with_suffix(".dat").read_bytes()[:1000])
    signal = synth.multi_lead(synth.ecg_signal(360, 40, "af", seed=3), 2, seed=3)
    c = synth.write_record(directory, "c", 360, signal, ["MLII", "V1"], fmt="212")
    return [a, b, c]


def test_jobs_2_writes_the_same_csv_as_jobs_1(tiny_weights: Path, three_records: list[Path], tmp_path: Path) -> None:
    outputs, errors = {}, {}
    for jobs in (1, 2):
        out = tmp_path / f"jobs{jobs}.csv"
        code, _, stderr = run("predict", *three_records, "-o", out, "--weights", tiny_weights, "--jobs", jobs)
        assert code == EXIT_RECORD_FAILED, stderr
        outputs[jobs], errors[jobs] = out.read_text(), stderr
    assert outputs[2] == outputs[1]
    table = pd.read_csv(io.StringIO(outputs[2]), keep_default_na=False)
    assert list(table.columns) == list(WINDOW_COLUMNS)
    a, _, c = (str(r) for r in three_records)
    assert table["record"].tolist() == [a] * 3 + [c] * 2  # a: 0, 15, 30 (20 s tail); c: 0, 15 (25 s tail)
    for stderr in errors.values():
        error_lines = [line for line in stderr.splitlines() if line.startswith("error:")]
        assert len(error_lines) == 1 and "b.dat" in error_lines[0] and "truncated" in error_lines[0]
        assert "1 of 3 records failed" in stderr


def test_record_paths_from_stdin_with_jobs(tiny_weights: Path, three_records: list[Path]) -> None:
    """``find DIR -name '*.hea' | afdetect predict - -o - -j 2``: paths on stdin, CSV on stdout only."""
    a, b, c = three_records
    stdin = f"{c}.hea\n\n{a}.hea\n{b}.hea\n"
    code, stdout, stderr = run("predict", "-", "-o", "-", "--weights", tiny_weights, "-j", 2, stdin=stdin)
    assert code == EXIT_RECORD_FAILED
    table = pd.read_csv(io.StringIO(stdout), keep_default_na=False)
    assert table["record"].tolist() == [str(c)] * 2 + [str(a)] * 3  # input order, the bad record left out
    assert set(table["label"]) <= {"AF", "non-AF"} and table["p_af"].between(0, 1).all()
    assert "1 of 3 records failed" in stderr and "Traceback" not in stderr


def test_iter_record_tables_replays_failures_in_order(tiny_weights: Path, three_records: list[Path]) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    results = {}
    for jobs in (1, 3):
        seen = []
        for record, tables in iter_record_tables(predictor, three_records, jobs=jobs):
            try:
                seen.append((record, pd.concat(list(tables), ignore_index=True)))
            except RecordError as exc:
                seen.append((record, exc.problem))
        results[jobs] = seen
    assert [r for r, _ in results[3]] == three_records
    for (_, serial), (_, parallel) in zip(results[1], results[3], strict=True):
        if isinstance(serial, str):
            assert parallel == serial and "truncated" in serial
        else:
            pd.testing.assert_frame_equal(parallel, serial)


def test_stopping_early_does_not_wait_for_queued_records(tiny_weights: Path, three_records: list[Path]) -> None:
    """Closing the stream (an interrupt, or --debug raising) cancels queued records and ends the workers."""
    predictor = Predictor.from_weights(tiny_weights)
    fast = predictor.scorer

    def slow(x: np.ndarray) -> np.ndarray:
        time.sleep(0.5)
        return fast(x)

    predictor.scorer = slow  # workers are forked, so they score slowly too
    stream = iter_record_tables(predictor, [three_records[0]] * 8, jobs=2)
    record, tables = next(stream)
    assert record == three_records[0] and len(pd.concat(list(tables))) == 3
    started = time.perf_counter()
    stream.close()  # 7 records (about 3.5 s of work for each worker) still queued
    assert time.perf_counter() - started < 1.0
    deadline = time.perf_counter() + 2.0
    while multiprocessing.active_children() and time.perf_counter() < deadline:
        time.sleep(0.05)
    assert not multiprocessing.active_children()


def test_resolve_jobs() -> None:
    assert resolve_jobs(3) == 3
    assert resolve_jobs(0) >= 1
    with pytest.raises(UsageError, match=r"^jobs must be 0"):
        resolve_jobs(-1)


def test_negative_jobs_is_a_usage_error(tiny_weights: Path, three_records: list[Path]) -> None:
    code, _, stderr = run("predict", three_records[0], "--weights", tiny_weights, "--jobs", -2)
    assert code == 2 and "--jobs must be 0 (one per CPU core) or more, got -2" in stderr


def test_batch_equivalence_benchmark_finds_batched_rows_equal_to_one_at_a_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "records"
    synth.write_record(folder, "sinus", 250, synth.ecg_signal(250, 50, "sinus", seed=1), ["ECG"])
    synth.write_record(folder, "af", 360, synth.ecg_signal(360, 40, "af", seed=3), ["MLII"], fmt="212")
    bench = load_benchmark("batch_equivalence")
    assert bench.main([str(folder), "--method", "rr", "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "same rows and labels: True" in out and "largest |Δp_af| 0 " in out
    batched = bench.pd.DataFrame({"record": ["x"], "start_s": [0.0], "end_s": [30.0], "label": ["AF"], "p_af": [0.9]})
    single = batched.assign(label="non-AF", p_af=0.2)
    assert bench.compare(batched.assign(problem=""), single.assign(problem=""))["same_rows_and_labels"] is False
