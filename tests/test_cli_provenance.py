"""CLI: --version, -h, provenance in summaries, episodes and eval reports, the burden table in logs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import synth
from typer.testing import CliRunner

from afdetect import __version__
from afdetect.cli import app
from afdetect.models.files import sha256, shipped_digests
from afdetect.rhythm.burden import PROVENANCE_KEYS
from afdetect.rhythm.episodes import SUMMARY_KEYS

COMMANDS = ("preprocess", "train", "predict", "plot", "eval", "example")


def run(*args: object) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_version_names_the_package_and_the_shipped_weights() -> None:
    code, stdout, _ = run("--version")
    assert code == 0
    lines = stdout.splitlines()
    assert lines[0] == f"afdetect {__version__}"
    digests = shipped_digests()
    assert set(digests) == {"ecgcnn_se.pt", "ecgcnn_l.pt", "resnet1d.pt", "rhythm_trees.json"}
    for name, digest in digests.items():
        assert f"  {name}  sha256 {digest[:12]}" in lines


@pytest.mark.parametrize("command", [(), *((c,) for c in COMMANDS)])
def test_short_help_on_every_command(command: tuple[str, ...]) -> None:
    code, stdout, _ = run(*command, "-h")
    assert code == 0
    assert "Usage:" in stdout
    assert stdout == run(*command, "--help")[1]


@pytest.fixture
def long_named_records(tmp_path: Path, fmt212_record: Path) -> Path:
    """Two records whose names are longer than an 80-column table cell."""
    directory = tmp_path / "a_folder_with_a_long_name_for_records"
    synth.copy_record(fmt212_record, directory)
    for i in range(2):
        synth.write_record(directory, f"holter_record_with_a_long_name_{i}", 250, synth.ecg_signal(250, 60, seed=i))
    return directory


def test_predict_summary_as_csv_with_provenance_and_threshold_on_stderr(
    long_named_records: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    summary, windows = tmp_path / "burden.csv", tmp_path / "windows.csv"
    args = ("predict", long_named_records, "--weights", tiny_weights, "-o", windows, "--threshold", "0.5")
    code, _, stderr = run(*args, "--summary", summary)
    assert code == 0, stderr
    table = pd.read_csv(summary)
    assert list(table.columns) == [*SUMMARY_KEYS, *PROVENANCE_KEYS]
    assert len(table) == 3
    assert (table["afdetect_version"] == __version__).all()
    assert (table["weights_sha256"] == sha256(tiny_weights)).all()
    assert (table["threshold"] == 0.5).all() and (table["model"] == "ecgcnn_se").all()
    per_window = pd.read_csv(windows)
    assert list(per_window.columns) == ["record", "start_s", "end_s", "label", "p_af", "problem"]
    assert (
        table["af_windows"].tolist()
        == per_window.groupby("record", sort=False)["label"].agg(lambda labels: int((labels == "AF").sum())).tolist()
    )
    assert f"AF threshold 0.500 (afdetect {__version__})" in stderr
    assert f"weights sha256 {sha256(tiny_weights)[:12]}" in stderr
    # The burden table survives a log: each full record name on one line, and a totals line.
    for record in table["record"]:
        assert any(record in line for line in stderr.splitlines()), stderr
    assert any(line.lstrip("│ ").startswith("total (3 records)") for line in stderr.splitlines()), stderr
    assert "AF windows" in stderr


def test_eval_metrics_carry_provenance(tiny_weights: Path, cinc_like_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    code, _, stderr = run("eval", cinc_like_dir, "--weights", tiny_weights, "--out-dir", out, "--threshold", "0.4")
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["provenance"] == {
        "afdetect_version": __version__,
        "model": "ecgcnn_se",
        "weights_sha256": sha256(tiny_weights),
        "threshold": 0.4,
    }
