"""CLI: every subcommand end to end (preprocess -> train -> eval -> predict), exit codes, error lines."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.detect.predictor import WINDOW_COLUMNS
from afdetect.errors import EXIT_OK, EXIT_RECORD_FAILED, EXIT_USAGE
from afdetect.training.cache import load_window_set

REPO_ROOT = Path(__file__).resolve().parent.parent


def run(*args: object, stdin: str | None = None) -> tuple[int, str, str]:
    """Invoke the CLI in-process; return (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_one_error_line(stderr: str, *fragments: str) -> None:
    """Exactly one ``error:`` line, naming every fragment, and no traceback."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    for fragment in fragments:
        assert fragment in errors[0], stderr


def read_csv_text(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False)


def test_help_of_every_subcommand() -> None:
    code, stdout, _ = run("--help")
    assert code == EXIT_OK
    for command in ("preprocess", "train", "eval", "predict"):
        assert command in stdout
        code, stdout_cmd, _ = run(command, "--help")
        assert code == EXIT_OK and "Usage" in stdout_cmd


def test_end_to_end_preprocess_train_eval_predict(cinc_like_dir: Path, tmp_path: Path) -> None:
    windows = tmp_path / "windows.npz"
    code, _, stderr = run("preprocess", cinc_like_dir, "-o", windows)
    assert code == EXIT_OK, stderr
    ws = load_window_set(windows)
    assert len(ws) == 10 and sorted(set(ws.labels.tolist())) == [0, 1]

    # The CLI trains the real-size model: 10 windows, one epoch.
    run_dir, model = tmp_path / "run", tmp_path / "model.pt"
    code, _, stderr = run(
        "train", "--data", windows, "--out-dir", run_dir, "--epochs", "1", "--batch-size", "4",
        "--device", "cpu", "--augment-p", "0", "-o", model,
    )  # fmt: skip
    assert code == EXIT_OK, stderr
    for name in ("last.pt", "best.pt", "metrics.csv", "curves.png"):
        assert (run_dir / name).is_file()
    assert model.read_bytes() == (run_dir / "best.pt").read_bytes()
    assert "best epoch 1" in stderr

    eval_dir = tmp_path / "eval"
    code, stdout, stderr = run("eval", windows, "--weights", model, "--split", "test", "--out-dir", eval_dir)
    assert code == EXIT_OK, stderr
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["record"]["n"] == 2  # one test record per class
    assert "window" in stdout and "record" in stdout
    assert {p.name for p in eval_dir.iterdir()} >= {"metrics.json", "per_record.csv", "confusion.png", "roc.png"}

    code, stdout, stderr = run("predict", cinc_like_dir, "--weights", model, "-o", "-")
    assert code == EXIT_OK, stderr
    table = read_csv_text(stdout)
    assert list(table.columns) == list(WINDOW_COLUMNS)
    assert len(table) == 10
    assert table["label"].isin(["AF", "non-AF"]).all()


def test_predict_to_file_on_mat_and_format_212_records(
    tiny_weights: Path, mat12_record: Path, fmt212_record: Path, tmp_path: Path
) -> None:
    out = tmp_path / "windows.csv"
    code, stdout, stderr = run("predict", f"{mat12_record}.hea", fmt212_record, "--weights", tiny_weights, "-o", out)
    assert code == EXIT_OK, stderr
    assert ",".join(WINDOW_COLUMNS) not in stdout  # the table went to the file
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == list(WINDOW_COLUMNS)
    counts = table.groupby("record").size().to_dict()
    assert counts == {str(mat12_record): 4, str(fmt212_record): 9}
    for _, rows in table.groupby("record"):
        assert (rows["start_s"].diff().dropna() == 15).all()
        assert rows["start_s"].iloc[0] == 0


def test_predict_stdout_is_only_the_csv(tiny_weights: Path, sinus_record: Path, af_record: Path) -> None:
    code, stdout, stderr = run("predict", sinus_record, f"{af_record}.hea", "--weights", tiny_weights, "-o", "-")
    assert code == EXIT_OK, stderr
    lines = stdout.splitlines()
    assert lines[0] == ",".join(WINDOW_COLUMNS)
    assert len(lines) == 3
    assert [line.split(",")[0] for line in lines[1:]] == [str(sinus_record), str(af_record)]


def test_predict_directory_and_threshold(tiny_weights: Path, cinc_like_dir: Path) -> None:
    code, stdout, _ = run("predict", cinc_like_dir, "--weights", tiny_weights, "--threshold", "0.000001")
    assert code == EXIT_OK
    table = read_csv_text(stdout)
    assert len(table) == 10 and set(table["label"]) == {"AF"}
    code, stdout, _ = run("predict", cinc_like_dir / "RECORDS", "--weights", tiny_weights, "--threshold", "0.999999")
    assert code == EXIT_OK and set(read_csv_text(stdout)["label"]) == {"non-AF"}


def test_predict_record_paths_from_stdin(tiny_weights: Path, sinus_record: Path, af_record: Path) -> None:
    code, stdout, stderr = run("predict", "-", "--weights", tiny_weights, stdin=f"{af_record}\n{sinus_record}.hea\n")
    assert code == EXIT_OK, stderr
    assert read_csv_text(stdout)["record"].tolist() == [str(af_record), str(sinus_record)]


def test_predict_lead_option(tiny_weights: Path, fmt212_record: Path) -> None:
    tables = {}
    for lead in ("MLII", "0", "V1"):
        code, stdout, stderr = run("predict", fmt212_record, "--weights", tiny_weights, "--lead", lead)
        assert code == EXIT_OK, stderr
        tables[lead] = read_csv_text(stdout)
    pd.testing.assert_frame_equal(tables["MLII"], tables["0"])
    assert not tables["MLII"]["p_af"].equals(tables["V1"]["p_af"])
    code, _, stderr = run("predict", fmt212_record, "--weights", tiny_weights, "--lead", "V7")
    assert code == EXIT_RECORD_FAILED
    assert_one_error_line(stderr, "V7", str(fmt212_record))


def test_predict_missing_record_fails_only_itself(tiny_weights: Path, sinus_record: Path, tmp_path: Path) -> None:
    missing = tmp_path / "nothing_here.hea"
    code, stdout, stderr = run("predict", missing, "--weights", tiny_weights)
    assert code == EXIT_RECORD_FAILED
    assert_one_error_line(stderr, str(missing))
    assert stdout.splitlines() == [",".join(WINDOW_COLUMNS)]
    code, stdout, stderr = run("predict", missing, sinus_record, "--weights", tiny_weights)
    assert code == EXIT_RECORD_FAILED
    assert_one_error_line(stderr, str(missing))
    assert len(stdout.splitlines()) == 2  # the good record is still written


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--weights", "/nonexistent/w.pt"], "/nonexistent/w.pt"),
        (["--threshold", "1.5"], "--threshold"),
        (["-o", "/nonexistent/dir/out.csv"], "/nonexistent/dir"),
    ],
)
def test_predict_usage_errors(tiny_weights: Path, sinus_record: Path, extra: list[str], fragment: str) -> None:
    args = ["predict", sinus_record, *(["--weights", tiny_weights] if "--weights" not in extra else []), *extra]
    code, _, stderr = run(*args)
    assert code == EXIT_USAGE
    assert_one_error_line(stderr, fragment)


def test_predict_weights_of_another_variant(tiny_weights: Path, sinus_record: Path) -> None:
    code, _, stderr = run("predict", sinus_record, "--weights", tiny_weights, "--variant", "l")
    assert code == EXIT_USAGE
    assert_one_error_line(stderr, str(tiny_weights), "ecgcnn_l")


def test_preprocess_errors(tmp_path: Path, cinc_like_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, _, stderr = run("preprocess", tmp_path / "empty", "-o", tmp_path / "w.npz")
    assert code in (EXIT_RECORD_FAILED, EXIT_USAGE)
    assert_one_error_line(stderr, str(tmp_path / "empty"))
    code, _, stderr = run("preprocess", cinc_like_dir, "-o", tmp_path / "no" / "w.npz")
    assert code == EXIT_USAGE
    assert_one_error_line(stderr, "does not exist")
    assert not (tmp_path / "w.npz").exists()


def test_preprocess_reports_skipped_records(tmp_path: Path, cinc_like_dir: Path) -> None:
    import synth

    data = tmp_path / "data"
    for name in ("S0", "F0"):
        synth.copy_record(cinc_like_dir / name, data)
    synth.write_reference_csv(data, {"S0": "N"})  # F0 has no label
    code, _, stderr = run("preprocess", data, "-o", tmp_path / "w.npz")
    assert code == EXIT_RECORD_FAILED
    assert "F0" in stderr and "no label" in stderr
    assert "Traceback" not in stderr
    assert len(load_window_set(tmp_path / "w.npz")) == 1


def test_train_usage_errors(tmp_path: Path, windows_file: Path) -> None:
    code, _, stderr = run("train", "--data", tmp_path / "none.npz", "--out-dir", tmp_path / "r", "--device", "cpu")
    assert code == EXIT_USAGE
    assert_one_error_line(stderr, "none.npz")
    code, _, stderr = run("train", "--data", windows_file, "--variant", "xl", "--out-dir", tmp_path / "r")
    assert code == EXIT_USAGE
    assert_one_error_line(stderr, "xl")
    code, _, stderr = run("train", "--data", windows_file, "--epochs", "0", "--out-dir", tmp_path / "r")
    assert code == EXIT_USAGE
    assert_one_error_line(stderr, "--epochs")


def test_eval_on_records_and_split_errors(
    tiny_weights: Path, cinc_like_dir: Path, windows_file: Path, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    code, stdout, stderr = run("eval", cinc_like_dir, "--weights", tiny_weights, "--out-dir", out)
    assert code == EXIT_OK, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["window"]["n"] == 10 and metrics["record"]["n"] == 8
    assert len(pd.read_csv(out / "per_record.csv")) == 8
    assert "window" in stdout and "record" in stdout  # the metrics table
    code, _, stderr = run("eval", windows_file, "--weights", tiny_weights, "--split", "test", "--out-dir", out)
    assert code == EXIT_USAGE
    assert_one_error_line(stderr, "test")
    code, _, stderr = run("eval", windows_file, "--weights", tiny_weights, "--split", "bogus", "--out-dir", out)
    assert code == EXIT_USAGE
    assert_one_error_line(stderr, "--split")


def test_console_script_error_has_no_traceback(tiny_weights: Path, tmp_path: Path) -> None:
    """The real process: exit code and a single error line on stderr, nothing on stdout but the header."""
    missing = tmp_path / "missing.hea"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    proc = subprocess.run(
        [sys.executable, "-m", "afdetect", "predict", str(missing), "--weights", str(tiny_weights), "-o", "-"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == EXIT_RECORD_FAILED
    assert_one_error_line(proc.stderr, str(missing))
    assert proc.stdout.splitlines() == [",".join(WINDOW_COLUMNS)]
