"""CLI: predict --episodes/--summary/--annotate and the burden table; eval's EC57 statistics."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd
import pytest
import synth
import wfdb
from typer.testing import CliRunner

from afdetect import __version__
from afdetect.cli import app
from afdetect.models.files import sha256
from afdetect.rhythm.burden import PROVENANCE_KEYS
from afdetect.rhythm.episodes import EPISODE_COLUMNS, SUMMARY_KEYS, TIME_COLUMNS, merge_episodes, summarise_record

ALL_AF = "0.000001"
"""A threshold every probability of the tiny untrained model exceeds: every readable window is AF."""
NO_AF = "0.999999"
"""A threshold no probability reaches: no window is AF."""


@pytest.fixture
def records_dir(tmp_path: Path, fmt212_record: Path) -> Path:
    """Own copies of two records: ``afdb1`` (140 s, .atr N/AFIB/AFL/N) and ``plain`` (60 s, no annotations)."""
    directory = tmp_path / "recs"
    synth.copy_record(fmt212_record, directory)
    synth.write_record(directory, "plain", 250, synth.ecg_signal(250, 60, seed=9))
    return directory


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_predict_writes_episodes_summary_and_annotations(records_dir: Path, tiny_weights: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    code, stdout, stderr = run(
        "predict", records_dir, "-o", out / "windows.csv", "--weights", tiny_weights, "--threshold", ALL_AF,
        "--episodes", out / "episodes.csv", "--summary", out / "summary.json", "--annotate", "afd",
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout == ""  # the CSV went to its file; tables go to stderr
    windows = pd.read_csv(out / "windows.csv", keep_default_na=False)
    eps = pd.read_csv(out / "episodes.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert list(eps.columns) == [*EPISODE_COLUMNS, *TIME_COLUMNS, *PROVENANCE_KEYS]
    assert [s["record"] for s in summary] == [str(records_dir / "afdb1"), str(records_dir / "plain")]
    assert all(tuple(s) == (*SUMMARY_KEYS, *PROVENANCE_KEYS) for s in summary)
    provenance = {
        "afdetect_version": __version__,
        "model": "ecgcnn_se",
        "weights_sha256": sha256(tiny_weights),
        "threshold": float(ALL_AF),
    }
    assert all({k: s.pop(k) for k in PROVENANCE_KEYS} == provenance for s in summary)
    assert (eps[list(PROVENANCE_KEYS)] == pd.Series(provenance)).all().all()
    eps = eps[list(EPISODE_COLUMNS)]
    for s, (record, table) in zip(summary, windows.groupby("record", sort=False), strict=True):
        # Files agree with the library applied to the per-window CSV.
        table = table.assign(p_af=pd.to_numeric(table["p_af"]))
        expected = merge_episodes(table)
        pd.testing.assert_frame_equal(eps[eps["record"] == record].reset_index(drop=True), expected, check_dtype=False)
        assert s == summarise_record(table, expected)
        assert s["analysed_s"] == pytest.approx({"afdb1": 140.0, "plain": 60.0}[Path(record).name])
        # Clean synthetic signal, every window AF: one episode over the whole record, burden 100 %.
        assert s["unreadable_s"] == 0.0
        assert (s["episodes"], s["af_burden_pct"], s["longest_episode_s"]) == (1, 100.0, s["analysed_s"])
    # One annotation file per record, next to it, readable by wfdb.
    for name, n_samples in (("afdb1", 140 * 250), ("plain", 60 * 250)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ann = wfdb.rdann(str(records_dir / name), "afd")
        assert ann.sample[0] == 0
        assert set(ann.aux_note) <= {"(AFIB", "(N"}
        assert ann.sample.max() < n_samples
    assert (records_dir / "afdb1.atr").is_file()  # the reference annotations are untouched
    # The burden table on stderr, with the documented columns and both records.
    for text in ("AF burden", "analysed", "unreadable", "episodes", "longest", "afdb1", "plain"):
        assert text in stderr


def test_predict_without_af_and_with_annotate_dir(records_dir: Path, tiny_weights: Path, tmp_path: Path) -> None:
    ann_dir = tmp_path / "ann"
    ann_dir.mkdir()
    code, stdout, stderr = run(
        "predict", records_dir / "plain.hea", "--weights", tiny_weights, "--threshold", NO_AF,
        "--episodes", tmp_path / "episodes.csv", "--summary", tmp_path / "summary.json",
        "--annotate", "afd", "--annotate-dir", ann_dir,
    )  # fmt: skip
    assert code == 0, stderr
    assert stdout.splitlines()[0] == "record,start_s,end_s,label,p_af,problem"  # -o - default: CSV on stdout
    assert pd.read_csv(tmp_path / "episodes.csv").empty
    assert list(pd.read_csv(tmp_path / "episodes.csv").columns) == [*EPISODE_COLUMNS, *TIME_COLUMNS, *PROVENANCE_KEYS]
    (summary,) = json.loads((tmp_path / "summary.json").read_text())
    assert (summary["episodes"], summary["af_s"], summary["longest_episode_s"]) == (0, 0.0, 0.0)
    assert summary["af_burden_pct"] in (0.0, None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ann = wfdb.rdann(str(ann_dir / "plain"), "afd")
    assert ann.sample.tolist() == [0]
    assert ann.aux_note == ["(N"]
    assert not (records_dir / "plain.afd").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--annotate", "afd", "--annotate-dir", "MISSING"], "does not exist"),
        (["--annotate-dir", "ANN"], "needs --annotate"),
        (["--annotate", "a1"], "letters only"),
        (["--annotate", "atr"], "reference annotations"),
        (["--episodes", "MISSING/episodes.csv"], "does not exist"),
        (["--summary", "MISSING/summary.json"], "does not exist"),
    ],
)
def test_predict_refuses_bad_episode_outputs(
    records_dir: Path, tiny_weights: Path, tmp_path: Path, extra: list[str], message: str
) -> None:
    (tmp_path / "ANN").mkdir()
    extra = [str(tmp_path / e) if e.startswith(("MISSING", "ANN")) else e for e in extra]
    out = tmp_path / "windows.csv"
    code, _, stderr = run("predict", records_dir, "-o", out, "--weights", tiny_weights, *extra)
    assert code == 2
    assert message in stderr
    assert not out.exists()  # refused before any record was read


def test_predict_episode_outputs_survive_a_failed_record(records_dir: Path, tiny_weights: Path, tmp_path: Path) -> None:
    (records_dir / "plain.dat").unlink()
    code, _, stderr = run(
        "predict", records_dir, "-o", tmp_path / "w.csv", "--weights", tiny_weights, "--threshold", ALL_AF,
        "--summary", tmp_path / "summary.json", "--episodes", tmp_path / "e.csv",
    )  # fmt: skip
    assert code == 1
    assert "plain" in stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [Path(s["record"]).name for s in summary] == ["afdb1"]
    assert set(pd.read_csv(tmp_path / "e.csv")["record"].map(lambda r: Path(r).name)) <= {"afdb1"}


def test_eval_reports_ec57_for_annotated_records(records_dir: Path, tiny_weights: Path, tmp_path: Path) -> None:
    # afdb1: N 0-40, AFIB 40-100, AFL 100-120, N 120-140. With every window called AF the test episode
    # covers the whole record: ESe 1/1, E+P 1/1, DSe 60/60 and D+P 60/140.
    (records_dir / "plain.hea").unlink()  # eval needs labelled records; keep the annotated one
    (records_dir / "plain.dat").unlink()
    out = tmp_path / "eval"
    code, stdout, stderr = run("eval", records_dir, "--weights", tiny_weights, "--threshold", ALL_AF, "--out-dir", out)
    assert code == 0, stderr
    metrics = json.loads((out / "metrics.json").read_text())
    ec57 = metrics["ec57"]
    assert ec57["records_compared"] == 1
    (row,) = ec57["records"]
    assert row["record"] == "recs/afdb1"
    assert (row["ref_episodes"], row["ref_detected"]) == (1, 1)
    assert row["ref_duration_s"] == pytest.approx(60.0)
    assert (row["episode_se"], row["episode_ppv"], row["duration_se"]) == (1.0, 1.0, 1.0)
    assert row["duration_ppv"] == pytest.approx(60 / 140)
    assert ec57["gross"]["duration_ppv"] == pytest.approx(60 / 140)
    for text in ("EC57", "recs/afdb1", "100% (1/1)", "43%", "gross", "average"):
        assert text in stdout


def test_eval_on_a_windows_file_has_no_ec57(windows_file: Path, tiny_weights: Path, tmp_path: Path) -> None:
    code, stdout, stderr = run("eval", windows_file, "--weights", tiny_weights, "--out-dir", tmp_path / "e")
    assert code == 0, stderr
    assert "ec57" not in json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert "EC57" not in stdout


def test_predict_never_annotates_into_a_read_only_folder(records_dir: Path, tiny_weights: Path, tmp_path: Path) -> None:
    # Like the shared data: a folder without write bits is refused (exit 2) even for root, and the
    # atomic outputs do not appear.
    records_dir.chmod(0o555)
    try:
        code, _, stderr = run(
            "predict", records_dir, "-o", tmp_path / "w.csv", "--weights", tiny_weights,
            "--summary", tmp_path / "s.json", "--annotate", "afd",
        )  # fmt: skip
    finally:
        records_dir.chmod(0o755)
    assert code == 2
    assert "--annotate-dir" in stderr
    assert not (tmp_path / "w.csv").exists() and not (tmp_path / "s.json").exists()
    assert not list(records_dir.glob("*.afd"))


def test_episodes_have_hms_and_clock_times(records_dir: Path, tiny_weights: Path, tmp_path: Path) -> None:
    header = records_dir / "afdb1.hea"
    lines = header.read_text().splitlines(keepends=True)
    lines[0] = lines[0].rstrip("\n") + " 23:59:00 31/12/1999\n"  # base time and date, as rdsamp shows them
    header.write_text("".join(lines))
    code, _, stderr = run(
        "predict", records_dir, "-o", tmp_path / "w.csv", "--weights", tiny_weights, "--threshold", ALL_AF,
        "--episodes", tmp_path / "episodes.csv",
    )  # fmt: skip
    assert code == 0, stderr
    eps = pd.read_csv(tmp_path / "episodes.csv", keep_default_na=False).set_index("record")
    timed = eps.loc[str(records_dir / "afdb1")]
    assert (timed["onset_hms"], timed["offset_hms"], timed["duration_hms"]) == (
        "0:00:00.000",
        "0:02:20.000",
        "0:02:20.000",
    )
    assert (timed["onset_clock"], timed["offset_clock"]) == ("1999-12-31 23:59:00.000", "2000-01-01 00:01:20.000")
    untimed = eps.loc[str(records_dir / "plain")]
    assert untimed["offset_hms"] == "0:01:00.000"
    assert (untimed["onset_clock"], untimed["offset_clock"]) == ("", "")
