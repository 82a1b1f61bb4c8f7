"""CLI: progress on stderr (plain lines off a terminal, a bar on one) and --quiet."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
import synth
from rich.console import Console
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.cli.common import RunProgress

LINE = re.compile(r"^(predict|eval|preprocess): (\d+)/(\d+) records, \d+:\d\d:\d\d elapsed$")


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def progress_lines(stderr: str) -> list[tuple[str, int, int]]:
    return [(m[1], int(m[2]), int(m[3])) for m in map(LINE.match, stderr.splitlines()) if m]


@pytest.fixture
def three_records(tmp_path: Path) -> Path:
    directory = tmp_path / "recs"
    for i in range(3):
        synth.write_record(directory, f"r{i}", 250, synth.ecg_signal(250, 40, seed=i))
    return directory


def test_predict_prints_plain_progress_lines_off_a_terminal(
    three_records: Path, tiny_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, stderr = run("predict", three_records, "--weights", tiny_weights, "-o", "-")
    assert code == 0, stderr
    assert progress_lines(stderr) == [("predict", 3, 3)]  # the last line always comes
    monkeypatch.setattr("afdetect.cli.common.PROGRESS_INTERVAL_S", 0.0)  # a line per record
    code, _, stderr = run("predict", three_records, "--weights", tiny_weights, "-o", "-")
    assert progress_lines(stderr) == [("predict", 1, 3), ("predict", 2, 3), ("predict", 3, 3)]
    code, _, stderr = run("predict", three_records, "--weights", tiny_weights, "-o", "-", "--quiet")
    assert code == 0 and progress_lines(stderr) == []


def test_eval_and_preprocess_progress_and_quiet(
    cinc_like_dir: Path, tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("afdetect.cli.common.PROGRESS_INTERVAL_S", 0.0)
    code, _, stderr = run("eval", cinc_like_dir, "--weights", tiny_weights, "--out-dir", tmp_path / "e")
    assert code == 0, stderr
    assert [done for _, done, _ in progress_lines(stderr)] == list(range(1, 9))
    code, _, stderr = run("eval", cinc_like_dir, "--weights", tiny_weights, "--out-dir", tmp_path / "e", "-q")
    assert code == 0 and progress_lines(stderr) == []
    code, _, stderr = run("preprocess", cinc_like_dir, "-o", tmp_path / "w.npz")
    assert code == 0, stderr
    assert progress_lines(stderr)[-1] == ("preprocess", 8, 8)
    code, _, stderr = run("preprocess", cinc_like_dir, "-o", tmp_path / "w.npz", "--quiet")
    assert code == 0 and progress_lines(stderr) == []


def test_progress_on_a_terminal_is_a_bar_not_lines() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=80)
    with RunProgress("predict", console=console) as progress:
        progress(0, 2)
        progress.advance()
        progress.advance()
        assert progress.bar is not None
    assert progress_lines(console.file.getvalue()) == []
    quiet = Console(file=io.StringIO(), force_terminal=True, width=80)
    with RunProgress("predict", quiet=True, console=quiet) as progress:
        progress(0, 2)
        progress.advance()
    assert quiet.file.getvalue() == ""
