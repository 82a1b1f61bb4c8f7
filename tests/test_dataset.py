"""Windows file: building from labelled records, saving, memory-mapped loading."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import synth
from conftest import CINC_LIKE_DURATIONS_S

from afdetect.config import DEFAULT_PREPROCESSING, IGNORE_LABEL, MODEL_FS, window_samples
from afdetect.errors import AfdetectError, UsageError
from afdetect.io.find import find_records
from afdetect.io.reference import record_key
from afdetect.training.cache import WindowSet, load_window_set, save_window_set, windows_from_records

N_SAMPLES = window_samples(MODEL_FS)


def _small_set(n: int = 5) -> WindowSet:
    rng = np.random.default_rng(0)
    return WindowSet(
        windows=rng.normal(size=(n, N_SAMPLES)).astype(np.float16),
        labels=np.array([0, 1, IGNORE_LABEL, 1, 0][:n]),
        record_index=np.array([0, 0, 1, 1, 2][:n]),
        start_s=np.arange(n, dtype=np.float32) * 15,
        end_s=np.arange(n, dtype=np.float32) * 15 + 30,
        records=np.array(["a/r0", "a/r1", "b/r2"]),
        record_labels=np.array(["AF", "AF", "N"]),
        provenance={"note": "test", "windows": n},
    )


def test_save_and_load_round_trip_with_memory_map(tmp_path: Path) -> None:
    ws = _small_set()
    path = tmp_path / "w.npz"
    save_window_set(ws, path)
    loaded = load_window_set(path)
    assert isinstance(loaded.windows, np.memmap)
    assert loaded.windows.dtype == np.float16 and loaded.windows.shape == ws.windows.shape
    np.testing.assert_array_equal(np.asarray(loaded.windows), ws.windows)
    np.testing.assert_array_equal(loaded.labels, ws.labels)
    np.testing.assert_array_equal(loaded.record_index, ws.record_index)
    np.testing.assert_array_equal(loaded.start_s, ws.start_s)
    np.testing.assert_array_equal(loaded.records, ws.records)
    assert loaded.provenance == ws.provenance
    in_memory = load_window_set(path, mmap=False)
    assert not isinstance(in_memory.windows, np.memmap)
    np.testing.assert_array_equal(in_memory.windows, ws.windows)
    with np.load(path) as plain:  # an ordinary .npz for other tools
        np.testing.assert_array_equal(plain["windows"], ws.windows)
        assert json.loads(str(plain["provenance"]))["note"] == "test"


def test_load_refuses_missing_compressed_and_foreign_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="windows file not found"):
        load_window_set(tmp_path / "none.npz")
    ws = _small_set()
    compressed = tmp_path / "c.npz"
    np.savez_compressed(compressed, windows=ws.windows, labels=ws.labels)
    with pytest.raises(UsageError, match="not an afdetect windows file"):
        load_window_set(compressed)
    foreign = tmp_path / "f.npz"
    np.savez(foreign, windows=ws.windows)
    with pytest.raises(UsageError, match="not an afdetect windows file"):
        load_window_set(foreign)
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"not a zip at all")
    with pytest.raises(UsageError, match="not an afdetect windows file"):
        load_window_set(garbage)


def test_saved_file_is_stored_uncompressed(tmp_path: Path) -> None:
    save_window_set(_small_set(), tmp_path / "w.npz")
    with zipfile.ZipFile(tmp_path / "w.npz") as archive:
        assert archive.getinfo("windows.npy").compress_type == zipfile.ZIP_STORED


def test_record_targets_and_summary() -> None:
    ws = _small_set()
    assert ws.record_targets().tolist() == [1, 1, 0]
    assert ws.summary() == [("a", 2, 2, 1, 1), ("b", 1, 0, 1, 0)]
    assert len(ws) == 5


def test_windows_from_reference_csv_records(cinc_like_dir: Path) -> None:
    records = find_records([cinc_like_dir])
    seen: list[tuple[str, object]] = []
    ws = windows_from_records(records, on_record=lambda p, e: seen.append((p.name, e)))
    assert [e for _, e in seen] == [None] * 8
    expected_windows = [1 if d <= 30 else 2 for d in CINC_LIKE_DURATIONS_S]
    assert len(ws) == 2 * sum(expected_windows)
    assert ws.windows.shape == (len(ws), N_SAMPLES) and ws.windows.dtype == np.float16
    names = [str(n).split("/")[1] for n in ws.records]
    assert all(str(n).startswith(cinc_like_dir.name + "/") for n in ws.records)
    for i, name in enumerate(names):
        labels = ws.labels[ws.record_index == i]
        assert len(labels) == expected_windows[int(name[1])]
        assert set(labels.tolist()) == {1 if name.startswith("F") else 0}
    assert dict(zip(names, ws.record_labels.tolist(), strict=True))["F0"] == "A"
    assert ws.provenance["records"] == 8 and ws.provenance["windows"] == len(ws)
    assert ws.provenance["preprocessing"]["model_fs"] == MODEL_FS and ws.preprocessing == DEFAULT_PREPROCESSING


def test_windows_from_rhythm_annotations(fmt212_record: Path) -> None:
    ws = windows_from_records([fmt212_record])
    # N 0-40, AFIB 40-100, AFL 100-120, N 120-140; windows every 15 s, the last padded.
    assert ws.start_s.tolist() == [0, 15, 30, 45, 60, 75, 90, 105, 120]
    assert ws.end_s.tolist() == [30, 45, 60, 75, 90, 105, 120, 135, 140]
    m = IGNORE_LABEL
    assert ws.labels.tolist() == [0, m, m, 1, 1, m, m, m, 0]
    assert ws.records.tolist() == [record_key(fmt212_record)]
    assert ws.record_labels.tolist() == ["AF"]
    assert ws.record_targets().tolist() == [1]


def test_unlabelled_records_are_skipped_and_reported(tmp_path: Path) -> None:
    for name in ("a", "b", "c"):
        synth.write_record(tmp_path, name, 300, synth.ecg_signal(300, 30, seed=ord(name)))
    synth.write_reference_csv(tmp_path, {"a": "N", "c": "X"})
    errors: dict[str, AfdetectError | None] = {}
    ws = windows_from_records(find_records([tmp_path]), on_record=lambda p, e: errors.__setitem__(p.name, e))
    assert errors["a"] is None
    assert "no label" in str(errors["b"])
    assert "unknown REFERENCE.csv label 'X'" in str(errors["c"])
    assert ws.records.tolist() == [f"{tmp_path.name}/a"]
    assert ws.provenance["records_skipped"] == 2
    with pytest.raises(UsageError, match="no labelled record"):
        windows_from_records(find_records([tmp_path / "b"]))


def test_unreadable_windows_are_left_out(tmp_path: Path) -> None:
    signal = synth.ecg_signal(300, 60, seed=9)
    signal[: 50 * 300] = 0.0  # windows [0, 30) and [15, 45) are flat; [30, 60) holds 10 s of ECG
    synth.write_record(tmp_path, "flat", 300, signal)
    synth.write_reference_csv(tmp_path, {"flat": "N"})
    ws = windows_from_records(find_records([tmp_path]))
    assert ws.start_s.tolist() == [30]
