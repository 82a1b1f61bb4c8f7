"""Prediction: per-window tables from records of any rate, format and lead count; CSV output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth
import wfdb

from afdetect.config import HOP_S, UNREADABLE, WINDOW_S
from afdetect.detect.predictor import WINDOW_COLUMNS, Predictor
from afdetect.detect.runs import predict_to_csv
from afdetect.errors import RecordError, UsageError
from afdetect.models.weights import default_weights

COLUMNS = ["record", "start_s", "end_s", "label", "p_af", "problem"]


def _constant(p: float) -> Predictor:
    return Predictor(scorer=lambda x: np.full(len(x), p), threshold=0.5, meta={"model": "constant"})


def _assert_contiguous(table: pd.DataFrame, duration_s: float) -> None:
    starts, ends = table["start_s"].to_numpy(), table["end_s"].to_numpy()
    assert starts[0] == 0
    np.testing.assert_allclose(np.diff(starts), HOP_S)
    np.testing.assert_allclose(ends, np.minimum(starts + WINDOW_S, duration_s), atol=1e-3)
    assert ends[-1] == pytest.approx(duration_s, abs=1e-3)


def test_window_columns() -> None:
    assert list(WINDOW_COLUMNS) == COLUMNS


def test_predict_12_lead_500_hz_mat_record(tiny_weights: Path, mat12_record: Path) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    assert predictor.threshold == 0.5
    table = predictor.predict_record(mat12_record)
    assert list(table.columns) == COLUMNS
    assert table["start_s"].tolist() == [0, 15, 30, 45]
    _assert_contiguous(table, 70.0)
    assert set(table["record"]) == {str(mat12_record)}
    assert table["label"].isin(["AF", "non-AF"]).all()
    assert table["p_af"].between(0, 1).all()
    assert (table["problem"] == "").all()
    expected = np.where(table["p_af"] >= predictor.threshold, "AF", "non-AF")
    assert table["label"].tolist() == expected.tolist()


def test_predict_2_lead_250_hz_format_212_record(tiny_weights: Path, fmt212_record: Path) -> None:
    table = Predictor.from_weights(tiny_weights, variant="se").predict_record(f"{fmt212_record}.hea")
    assert len(table) == 9
    _assert_contiguous(table, 140.0)
    assert table["p_af"].notna().all()


@pytest.mark.parametrize(("fixture", "duration_s"), [("record_128", 40.0), ("record_360", 40.0)])
def test_predict_other_rates(
    request: pytest.FixtureRequest, tiny_weights: Path, fixture: str, duration_s: float
) -> None:
    table = Predictor.from_weights(tiny_weights).predict_record(request.getfixturevalue(fixture))
    assert table["start_s"].tolist() == [0, 15]
    _assert_contiguous(table, duration_s)


def test_chosen_lead_is_the_one_analysed(tiny_weights: Path, mat12_record: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    lead_ii = wfdb.rdrecord(str(mat12_record), channel_names=["II"]).p_signal[:, 0]
    single = synth.write_mat_record(tmp_path, "lead2", 500, lead_ii, ["II"])
    from_12 = predictor.predict_record(mat12_record, lead="II")
    alone = predictor.predict_record(single)
    np.testing.assert_allclose(from_12["p_af"], alone["p_af"], atol=1e-4)
    np.testing.assert_array_equal(predictor.predict_record(mat12_record)["p_af"], from_12["p_af"])  # II is the default
    from_lead_i = predictor.predict_record(mat12_record, lead="I")
    assert not np.allclose(from_12["p_af"], from_lead_i["p_af"], atol=1e-6)
    with pytest.raises(RecordError, match="no lead named"):
        predictor.predict_record(mat12_record, lead="V9")


def test_threshold_decides_the_label(sinus_record: Path) -> None:
    assert set(_constant(0.7).predict_record(sinus_record)["label"]) == {"AF"}
    assert set(_constant(0.3).predict_record(sinus_record)["label"]) == {"non-AF"}
    assert set(_constant(0.5).predict_record(sinus_record)["label"]) == {"AF"}  # p_af >= threshold is AF


def test_threshold_override(tiny_weights: Path) -> None:
    assert Predictor.from_weights(tiny_weights, threshold=0.25).threshold == 0.25
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(UsageError, match=r"^threshold must lie in"):
            Predictor.from_weights(tiny_weights, threshold=bad)


def test_shipped_weights_missing_is_a_usage_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("afdetect.models.weights.WEIGHTS_DIR", tmp_path)
    assert default_weights("l") == tmp_path / "ecgcnn_l.pt"
    with pytest.raises(UsageError, match="not found"):
        Predictor.from_weights(variant="l")


def test_unreadable_windows_are_labelled_with_their_problem(record_factory, tmp_path: Path) -> None:
    signal = synth.ecg_signal(250, 75, seed=21)
    signal[: 50 * 250] = 0.0  # flat: windows [0, 30) and [15, 45)
    signal[60 * 250 :] = np.nan  # invalid: window [45, 75) is one half NaN
    record = record_factory("gappy", 250, signal)
    table = _constant(0.9).predict_record(record)
    assert table["start_s"].tolist() == [0, 15, 30, 45]
    assert table["label"].tolist() == [UNREADABLE, UNREADABLE, "AF", UNREADABLE]
    assert table["problem"].tolist() == ["flat", "flat", "", "invalid samples"]
    assert table["p_af"].isna().tolist() == [True, True, False, True]
    out = tmp_path / "gappy.csv"
    assert predict_to_csv(_constant(0.9), [str(record)], str(out)).exit_code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1] == f"{record},0.0,30.0,unreadable,,flat"
    assert lines[3] == f"{record},30.0,60.0,AF,0.9,"


def test_too_short_record_is_refused(record_factory) -> None:
    record = record_factory("short", 300, synth.ecg_signal(300, 5))
    with pytest.raises(RecordError, match="shorter than"):
        _constant(0.5).predict_record(record)


def test_predict_to_csv_file_with_a_directory_and_a_failing_record(
    tiny_weights: Path, cinc_like_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out.csv"
    failures: list[RecordError] = []
    run = predict_to_csv(
        Predictor.from_weights(tiny_weights),
        [str(cinc_like_dir), str(tmp_path / "missing.hea")],
        str(out),
        on_error=failures.append,
    )
    assert run.exit_code == 1
    assert run.records == 9 and run.failed == 1
    assert "missing.hea" in str(failures[0])
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns) == COLUMNS
    assert sorted({Path(r).name for r in table["record"]}) == ["F0", "F1", "F2", "F3", "S0", "S1", "S2", "S3"]
    assert len(table) == 10
    for _, rows in table.groupby("record"):
        _assert_contiguous(rows, float(rows["end_s"].max()))
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".part")]


def test_predict_to_csv_stdout(capsys: pytest.CaptureFixture[str], af_record: Path) -> None:
    assert predict_to_csv(_constant(0.8), [str(af_record)], "-").exit_code == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [",".join(COLUMNS), f"{af_record},0.0,30.0,AF,0.8,"]


def test_predict_to_csv_unwritable_output(tmp_path: Path, af_record: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        predict_to_csv(_constant(0.8), [str(af_record)], str(tmp_path / "no" / "out.csv"))


def test_failed_record_with_special_file_output_is_reported_not_crashed(
    record_factory, tiny_weights: Path, tmp_path: Path
) -> None:
    """`-o /dev/null` (written in place, cannot be rewound) with a failing record: one error line, exit 1."""
    from typer.testing import CliRunner

    from afdetect.cli import app

    good = record_factory("good", 250, synth.ecg_signal(250, 40, seed=2))
    bad = tmp_path / "bad"
    bad.with_suffix(".hea").write_text("bad 1 250 10000\nbad.dat 16 200/mV 16 0 0 0 0 II\n")
    bad.with_suffix(".dat").write_bytes(b"\x00" * 100)
    result = CliRunner().invoke(app, ["predict", str(good), str(bad), "--weights", str(tiny_weights), "-o", os.devnull])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert "signal file is truncated" in result.output
    assert "1 of 2 records failed" in result.output


def modules_after_predict(args: list[str], report: str) -> str:
    """Run ``afdetect predict ARGS`` in a fresh interpreter (exit 0 asserted); the last line
    ``report`` (a Python expression over ``sys.modules``) printed afterwards."""
    code = (
        "import sys\n"
        "from afdetect.cli import main\n"
        "sys.argv = ['afdetect', 'predict', *sys.argv[1:]]\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
        f"print({report})\n"
    )
    run = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return run.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("method", ["cnn", "trees"])
def test_predict_command_imports_no_scipy(method: str, tiny_weights: Path, fmt212_record: Path, tmp_path: Path) -> None:
    """Importing ``scipy.signal`` alone takes about 1 s; ``afdetect predict`` (the CNN, or the default
    rhythm trees with their R-peak detector) must not pay it. (LightGBM brings ``scipy.sparse``.)"""
    out = tmp_path / "out.csv"
    args = [f"{fmt212_record}.hea", "-o", str(out), "--summary", str(tmp_path / "s.json")]
    args += ["--weights", str(tiny_weights)] if method == "cnn" else []
    prefixes = ("scipy",) if method == "cnn" else ("scipy.signal", "scipy.ndimage", "scipy.stats")
    scipy = f"sorted(m for m in sys.modules if m.split('.')[0] == 'scipy' and m.startswith({prefixes!r}))"
    assert modules_after_predict(args, scipy) == "[]"
    assert len(pd.read_csv(out)) == 9


@pytest.mark.parametrize("method", ["trees", "rr"])
def test_predict_without_the_cnn_imports_no_torch(
    method: str, fmt212_record: Path, record_128: Path, tmp_path: Path
) -> None:
    """Importing torch takes about 1.5 s; the rhythm trees and the RR baseline must not pay it (``-j 2`` either)."""
    out = tmp_path / "out.csv"
    args = [f"{fmt212_record}.hea", f"{record_128}.hea", "-o", str(out), "--method", method, "-j", "2", "-q"]
    assert modules_after_predict(args, "'torch' in sys.modules") == "False"
    assert pd.read_csv(out)["record"].nunique() == 2
