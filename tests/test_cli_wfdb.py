"""CLI habits of the WFDB tools: JSON lines output, the WFDB search path."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pandas as pd
import pytest
import synth
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.detect.predictor import WINDOW_COLUMNS


def run(*args: object, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_predict_jsonl_holds_the_csv_rows(tiny_weights: Path, fmt212_record: Path, sinus_record: Path) -> None:
    args = ("predict", fmt212_record, sinus_record, "--weights", tiny_weights, "-o", "-", "-q")
    code, csv_text, stderr = run(*args)
    assert code == 0, stderr
    code, jsonl_text, stderr = run(*args, "--format", "jsonl")
    assert code == 0, stderr
    rows = [json.loads(line) for line in jsonl_text.splitlines()]
    assert all(list(row) == list(WINDOW_COLUMNS) for row in rows)
    from_jsonl = pd.DataFrame(rows).fillna({"p_af": float("nan")})
    from_csv = pd.read_csv(io.StringIO(csv_text), keep_default_na=False, na_values={"p_af": [""]})
    pd.testing.assert_frame_equal(from_jsonl, from_csv, check_dtype=False)
    code, _, stderr = run(*args, "--format", "xml")
    assert code == 2 and "--format must be one of csv, jsonl" in stderr


def test_bare_record_names_resolve_through_the_wfdb_path(
    tiny_weights: Path, fmt212_record: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "empty").mkdir()
    synth.copy_record(fmt212_record, tmp_path / "db")
    monkeypatch.chdir(tmp_path / "empty")  # the name is not found where given
    env = {"WFDB": f"https://physionet.org/files . {tmp_path / 'empty'}:{tmp_path / 'db'}"}
    code, stdout, stderr = run("predict", "afdb1", "--weights", tiny_weights, "-o", "-", "-q", env=env)
    assert code == 0, stderr
    records = set(pd.read_csv(io.StringIO(stdout))["record"])
    assert records == {str(tmp_path / "db" / "afdb1")}
    code, _, stderr = run("predict", "afdb1", "--weights", tiny_weights, "-o", "-", "-q", env={"WFDB": "."})
    assert code == 1 and "afdb1: no such record" in stderr


def test_from_to_predict_part_of_a_record_with_times_from_its_start(
    tiny_weights: Path, fmt212_record: Path, tmp_path: Path
) -> None:
    second = synth.write_record(tmp_path, "long", 250, synth.ecg_signal(250, 100, seed=3))
    args = ("predict", fmt212_record, second, "--weights", tiny_weights, "-o", "-", "-q")
    code, whole_text, stderr = run(*args)
    assert code == 0, stderr
    whole = pd.read_csv(io.StringIO(whole_text), keep_default_na=False)
    expected = whole[(whole["start_s"] < 75) & (whole["end_s"] > 40)].reset_index(drop=True)
    for extra in (["--from", "40", "--to", "1:15"], ["-f", "0:00:40", "-t", "75", "--jobs", "2"]):
        code, part_text, stderr = run(*args, *extra)
        assert code == 0, stderr
        part = pd.read_csv(io.StringIO(part_text), keep_default_na=False)
        pd.testing.assert_frame_equal(part, expected)  # the same windows and values as the whole pass
    assert len(expected) < len(whole)


@pytest.mark.parametrize(
    ("extra", "code", "fragment"),
    [
        (["--from", "1:xx"], 2, "--from: expected seconds, m:ss or h:mm:ss, got '1:xx'"),
        (["--from", "-5"], 2, "--from: expected a time from the record start (>= 0)"),
        (["--from", "60", "--to", "30"], 2, "--to (30) must come after --from (60)"),
        (["--from", "9:00"], 1, "no window overlaps 540 s to the end"),
    ],
)
def test_from_to_errors(tiny_weights: Path, sinus_record: Path, extra: list[str], code: int, fragment: str) -> None:
    got, _, stderr = run("predict", sinus_record, "--weights", tiny_weights, "-o", "-", "-q", *extra)
    assert got == code
    assert fragment in stderr
