"""Record -> windows pipeline: chunked streaming gives the same windows as one pass."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import synth

from afdetect.config import MODEL_FS, window_samples
from afdetect.errors import RecordError
from afdetect.io.header import read_header
from afdetect.io.signals import read_signal, select_lead
from afdetect.signal.conditioning import condition_windows
from afdetect.signal.windows import cut_windows, record_windows, window_starts


def test_chunk_size_does_not_change_the_windows(fmt212_record: Path) -> None:
    info = read_header(fmt212_record)
    lead = select_lead(info)
    whole = list(record_windows(info, lead))
    chunked = list(record_windows(info, lead, chunk_windows=2))
    assert len(whole) == 1 and len(chunked) == 5  # 9 windows, 2 per chunk
    x = np.concatenate([b.x for b in chunked])
    np.testing.assert_allclose(x, whole[0].x, atol=1e-5)
    np.testing.assert_array_equal(np.concatenate([b.start_s for b in chunked]), whole[0].start_s)
    np.testing.assert_array_equal(np.concatenate([b.end_s for b in chunked]), whole[0].end_s)
    assert [p for b in chunked for p in b.problems] == whole[0].problems


def test_pipeline_equals_the_stages_applied_by_hand(record_360: Path) -> None:
    info = read_header(record_360)
    (batch,) = list(record_windows(info, 0))
    signal = read_signal(info, 0)
    starts = window_starts(info.n_samples, info.fs)
    windows, valid = cut_windows(signal, starts, window_samples(info.fs))
    x, problems = condition_windows(windows, valid, info.fs)
    assert batch.x.shape == (2, window_samples(MODEL_FS)) and batch.x.dtype == np.float32
    np.testing.assert_allclose(batch.x, x, atol=1e-6)
    assert batch.problems == problems == [None, None]
    np.testing.assert_allclose(batch.start_s, [0, 15])
    np.testing.assert_allclose(batch.end_s, [30, 40])


def test_too_short_record_names_the_record(record_factory) -> None:
    record = record_factory("tiny", 250, synth.ecg_signal(250, 7.5))
    with pytest.raises(RecordError, match=r"7\.5 s long, shorter than the 8 s minimum") as info:
        next(record_windows(read_header(record), 0))
    assert "tiny" in info.value.path
