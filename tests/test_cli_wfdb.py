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
