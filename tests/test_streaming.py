"""Holter-scale prediction paths give the results of the plain ones: chunked streaming, vectorised
quality checks, small inference batches, scoring threads, pickled predictors, window spans,
special-file outputs."""

from __future__ import annotations

import os
import pickle
import threading
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth
import torch

from afdetect.config import CLIP_FRACTION, INFERENCE_BATCH, window_samples
from afdetect.detect.cnn import ModelScorer
from afdetect.detect.inference import DEFAULT_THREADS, inference_threads, predict_proba, set_inference_threads
from afdetect.detect.jobs import _init_worker, _predict_group
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.io.atomic import atomic_open, check_writable, is_special_file
from afdetect.io.header import read_header
from afdetect.models.weights import load_weights
from afdetect.signal.quality import assess_quality, assess_windows
from afdetect.signal.windows import record_windows


@pytest.fixture(scope="module")
def long_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1-lead 128 Hz 5 min record: sinus, AF, then a flat stretch and an invalid-sample stretch (19 windows)."""
    ecg = synth.rhythm_signal(128, [("sinus", 120), ("af", 180)], seed=21).signal
    ecg[200 * 128 : 240 * 128] = 0.0
    ecg[255 * 128 : 290 * 128] = np.nan
    return synth.write_record(tmp_path_factory.mktemp("long"), "long1", 128, ecg, ["ECG"])


def test_small_chunks_give_the_same_table_as_one_big_chunk(tiny_weights: Path, long_record: Path) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    one = list(predictor.iter_record(long_record, chunk_windows=10_000))
    small = list(predictor.iter_record(long_record, chunk_windows=3))
    assert len(one) == 1 and len(small) == 7  # 19 windows, 3 a chunk
    table = pd.concat(small, ignore_index=True)
    pd.testing.assert_frame_equal(table, one[0])
    assert set(table["problem"]) == {"", "flat", "invalid samples"}


def test_assess_windows_matches_assess_quality_window_by_window() -> None:
    rng = np.random.default_rng(4)
    length = 3000
    windows = rng.normal(0, 0.5, (12, length)).astype(np.float32)
    windows[1] = 0.002 * windows[1]  # flat
    windows[2] = np.clip(windows[2], -0.2, 0.2)  # clipped: far more than CLIP_FRACTION at the rails
    windows[3, :100] = np.nan  # a few invalid samples: readable
    windows[4, : int(0.2 * length)] = np.nan  # too many invalid samples
    windows[5] = np.clip(windows[5], -2.0, 2.0)  # rails touched by a handful of samples: readable
    windows[6, 2000:] = 0.0  # padded tail window with 2000 real samples
    valid = np.full(12, length)
    valid[6] = 2000
    expected = [assess_quality(w[:k]) for w, k in zip(windows, valid, strict=True)]
    assert expected[:7] == [None, "flat", "clipped", None, "invalid samples", None, None]
    assert np.count_nonzero(np.abs(windows[2]) >= 0.2) > CLIP_FRACTION * length
    assert assess_windows(windows, valid) == expected


def test_inference_batch_size_does_not_change_probabilities(tiny_weights: Path, long_record: Path) -> None:
    info = read_header(long_record)
    (batch,) = list(record_windows(info, 0, chunk_windows=10_000))
    x = batch.x[[p is None for p in batch.problems]]
    model, _ = load_weights(tiny_weights)
    plain = predict_proba(model, x, 256)  # default memory layout, one batch
    scorer = Predictor.from_weights(tiny_weights).scorer
    assert scorer.batch_size == INFERENCE_BATCH
    np.testing.assert_allclose(scorer(x), plain, atol=1e-6)
    np.testing.assert_allclose(ModelScorer(scorer.model, 2)(x), plain, atol=1e-6)


def test_predictor_survives_pickling(tiny_weights: Path, long_record: Path) -> None:
    """Worker processes started by ``spawn`` receive the predictor pickled."""
    predictor = Predictor.from_weights(tiny_weights)
    clone = pickle.loads(pickle.dumps(predictor))
    assert clone.threshold == predictor.threshold and clone.meta == predictor.meta
    pd.testing.assert_frame_equal(clone.predict_record(long_record), predictor.predict_record(long_record))


def test_span_keeps_the_overlapping_windows_of_the_whole_grid(long_record: Path) -> None:
    info = read_header(long_record)
    (whole,) = list(record_windows(info, 0, chunk_windows=10_000))
    (part,) = list(record_windows(info, 0, chunk_windows=10_000, span_s=(100.0, 131.0)))
    np.testing.assert_array_equal(part.start_s, [75, 90, 105, 120])  # windows reaching into 100-131 s
    keep = (whole.start_s < 131) & (whole.end_s > 100)
    np.testing.assert_array_equal(part.x, whole.x[keep])
    assert part.x.shape[1] == window_samples()


def test_special_file_output_is_written_in_place(tmp_path: Path) -> None:
    """A FIFO (like /dev/null or /dev/stdout) is written, never replaced by a renamed temporary file."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
    reader.start()
    assert is_special_file(fifo) and check_writable(fifo) == fifo
    with atomic_open(fifo) as handle:
        handle.write("record,start_s\n")
    reader.join(timeout=5)
    assert got == ["record,start_s\n"]
    assert is_special_file(fifo) and sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
    assert is_special_file("/dev/null") and not is_special_file(tmp_path) and not is_special_file(tmp_path / "x")


def test_prefetch_keeps_order_and_reraises_producer_errors() -> None:
    from afdetect.errors import RecordError
    from afdetect.signal.windows import prefetch

    assert list(prefetch(iter(range(50)), depth=2)) == list(range(50))

    def failing():
        yield 1
        yield 2
        raise RecordError("rec.hea", "signal file is truncated")

    received = []
    with pytest.raises(RecordError, match="truncated"):
        for item in prefetch(failing()):
            received.append(item)
    assert received == [1, 2]


def test_prefetch_stops_the_producer_when_the_consumer_stops() -> None:
    import threading
    import time

    from afdetect.signal.windows import prefetch

    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    stream = prefetch(endless(), depth=1)
    assert next(stream) == 0
    stream.close()
    time.sleep(0.5)
    count = len(produced)
    time.sleep(0.3)
    assert len(produced) == count <= 4
    assert not any(t.name == "afdetect-prefetch" and t.is_alive() for t in threading.enumerate())


def test_prefetch_producer_that_has_finished_ends_when_the_consumer_stops() -> None:
    """The producer's end mark waits for a free slot only while the consumer is there (no thread left behind)."""
    import threading
    import time

    from afdetect.signal.windows import prefetch

    before = set(threading.enumerate())
    stream = prefetch(iter([0, 1]), depth=1)
    assert next(stream) == 0
    time.sleep(0.3)  # the producer puts 1 (the queue is then full) and waits to put its end mark
    stream.close()
    for thread in set(threading.enumerate()) - before:
        if thread.name == "afdetect-prefetch":
            thread.join(timeout=10)
            assert not thread.is_alive()


def test_scoring_threads_do_not_change_probabilities(tiny_weights: Path, long_record: Path) -> None:
    info = read_header(long_record)
    (batch,) = list(record_windows(info, 0, chunk_windows=10_000))
    x = batch.x[[p is None for p in batch.problems]]
    model, _ = load_weights(tiny_weights)
    assert inference_threads() == 1
    plain = predict_proba(model, x, 3)
    assert set_inference_threads(3) == 3 and inference_threads() == 3
    assert torch.get_num_threads() == 1  # one torch thread per scoring thread
    np.testing.assert_allclose(predict_proba(model, x, 3), plain, atol=1e-6)
    assert len(x) > 3 * 3  # more batches than threads: every thread scored some
    assert set_inference_threads(None) == DEFAULT_THREADS
    with pytest.raises(UsageError, match=r"^threads must be at least 1, got 0"):
        set_inference_threads(0)


def test_batch_workers_score_on_one_thread(tiny_weights: Path) -> None:
    """``--jobs`` workers are forked from a parent that may score on several threads: each must use one."""
    set_inference_threads(2)
    _init_worker(partial(_predict_group, Predictor.from_weights(tiny_weights), None, None))
    assert inference_threads() == 1 and torch.get_num_threads() == 1
