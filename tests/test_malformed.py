"""Bad input never crashes, lies or corrupts.

Every malformed input of :mod:`tests.corpus` goes through the real CLI (``afdetect predict``,
``preprocess``, ``eval``; in-process with Typer's runner, separate stdout and stderr, or as
a subprocess where signals or tracebacks are the point). For each case the exit code (0 ok,
1 some records failed, 2 usage error), the exact ``error: <file>: <problem>`` line on
stderr (one per failure), the absence of tracebacks, and the CSV on stdout are checked.
Also: outputs are atomic under SIGINT/SIGKILL, and a training run killed mid-epoch and
resumed ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from corpus import (
    build_corpus,
    synthetic_ecg,
    write_corrupt_annotation,
    write_good_annotation,
    write_record,
    write_tiny_weights,
)
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.detect.predictor import WINDOW_COLUMNS, Predictor
from afdetect.detect.runs import predict_to_csv
from afdetect.errors import RecordError, UsageError
from afdetect.io.annotations import read_rhythm_intervals
from afdetect.models.files import write_manifest
from afdetect.models.weights import load_weights

N = 10_000
"""Samples per signal of the 40 s corpus records (250 Hz)."""

KNOWN_FORMATS = "8, 16, 24, 32, 61, 80, 160, 212, 310, 311, 508, 516, 524"
SUBPROCESS_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


@dataclass(frozen=True)
class Outcome:
    """What the CLI did: exit code, stdout, stderr."""

    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """Lines reporting a failure (``error:`` / ``skipped:``)."""
        return [line for line in self.stderr.splitlines() if line.startswith(("error:", "skipped:"))]

    def table(self) -> pd.DataFrame:
        """The CSV written to stdout."""
        return pd.read_csv(io.StringIO(self.stdout), keep_default_na=False, dtype={"p_af": str, "problem": str})


def run_cli(*args: object) -> Outcome:
    """Run ``afdetect ARGS`` in-process; fail on any exception other than a clean exit."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"afdetect {args} raised {result.exception!r}") from result.exception
    outcome = Outcome(result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in outcome.stderr + outcome.stdout
    return outcome


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_corpus(tmp_path_factory.mktemp("malformed"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny_se.pt")


# Record cases that fail: case name -> (file the error names, problem). {p} = the case's path.
FAILING_RECORDS: dict[str, tuple[str, str]] = {
    "missing_path": ("{p}", "no such record: expected a .hea header, a directory or RECORDS"),
    "empty_dir": ("{p}", "directory holds no WFDB record (*.hea)"),
    "dat_missing": ("{dat}", "signal file not found (named in the header)"),
    "dat_truncated": (
        "{dat}",
        f"signal file is truncated: header declares {N} samples x 1 signal(s) = {2 * N} bytes, "
        f"the file holds {N + 1} bytes ({N // 2} whole samples, ends mid-sample)",
    ),
    "dat_short": (
        "{dat}",
        f"signal file is truncated: header declares {N} samples x 1 signal(s) = {2 * N} bytes, "
        f"the file holds {2 * (N - 100)} bytes ({N - 100} whole samples)",
    ),
    "lead_missing_from_dat": (
        "{dat}",
        f"signal file is truncated: header declares {N} samples x 2 signal(s) = {4 * N} bytes, "
        f"the file holds {2 * N} bytes ({N // 2} whole samples)",
    ),
    "garbage_header": ("{p}", "not a WFDB record line (expected 'NAME SIGNALS FS SAMPLES'): 'this is not'"),
    "fs_zero": ("{p}", "sampling frequency must be a positive number (Hz), got '0'"),
    "negative_length": ("{p}", f"number of samples per signal must be a whole number, got '-{N}'"),
    "unknown_format": ("{p}", f"signal 'II' has unknown WFDB format '99' (known: {KNOWN_FORMATS})"),
    "bad_signal_line": ("{p}", "signal line 1: format must be a WFDB format number such as 16, got 'sixteen'"),
    "more_leads_than_lines": ("{p}", "record line declares 3 signals but the header has 2 signal lines"),
    "non_utf8_header": ("{p}", "header is not text: line 2 holds byte 0xc9 at column 42 (not ASCII/UTF-8)"),
    "binary_header": ("{p}", "header is not text: line 1 holds byte 0x89 at column 1 (not ASCII/UTF-8)"),
    "empty_header": ("{p}", "header is empty (no record line)"),
    "too_short": ("{p}", "record is 5.0 s long, shorter than the 8 s minimum"),
    "bp_only": ("{p}", "no ECG lead among signals ['ABP']; choose one with --lead"),
    # issue #13
    "fs_one": ("{p}", "sampling frequency 1 Hz is outside the 50 Hz to 20 kHz an ECG can be analysed at"),
    "fs_300k": ("{p}", "sampling frequency 300000 Hz is outside the 50 Hz to 20 kHz an ECG can be analysed at"),
    "mat_text": ("{mat}", "not a MATLAB file as WFDB writes it (starts with b'this is ')"),
    "mat_wrong_size": (
        "{mat}",
        f"signal file does not match its MATLAB header: 1 x {N - 100} samples of 2 bytes need {24 + 2 * (N - 100)} "
        f"bytes, the file holds {24 + 2 * N} bytes",
    ),
    "dat_fifo": ("{dat}", "signal file is a FIFO, not a regular file (named in the header)"),
    "dat_dev_zero": ("{dat}", "signal file is a device or socket, not a regular file (named in the header)"),
    "multi_self": ("{p}", "segment 1 ('multi_self') is the record itself: the layout refers to itself"),
    "multi_missing": ("{p}", "segment 2 ('ghost') not found: no ghost.hea beside the header"),
    "header_1gb": ("{p}", "header is 1073741824 bytes, more than the 10,000,000 bytes a WFDB header can plausibly be"),
}

# Record cases that succeed: case name -> per-window (label, problem); "judged" = AF or non-AF.
READABLE_RECORDS: dict[str, list[tuple[str, str]]] = {
    "good": [("judged", ""), ("judged", "")],
    "flat": [("unreadable", "flat"), ("unreadable", "flat")],
    "clipped": [("unreadable", "clipped"), ("unreadable", "clipped")],
    "invalid_run": [("unreadable", "invalid samples"), ("judged", "")],
    "invalid_short_run": [("judged", ""), ("judged", "")],
    "mat_v4": [("judged", ""), ("judged", "")],
    "multi_fixed": [("judged", ""), ("judged", "")],
    "multi_variable": [("judged", ""), ("judged", "")],
}


def expected_line(name: str, corpus: dict[str, Path]) -> str:
    where, problem = FAILING_RECORDS[name]
    path = corpus[name]
    return f"error: {where.format(p=path, dat=path.with_suffix('.dat'), mat=path.with_suffix('.mat'))}: {problem}"


def test_corpus_has_at_least_17_cases(corpus: dict[str, Path]) -> None:
    assert len(FAILING_RECORDS) + len(READABLE_RECORDS) >= 17
    assert set(FAILING_RECORDS) | set(READABLE_RECORDS) == set(corpus)


@pytest.mark.parametrize("name", sorted(FAILING_RECORDS))
def test_bad_record_fails_with_one_precise_line(name: str, corpus: dict[str, Path], weights: Path) -> None:
    out = run_cli("predict", corpus[name], "--weights", weights)
    assert out.code == 1
    assert out.error_lines == [expected_line(name, corpus)]
    assert "1 of 1 records failed" in out.stderr.splitlines()
    assert out.stdout == ",".join(WINDOW_COLUMNS) + "\n"  # header only: no row of a failed record


@pytest.mark.parametrize("name", sorted(READABLE_RECORDS))
def test_readable_record_windows_and_problems(name: str, corpus: dict[str, Path], weights: Path) -> None:
    out = run_cli("predict", corpus[name], "--weights", weights)
    assert out.code == 0
    assert out.error_lines == []
    table = out.table()
    assert list(table.columns) == list(WINDOW_COLUMNS)
    assert table["start_s"].tolist() == [0.0, 15.0]
    for (_, row), (label, problem) in zip(table.iterrows(), READABLE_RECORDS[name], strict=True):
        assert row["problem"] == problem
        if label == "unreadable":
            assert row["label"] == "unreadable"
            assert row["p_af"] == ""  # never a made-up probability
        else:
            assert row["label"] in {"AF", "non-AF"}
            assert 0 <= float(row["p_af"]) <= 1


def test_lead_that_does_not_exist(corpus: dict[str, Path], weights: Path) -> None:
    header = corpus["good"]
    out = run_cli("predict", header, "--weights", weights, "--lead", "V9")
    assert (out.code, out.error_lines) == (1, [f"error: {header}: no lead named 'V9' (signals ['II'])"])
    out = run_cli("predict", header, "--weights", weights, "--lead", "3")
    assert (out.code, out.error_lines) == (1, [f"error: {header}: lead index 3 out of range 0..0 (signals ['II'])"])


def test_blood_pressure_record_with_explicit_lead_is_read(corpus: dict[str, Path], weights: Path) -> None:
    out = run_cli("predict", corpus["bp_only"], "--weights", weights, "--lead", "ABP")
    assert out.code == 0
    assert len(out.table()) == 2


def test_batch_folder_good_rows_written_bad_ones_reported(corpus: dict[str, Path], weights: Path) -> None:
    folder = corpus["good"].parent
    in_folder = [n for n in FAILING_RECORDS if corpus[n].parent == folder and corpus[n].exists()]
    out_csv = folder.parent / "batch.csv"
    out = run_cli("predict", folder, corpus["missing_path"], "--weights", weights, "-o", out_csv)
    assert out.code == 1
    expected = {expected_line(n, corpus) for n in [*in_folder, "missing_path"]}
    shown = min(len(expected), 20)  # the first 20 failures are named, the rest counted
    assert len(out.error_lines) == shown and set(out.error_lines) <= expected  # one line per failure shown
    if len(expected) > shown:
        assert f"... and {len(expected) - shown} more errors" in out.stderr.splitlines()
    n_records = len(list(folder.glob("*.hea"))) + 1
    assert out.stderr.splitlines().count(f"{len(expected)} of {n_records} records failed") == 1
    table = pd.read_csv(out_csv, keep_default_na=False)
    written = {Path(r).name for r in table["record"]}
    assert written == {n for n in READABLE_RECORDS if corpus[n].parent == folder}
    assert (table.groupby("record").size() == 2).all()
    assert [p.name for p in folder.parent.glob(".batch.csv*")] == []


def test_records_file_naming_a_missing_record(corpus: dict[str, Path], weights: Path, tmp_path: Path) -> None:
    folder = tmp_path / "listed"
    folder.mkdir()
    for suffix in (".hea", ".dat"):
        (folder / f"good{suffix}").write_bytes(corpus["good"].with_suffix(suffix).read_bytes())
    (folder / "RECORDS").write_text("good\nghost\n")
    out = run_cli("predict", folder / "RECORDS", "--weights", weights)
    assert out.code == 1
    assert out.error_lines == [f"error: {folder / 'ghost.hea'}: header file not found"]
    assert "1 of 2 records failed" in out.stderr.splitlines()
    assert set(out.table()["record"]) == {str(folder / "good")}


def test_record_failing_midway_leaves_no_rows_in_file(
    corpus: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rows already written for a record that then fails are taken back out of the file."""
    import afdetect.detect.stream as stream

    real_chunks = stream.record_chunks

    def fails_after_first_chunk(info, lead_index, **options):
        options["chunk_windows"] = 1
        for chunk in real_chunks(info, lead_index, **options):
            yield chunk
            if info.path.name == "flat":
                raise RecordError(info.path, "read error after the first chunk")

    monkeypatch.setattr(stream, "record_chunks", fails_after_first_chunk)
    predictor = Predictor(lambda x: np.full(len(x), 0.25), 0.5, {})
    target = tmp_path / "out.csv"
    run = predict_to_csv(predictor, [str(corpus["flat"]), str(corpus["good"])], str(target))
    assert run.exit_code == 1 and run.failed == 1
    table = pd.read_csv(target)
    assert set(table["record"]) == {str(corpus["good"].with_suffix(""))}
    assert len(table) == 2


def test_error_line_shows_paths_verbatim(weights: Path, tmp_path: Path) -> None:
    """Brackets and colons in a path are not taken for console markup or emoji codes."""
    missing = tmp_path / "ward[b]:smile:" / "rec.hea"
    out = run_cli("predict", missing, "--weights", weights)
    assert out.error_lines == [f"error: {missing}: no such record: expected a .hea header, a directory or RECORDS"]


def test_debug_shows_traceback(tmp_path: Path, weights: Path) -> None:
    missing = tmp_path / "missing.hea"
    out = run_cli("predict", missing, "--weights", weights)
    assert out.error_lines == [f"error: {missing}: no such record: expected a .hea header, a directory or RECORDS"]
    proc = subprocess.run(
        [sys.executable, "-m", "afdetect", "--debug", "predict", str(missing), "--weights", str(weights)],
        capture_output=True,
        text=True,
        env=SUBPROCESS_ENV,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "Traceback (most recent call last)" in proc.stderr
    assert f"RecordError: {missing}: no such record" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Annotation files (preprocess / eval path)


@pytest.fixture
def labelled_folder(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A folder with one well-annotated record and one whose .atr is random bytes."""
    good = write_record(tmp_path / "labelled", "ok", synthetic_ecg(40, seed=1))
    write_good_annotation(good)
    bad = write_record(tmp_path / "labelled", "bad_atr", synthetic_ecg(40, seed=2))
    return good.parent, good, write_corrupt_annotation(bad)


ATR_PROBLEM = "corrupt annotation file: 301 bytes is not a whole number of 16-bit words"


def test_preprocess_skips_corrupt_annotation(labelled_folder: tuple[Path, Path, Path], tmp_path: Path) -> None:
    folder, _, atr = labelled_folder
    out = run_cli("preprocess", folder, "-o", tmp_path / "ws.npz")
    assert out.code == 1
    assert out.error_lines == [f"skipped: {atr}: {ATR_PROBLEM}"]
    assert "1 of 2 records skipped" in out.stderr.splitlines()
    with np.load(tmp_path / "ws.npz") as data:
        assert data["records"].tolist() == ["labelled/ok"]


def test_eval_reports_corrupt_annotation(
    labelled_folder: tuple[Path, Path, Path], weights: Path, tmp_path: Path
) -> None:
    folder, good, atr = labelled_folder
    out = run_cli("eval", folder, "--weights", weights, "--out-dir", tmp_path / "eval")
    assert out.code == 1  # metrics of the readable record, but the skipped one is not silent
    assert out.error_lines == [f"skipped: {atr}: {ATR_PROBLEM}"]
    good.with_suffix(".atr").write_bytes(b"")
    out = run_cli("eval", folder, "--weights", weights, "--out-dir", tmp_path / "eval2")
    assert out.code == 2
    assert out.error_lines == [
        f"skipped: {atr}: {ATR_PROBLEM}",
        f"skipped: {good.with_suffix('.atr')}: annotation file is empty",
        "error: no labelled record could be read",
    ]
    assert not (tmp_path / "eval2").exists()


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "annotation file is empty"),
        (bytes(64), "annotation file holds no annotations"),
        (b"hello world, this is text\n", "corrupt annotation file: no end-of-file word"),
        ("truncated", "corrupt annotation file: no end-of-file word"),
        ("odd", "corrupt annotation file: 47 bytes is not a whole number of 16-bit words"),
    ],
)
def test_annotation_file_framing(tmp_path: Path, content: bytes | str, problem: str) -> None:
    header = write_record(tmp_path, "r", synthetic_ecg(40))
    atr = write_good_annotation(header, rhythm="(AFIB")
    assert read_rhythm_intervals(header)[0].rhythm == "(AFIB"
    good = atr.read_bytes()
    atr.write_bytes({"truncated": good[:-2], "odd": good[:-1]}.get(content, content))  # type: ignore[arg-type]
    with pytest.raises(RecordError) as info:
        read_rhythm_intervals(header)
    assert info.value.path == str(atr)
    assert info.value.problem.startswith(problem)


# ---------------------------------------------------------------------------------------------
# Weights files


BAD_WEIGHTS: dict[str, str] = {
    "truncated": "weights file is truncated or damaged (incomplete zip archive)",
    "random-bytes": "not an afdetect weights file (not a zip archive; torch.save writes zip archives)",
    "empty": "not an afdetect weights file (empty file; torch.save writes zip archives)",
    "plain-tensor": "not an afdetect weights file (no 'afdetect-weights' format tag)",
    "pickled-object": "not an afdetect weights file (holds Python objects other than tensors)",
    "flipped-byte": "weights file is damaged (member ",
    "missing": "weights file not found",
}
"""Kind of broken weights file -> start of the problem reported."""


def write_bad_weights(kind: str, good: Path, target: Path) -> None:
    """Write a broken weights file of ``kind`` (see ``BAD_WEIGHTS``) derived from ``good``."""
    if kind == "truncated":
        target.write_bytes(good.read_bytes()[:1000])
    elif kind == "random-bytes":
        target.write_bytes(np.random.default_rng(0).bytes(512))
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "plain-tensor":
        torch.save(torch.zeros(3), target)
    elif kind == "pickled-object":
        torch.save({"x": Outcome(0, "", "")}, target)
    elif kind == "flipped-byte":  # one bit error inside a tensor: torch.load alone would not notice
        data = bytearray(good.read_bytes())
        with zipfile.ZipFile(good) as archive:
            member = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size > 16)
            tensor_bytes = archive.read(member)
        data[bytes(data).index(tensor_bytes) + 8] ^= 0xFF
        target.write_bytes(bytes(data))


@pytest.mark.parametrize("kind", sorted(BAD_WEIGHTS))
def test_bad_weights_file(kind: str, corpus: dict[str, Path], weights: Path, tmp_path: Path) -> None:
    target = tmp_path / "bad.pt"
    write_bad_weights(kind, weights, target)
    out = run_cli("predict", corpus["good"], "--weights", target)
    assert out.code == 2
    assert len(out.error_lines) == 1
    assert out.error_lines[0].startswith(f"error: {target}: {BAD_WEIGHTS[kind]}")
    assert out.stdout == ""


def test_weights_of_another_variant(corpus: dict[str, Path], tmp_path: Path) -> None:
    l_weights = write_tiny_weights(tmp_path / "tiny_l.pt", "l")
    with pytest.raises(UsageError, match="holds model 'ecgcnn_l', not the requested 'ecgcnn_se'"):
        load_weights(l_weights, "se")
    model, meta = load_weights(l_weights, "l")
    assert meta["model"] == "ecgcnn_l" and not model.training
    out = run_cli("predict", corpus["good"], "--weights", l_weights, "--variant", "se")
    assert (out.code, out.error_lines) == (
        2,
        [f"error: {l_weights}: holds model 'ecgcnn_l', not the requested 'ecgcnn_se'"],
    )
    out = run_cli("predict", corpus["good"], "--weights", l_weights, "--variant", "zz")
    assert (out.code, out.error_lines) == (
        2,
        [
            "error: --variant: unknown model 'zz'; expected one of l, se, se-rhythm, se-rhythm-head, resnet, "
            "resnet-rhythm, ecgcnn_l, ecgcnn_se, ecgcnn_se_rhythm, ecgcnn_se_rhythm_head, resnet1d, resnet1d_rhythm"
        ],
    )


def test_weights_sha256_manifest_mismatch(corpus: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "shipped"
    folder.mkdir()
    w = write_tiny_weights(folder / "m.pt", seed=0)
    manifest = write_manifest(folder)
    assert run_cli("predict", corpus["good"], "--weights", w).code == 0
    write_tiny_weights(w, seed=1)  # replaced after the manifest was written
    out = run_cli("predict", corpus["good"], "--weights", w)
    assert (out.code, out.error_lines) == (
        2,
        [f"error: {w}: sha256 does not match {manifest} (file corrupted or replaced)"],
    )


# ---------------------------------------------------------------------------------------------
# Outputs


def _no_output_left(path: Path) -> None:
    assert not path.exists()
    if path.parent.is_dir():
        assert [p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")] == []


def test_output_in_missing_directory(corpus: dict[str, Path], weights: Path, tmp_path: Path) -> None:
    target = tmp_path / "nodir" / "out.csv"
    out = run_cli("predict", corpus["good"], "--weights", weights, "-o", target)
    assert (out.code, out.error_lines) == (2, [f"error: {target}: output directory {target.parent} does not exist"])
    _no_output_left(target)


def test_output_path_is_a_directory(corpus: dict[str, Path], weights: Path, tmp_path: Path) -> None:
    out = run_cli("predict", corpus["good"], "--weights", weights, "-o", tmp_path)
    assert (out.code, out.error_lines) == (2, [f"error: {tmp_path}: output path is a directory, expected a file name"])


def _can_create_in(directory: Path) -> bool:
    try:
        (directory / ".probe").touch()
    except OSError:
        return False
    (directory / ".probe").unlink()
    return True


def test_output_in_unwritable_directory(corpus: dict[str, Path], weights: Path, tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        if _can_create_in(locked):  # root ignores permission bits; use a file system that refuses
            special = Path("/sys")
            if not special.is_dir() or _can_create_in(special):
                pytest.skip("running as root and no directory refuses new files")
            target = special / "out.csv"
            problem = f"cannot create a file in {special}: "
        else:
            target = locked / "out.csv"
            problem = f"output directory {locked} is not writable"
        out = run_cli("predict", corpus["good"], "--weights", weights, "-o", target)
        assert out.code == 2
        assert len(out.error_lines) == 1 and out.error_lines[0].startswith(f"error: {target}: {problem}")
        _no_output_left(target)
    finally:
        locked.chmod(0o755)


@pytest.fixture(scope="module")
def long_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4 h record (128 Hz): long enough to be mid-prediction when the signal arrives."""
    return write_record(tmp_path_factory.mktemp("long"), "long", synthetic_ecg(4 * 3600, fs=128.0), fs=128.0)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_interrupted_predict_leaves_no_partial_output(
    sig: signal.Signals, long_record: Path, weights: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "afdetect", "predict", str(long_record), "--weights", str(weights), "-o", str(target)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=SUBPROCESS_ENV,
    )
    deadline, header = time.monotonic() + 60, len(",".join(WINDOW_COLUMNS)) + 1
    try:
        while not any(p.stat().st_size > header for p in tmp_path.glob(".out.csv.*.part")):  # rows on disk
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "prediction never started writing rows"
            time.sleep(0.02)
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode == 0:  # finished before the signal landed: then the file must be whole
        assert pd.read_csv(target)["end_s"].iloc[-1] == 4 * 3600
        return
    assert not target.exists()
    leftovers = [p.name for p in tmp_path.iterdir()]
    if sig == signal.SIGINT:
        assert proc.returncode == 130
        assert "interrupted" in stderr and "Traceback" not in stderr
        assert leftovers == []  # the temporary file is removed too
    else:  # SIGKILL: no cleanup can run; the partial file stays hidden under its temporary name
        assert proc.returncode == -signal.SIGKILL
        assert all(name.startswith(".out.csv.") and name.endswith(".part") for name in leftovers)


# ---------------------------------------------------------------------------------------------
# Resumable training

TINY_MODEL = {"channels": (4, 8), "lstm_hidden": 8, "lstm_layers": 1}


def _tiny_windows_file(path: Path, n_records: int = 12, per_record: int = 4) -> Path:
    from afdetect.training.cache import WindowSet, save_window_set

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(n_records) % 2, per_record)
    t = np.arange(3840) / 128
    x = 0.3 * rng.standard_normal((len(labels), len(t))) + np.sin(2 * np.pi * (1 + labels[:, None]) * t)
    ws = WindowSet(
        windows=x.astype(np.float16),
        labels=labels,
        record_index=np.repeat(np.arange(n_records), per_record),
        start_s=np.zeros(len(labels), np.float32),
        end_s=np.full(len(labels), 30.0, np.float32),
        records=np.array([f"synth/r{i}" for i in range(n_records)]),
        record_labels=np.array(["A" if i % 2 else "N" for i in range(n_records)]),
    )
    save_window_set(ws, path)
    return path


KILLED_RUN = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import torch
    from afdetect.training.loop import train
    from afdetect.training.options import TrainConfig

    torch.set_num_threads(1)
    data, out, marker = map(Path, sys.argv[1:4])

    def progress(stage: str, done: int, total: int) -> None:
        if stage == "train" and (out / "last.pt").exists():  # epoch 2 has begun: stop midway
            marker.touch()
            time.sleep(600)

    train(TrainConfig(data=data, out_dir=out, epochs=3, batch_size=8, patience=10, seed=3, device="cpu",
                      model_overrides={"channels": (4, 8), "lstm_hidden": 8, "lstm_layers": 1}), progress)
    """
)


def test_training_killed_mid_epoch_resumes_to_identical_weights(tmp_path: Path) -> None:
    from afdetect.training.loop import train
    from afdetect.training.options import TrainConfig

    data = _tiny_windows_file(tmp_path / "windows.npz")
    killed, marker = tmp_path / "killed", tmp_path / "mid_epoch_2"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(data), str(killed), str(marker)], env=SUBPROCESS_ENV)
    deadline = time.monotonic() + 120
    try:
        while not marker.exists():
            assert proc.poll() is None, "training ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert torch.load(killed / "last.pt", weights_only=True)["epoch"] == 1

    def config(out: Path, resume: bool = False) -> TrainConfig:
        return TrainConfig(
            data=data,
            out_dir=out,
            epochs=3,
            batch_size=8,
            patience=10,
            seed=3,
            device="cpu",
            resume=resume,
            model_overrides=dict(TINY_MODEL),
        )

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic as the subprocess
    try:
        train(config(tmp_path / "straight"))
        train(config(killed, resume=True))
    finally:
        torch.set_num_threads(threads)

    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    resumed = torch.load(killed / "last.pt", weights_only=True)
    assert straight["epoch"] == resumed["epoch"] == 3
    assert straight["model"].keys() == resumed["model"].keys()
    for key, tensor in straight["model"].items():
        assert torch.equal(tensor, resumed["model"][key]), key
    for a, b in zip(straight["history"], resumed["history"], strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == {k: v for k, v in b.items() if k != "seconds"}
    best_a = torch.load(tmp_path / "straight" / "best.pt", weights_only=True)["state_dict"]
    best_b = torch.load(killed / "best.pt", weights_only=True)["state_dict"]
    assert all(torch.equal(best_a[k], best_b[k]) for k in best_a)
