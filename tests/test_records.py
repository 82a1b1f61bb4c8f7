"""WFDB record I/O: finding records, headers, lead choice, signals in mV, rhythm intervals, REFERENCE.csv."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import synth
import wfdb

from afdetect.errors import RecordError, UsageError
from afdetect.io.annotations import RhythmInterval, read_rhythm_intervals
from afdetect.io.find import find_records, record_base
from afdetect.io.header import read_header
from afdetect.io.reference import read_reference_labels
from afdetect.io.signals import read_signal, select_lead


def test_synth_mat_record_reads_back_with_wfdb(tmp_path: Path) -> None:
    signal = synth.multi_lead(synth.ecg_signal(500, 12, seed=1), 12)
    record = synth.write_mat_record(tmp_path, "A0001", 500, signal)
    header_lines = (tmp_path / "A0001.hea").read_text().splitlines()
    assert header_lines[0] == "A0001 12 500 6000"
    assert header_lines[1].startswith("A0001.mat 16+24 1000/mV 16 0 ")
    assert (tmp_path / "A0001.mat").stat().st_size == 24 + 2 * 12 * 6000
    rec = wfdb.rdrecord(str(record))
    assert rec.sig_name == list(synth.TWELVE_LEADS)
    assert rec.byte_offset == [24] * 12
    np.testing.assert_allclose(rec.p_signal, signal, atol=0.5e-3 + 1e-9)


def test_record_base_strips_known_extensions() -> None:
    for name in ("dir/rec", "dir/rec.hea", "dir/rec.dat", "dir/rec.mat", "dir/rec.atr"):
        assert record_base(name) == Path("dir/rec")


def test_find_records_files_directories_and_records_file(cinc_like_dir: Path, fmt212_record: Path) -> None:
    from_dir = find_records([cinc_like_dir])
    assert [p.name for p in from_dir] == sorted(["S0", "S1", "S2", "S3", "F0", "F1", "F2", "F3"])
    assert find_records([cinc_like_dir / "RECORDS"]) == from_dir
    given = find_records([f"{fmt212_record}.hea", fmt212_record, str(cinc_like_dir / "S1.mat")])
    assert given == [fmt212_record, cinc_like_dir / "S1"]  # duplicates dropped, order kept


def test_find_records_without_records_file_globs_headers(tmp_path: Path) -> None:
    for name in ("b", "a"):
        synth.write_record(tmp_path / "d", name, 128, synth.ecg_signal(128, 10))
    assert [p.name for p in find_records([tmp_path / "d"])] == ["a", "b"]
    synth.write_record(tmp_path / "d" / "sub", "c", 128, synth.ecg_signal(128, 10))
    assert [p.name for p in find_records([tmp_path / "d"], recursive=True)] == ["a", "b", "c"]


def test_find_records_from_stdin(monkeypatch: pytest.MonkeyPatch, sinus_record: Path, af_record: Path) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{sinus_record}\n\n{af_record}.hea\n"))
    assert find_records(["-"]) == [sinus_record, af_record]


def test_find_records_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(RecordError, match="no such record") as info:
        find_records([tmp_path / "missing.hea"])
    assert info.value.path == str(tmp_path / "missing.hea")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(RecordError, match="not a WFDB record"):
        find_records([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecordError, match="holds no WFDB record"):
        find_records([tmp_path / "empty"])


def test_read_header(fmt212_record: Path, mat12_record: Path) -> None:
    info = read_header(f"{fmt212_record}.hea")
    assert info.path == fmt212_record
    assert info.name == "afdb1"
    assert (info.fs, info.n_samples, info.sig_names) == (250.0, 35000, ["MLII", "V1"])
    assert info.duration_s == pytest.approx(140.0)
    mat = read_header(mat12_record)
    assert (mat.fs, mat.n_samples, len(mat.sig_names)) == (500.0, 35000, 12)
    assert mat.comments == ["Age: 74", "Sex: Male", "Dx: 164889003"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("rec 1 0 1000\nrec.dat 16 200 16 0 0 0 0 ECG\n", "sampling frequency"),
        ("rec 1 250 0\nrec.dat 16 200 16 0 0 0 0 ECG\n", "samples per signal"),
        ("this is not a header\n", "header|record line|signals"),
    ],
)
def test_read_header_rejects_bad_headers(tmp_path: Path, content: str, problem: str) -> None:
    (tmp_path / "rec.hea").write_text(content)
    with pytest.raises(RecordError, match=problem) as info:
        read_header(tmp_path / "rec")
    assert info.value.path.endswith("rec.hea")


def test_read_header_binary_and_missing(tmp_path: Path) -> None:
    (tmp_path / "bin.hea").write_bytes(b"\xff\xfe\x00\x81" * 10)
    with pytest.raises(RecordError, match="header"):
        read_header(tmp_path / "bin")
    with pytest.raises(RecordError, match="header file not found"):
        read_header(tmp_path / "nothing")


def test_select_lead(fmt212_record: Path, mat12_record: Path, tmp_path: Path) -> None:
    info = read_header(fmt212_record)
    assert select_lead(info) == 0
    assert select_lead(info, "v1") == 1
    assert select_lead(info, 1) == 1
    assert select_lead(info, "1") == 1
    assert select_lead(read_header(mat12_record), "V5") == 10
    # Lead II is the default wherever a record has it (a 12-lead record lists lead I first) ...
    assert read_header(mat12_record).sig_names[:2] == ["I", "II"]
    assert select_lead(read_header(mat12_record)) == 1
    holter = synth.write_record(tmp_path, "holter", 128, np.zeros((1280, 3)), ["V1", "ECG", "MLII"])
    assert select_lead(read_header(holter)) == 2
    # ... else the first ECG lead.
    unnamed = synth.write_record(tmp_path, "unnamed", 128, np.zeros((1280, 2)), ["ECG1", "ECG2"])
    assert select_lead(read_header(unnamed)) == 0
    with pytest.raises(RecordError, match="out of range"):
        select_lead(info, 5)
    with pytest.raises(RecordError, match="no lead named 'V9'"):
        select_lead(info, "V9")
    # No ECG name: the first signal in mV units is taken; none in mV is an error.
    odd = synth.write_record(tmp_path, "odd", 128, np.zeros((1280, 2)), ["RESP", "chan2"])
    assert select_lead(read_header(odd)) == 0
    odd_info = read_header(odd)
    no_mv = type(odd_info)(odd_info.path, odd_info.fs, odd_info.n_samples, ["RESP", "ABP"], ["l/s", "mmHg"], [])
    with pytest.raises(RecordError, match="no ECG lead"):
        select_lead(no_mv)


@pytest.mark.parametrize("fmt", ["16", "212"])
@pytest.mark.parametrize("units", ["mV", "uV"])
def test_read_signal_in_mv_with_nan_for_invalid(tmp_path: Path, fmt: str, units: str) -> None:
    signal = synth.ecg_signal(250, 10, seed=2)
    signal[100:110] = np.nan
    record = synth.write_record(tmp_path, "r", 250, signal, fmt=fmt, units=units)
    info = read_header(record)
    assert info.units == [units]
    out = read_signal(info, 0)
    assert out.dtype == np.float32 and out.shape == (2500,)
    assert np.isnan(out[100:110]).all()
    ok = np.isfinite(signal)
    atol = 1 / synth.DEFAULT_ADC_GAIN[fmt]
    np.testing.assert_allclose(out[ok], signal[ok], atol=atol)
    np.testing.assert_allclose(read_signal(info, 0, 500, 1000), out[500:1000])


def test_read_signal_of_mat_record_with_invalid_samples(tmp_path: Path) -> None:
    signal = synth.ecg_signal(300, 10, seed=3)
    signal[10:20] = np.nan
    info = read_header(synth.write_mat_record(tmp_path, "A09999", 300, signal))
    out = read_signal(info, 0)
    assert np.isnan(out[10:20]).all() and np.isnan(out).sum() == 10
    np.testing.assert_allclose(out[20:], signal[20:], atol=0.5e-3 + 1e-6)


def test_read_signal_truncated_or_missing_file(tmp_path: Path) -> None:
    record = synth.write_record(tmp_path, "r", 250, synth.ecg_signal(250, 10))
    data = (tmp_path / "r.dat").read_bytes()
    info = read_header(record)
    (tmp_path / "r.dat").write_bytes(data[: len(data) // 2])
    with pytest.raises(RecordError, match=r"truncated|unreadable"):
        read_signal(info, 0)
    (tmp_path / "r.dat").unlink()
    with pytest.raises(RecordError, match="signal file missing"):
        read_signal(info, 0)


def test_read_rhythm_intervals_with_flutter(fmt212_record: Path) -> None:
    intervals = read_rhythm_intervals(fmt212_record)
    assert intervals == [
        RhythmInterval(0.0, 40.0, "(N"),
        RhythmInterval(40.0, 100.0, "(AFIB"),
        RhythmInterval(100.0, 120.0, "(AFL"),
        RhythmInterval(120.0, 140.0, "(N"),
    ]


def test_rhythm_intervals_start_as_normal_and_no_marks_means_normal(tmp_path: Path) -> None:
    fs = 200
    record = synth.write_record(tmp_path, "p", fs, synth.ecg_signal(fs, 60))
    synth.write_rhythm_annotations(record, [(20.5, "(AFIB"), (31.0, "(N")], fs, beat_times=[1.0, 2.0, 3.0])
    assert read_rhythm_intervals(record) == [
        RhythmInterval(0.0, 20.5, "(N"),
        RhythmInterval(20.5, 31.0, "(AFIB"),
        RhythmInterval(31.0, 60.0, "(N"),
    ]
    beats_only = synth.write_record(tmp_path, "q", fs, synth.ecg_signal(fs, 60))
    synth.write_rhythm_annotations(beats_only, [], fs, beat_times=[1.0, 2.0, 3.0])
    assert read_rhythm_intervals(beats_only) == [RhythmInterval(0.0, 60.0, "(N")]


def test_rhythm_intervals_missing_or_corrupt_annotation(tmp_path: Path) -> None:
    record = synth.write_record(tmp_path, "p", 200, synth.ecg_signal(200, 10))
    with pytest.raises(RecordError, match="annotation file not found"):
        read_rhythm_intervals(record)
    (tmp_path / "p.atr").write_bytes(b"\x07" * 33)
    with pytest.raises(RecordError, match="corrupt annotation file"):
        read_rhythm_intervals(record)


def test_read_reference_labels(tmp_path: Path) -> None:
    assert read_reference_labels(tmp_path) == {}
    synth.write_reference_csv(tmp_path, {"A00001": "N", "A00002": "A", "A00003": "~"})
    assert read_reference_labels(tmp_path) == {"A00001": "N", "A00002": "A", "A00003": "~"}
    (tmp_path / "REFERENCE.csv").write_text("\n\n")
    with pytest.raises(UsageError, match="holds no 'record,label' lines"):
        read_reference_labels(tmp_path)
