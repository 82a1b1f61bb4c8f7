"""WFDB rhythm annotation output (afdetect.io.annotations): write, then read back with wfdb.rdann."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth
import wfdb

from afdetect.config import HOP_S, LABEL_NAMES, WINDOW_S
from afdetect.errors import UsageError
from afdetect.io.annotations import (
    check_annotation_extension,
    read_rhythm_intervals,
    rhythm_changes,
    write_rhythm_annotations,
)
from afdetect.io.header import read_header
from afdetect.rhythm.episodes import merge_episodes

AF, NON_AF = LABEL_NAMES[1], LABEL_NAMES[0]


def episodes(*spans: tuple[float, float], record: str = "rec") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "record": record,
            "onset_s": [a for a, _ in spans],
            "offset_s": [b for _, b in spans],
            "duration_s": [b - a for a, b in spans],
        }
    )


@pytest.fixture
def record_250(tmp_path: Path) -> Path:
    """A 1-lead 250 Hz 120 s record (30,000 samples) of our own, free to write annotations next to."""
    return synth.write_record(tmp_path / "rec", "holter1", 250, synth.ecg_signal(250, 120, seed=5))


def read_back(record: Path, extension: str = "afd", directory: Path | None = None) -> wfdb.Annotation:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return wfdb.rdann(str((directory or record.parent) / record.name), extension)


def test_round_trip_of_two_episodes(record_250: Path) -> None:
    # Episodes 22.5-52.5 s and 90-120 s (the record end) at 250 Hz: changes at samples
    # 0 (N), 5625 (AFIB), 13125 (N), 22500 (AFIB); no (N at 30000 = the end of the record.
    path = write_rhythm_annotations(record_250, episodes((22.5, 52.5), (90.0, 120.0)))
    assert path == record_250.parent / "holter1.afd"
    ann = read_back(record_250)
    assert ann.sample.tolist() == [0, 5625, 13125, 22500]
    assert ann.symbol == ["+"] * 4
    assert ann.aux_note == ["(N", "(AFIB", "(N", "(AFIB"]
    assert ann.fs == 250
    # afdetect reads it back as rhythm intervals covering the record.
    intervals = read_rhythm_intervals(record_250, "afd")
    assert [(iv.start_s, iv.end_s, iv.rhythm) for iv in intervals] == [
        (0.0, 22.5, "(N"),
        (22.5, 52.5, "(AFIB"),
        (52.5, 90.0, "(N"),
        (90.0, 120.0, "(AFIB"),
    ]


def test_af_from_sample_zero_and_no_af(record_250: Path) -> None:
    write_rhythm_annotations(record_250, episodes((0.0, 40.0)), extension="afa")
    ann = read_back(record_250, "afa")
    assert ann.sample.tolist() == [0, 10000]
    assert ann.aux_note == ["(AFIB", "(N"]
    write_rhythm_annotations(record_250, episodes(), extension="afn")
    ann = read_back(record_250, "afn")
    assert ann.sample.tolist() == [0]
    assert ann.aux_note == ["(N"]


def test_per_window_table_is_merged_into_episodes(record_250: Path) -> None:
    # 7 regular windows over 120 s: owned spans 0-22.5, 22.5-37.5, ..., 97.5-120. Windows 2-4 AF own
    # 37.5-82.5 -> one 45 s episode -> AFIB at 9375, N at 20625.
    labels = [NON_AF, NON_AF, AF, AF, AF, NON_AF, NON_AF]
    start = np.arange(7) * HOP_S
    table = pd.DataFrame(
        {"record": str(record_250), "start_s": start, "end_s": np.minimum(start + WINDOW_S, 120.0), "label": labels}
    )
    write_rhythm_annotations(record_250, merge_episodes(table))
    ann = read_back(record_250)
    assert ann.sample.tolist() == [0, 9375, 20625]
    assert ann.aux_note == ["(N", "(AFIB", "(N"]


def test_uses_the_records_own_sampling_rate(tmp_path: Path) -> None:
    record = synth.write_record(tmp_path, "r360", 360, synth.ecg_signal(360, 60, seed=2))
    write_rhythm_annotations(record, episodes((15.0, 45.0)))
    ann = read_back(record)
    assert ann.sample.tolist() == [0, 5400, 16200]
    assert ann.fs == 360


def test_out_dir_and_atomic_replacement(record_250: Path, tmp_path: Path) -> None:
    out = tmp_path / "annotations"
    out.mkdir()
    path = write_rhythm_annotations(record_250, episodes((10.0, 50.0)), out_dir=out)
    assert path == out / "holter1.afd"
    assert not (record_250.parent / "holter1.afd").exists()
    # rdann needs the header beside the annotations only for fs, which the file carries itself.
    assert read_back(record_250, directory=out).sample.tolist() == [0, 2500, 12500]
    # Writing again replaces the file and leaves no temporary folder behind.
    write_rhythm_annotations(record_250, episodes(), out_dir=out)
    assert read_back(record_250, directory=out).aux_note == ["(N"]
    assert sorted(p.name for p in out.iterdir()) == ["holter1.afd"]


def test_refuses_bad_outputs(record_250: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="letters only"):
        write_rhythm_annotations(record_250, episodes(), extension="af1")
    with pytest.raises(UsageError, match="record file extension"):
        write_rhythm_annotations(record_250, episodes(), extension="dat")
    with pytest.raises(UsageError, match="reference annotations"):
        write_rhythm_annotations(record_250, episodes(), extension="atr")
    with pytest.raises(UsageError, match="does not exist"):
        write_rhythm_annotations(record_250, episodes(), out_dir=tmp_path / "missing")
    assert check_annotation_extension("qrs") == "qrs"


def test_read_only_folder_is_a_usage_error(record_250: Path, tmp_path: Path) -> None:
    # Also as root: a folder without write bits (like the shared data) is never written into.
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(UsageError, match="not writable"):
            write_rhythm_annotations(record_250, episodes(), out_dir=locked)
        assert list(locked.iterdir()) == []
        record_250.parent.chmod(0o555)  # default: next to the record
        with pytest.raises(UsageError, match="choose one with out_dir"):
            write_rhythm_annotations(record_250, episodes())
        assert not record_250.with_suffix(".afd").exists()
    finally:
        locked.chmod(0o755)
        record_250.parent.chmod(0o755)


def test_rhythm_changes_merge_touching_and_clip_to_the_record(record_250: Path) -> None:
    info = read_header(record_250)
    # Touching episodes join; an episode running past the end (130 s > 120 s) ends at the end (no (N).
    samples, notes = rhythm_changes(episodes((10.0, 20.0), (20.0, 30.0), (100.0, 130.0)), info)
    assert samples.tolist() == [0, 2500, 7500, 25000]
    assert notes == ["(N", "(AFIB", "(N", "(AFIB"]
