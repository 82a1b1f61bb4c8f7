"""The malformed-input corpus, continued: whole runs (issue #13).

A bad record never costs the good ones (any exception inside one record fails that record
alone, in predict, eval, preprocess and plot); outputs never replace the run's inputs; write
errors, broken pipes, empty input lists and runs where no record succeeds end cleanly;
implausible records are refused with the reason; error output is bounded and JSON is valid.
Each case asserts the exact message, the exit code and what is left on disk.
"""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from corpus import synthetic_ecg, write_good_annotation, write_record, write_tiny_weights
from test_malformed import SUBPROCESS_ENV, run_cli

INTERNAL = "internal error: ValueError: up and down must be positive integers (run with --debug for the traceback)"
"""The problem reported for a record whose analysis raised an exception afdetect did not foresee."""


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_weights(tmp_path_factory.mktemp("weights") / "tiny_se.pt")


@pytest.fixture
def two_records(tmp_path: Path) -> tuple[Path, Path]:
    """A folder with two labelled 40 s records, ``good`` and ``crash``; return their headers."""
    good = write_record(tmp_path / "recs", "good", synthetic_ecg(40, seed=1))
    crash = write_record(tmp_path / "recs", "crash", synthetic_ecg(40, seed=2))
    for header in (good, crash):
        write_good_annotation(header)
    return good, crash


@pytest.fixture
def crash_inside_record(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the analysis of record ``crash`` raise a ValueError (as a 300 kHz record once did)."""
    import afdetect.detect.predictor
    import afdetect.detect.stream
    import afdetect.training.cache
    import afdetect.viz.record

    original = afdetect.detect.predictor.record_windows
    original_chunks = afdetect.detect.stream.record_chunks

    def record_windows(info, *args, **kwargs):
        if info.name == "crash":
            raise ValueError("up and down must be positive integers")
        return original(info, *args, **kwargs)

    def record_chunks(info, *args, **kwargs):
        if info.name == "crash":
            raise ValueError("up and down must be positive integers")
        return original_chunks(info, *args, **kwargs)

    for module in (afdetect.detect.predictor, afdetect.training.cache, afdetect.viz.record):
        monkeypatch.setattr(module, "record_windows", record_windows)
    monkeypatch.setattr(afdetect.detect.stream, "record_chunks", record_chunks)


# ---------------------------------------------------------------------------------------------
# 1. Any exception inside one record fails that record alone


@pytest.mark.usefixtures("crash_inside_record")
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_predict_internal_error_fails_one_record(two_records: tuple[Path, Path], weights: Path, jobs: str) -> None:
    good, crash = two_records
    out = run_cli("predict", good, crash, "--weights", weights, "-j", jobs)
    assert out.code == 1
    assert out.error_lines == [f"error: {crash.with_suffix('')}: {INTERNAL}"]
    assert "1 of 2 records failed" in out.stderr.splitlines()
    assert set(out.table()["record"]) == {str(good.with_suffix(""))}


@pytest.mark.usefixtures("crash_inside_record")
def test_eval_preprocess_plot_internal_error(two_records: tuple[Path, Path], weights: Path, tmp_path: Path) -> None:
    good, crash = two_records
    skipped = f"skipped: {crash.with_suffix('')}: {INTERNAL}"
    out = run_cli("eval", good.parent, "--weights", weights, "--out-dir", tmp_path / "eval")
    assert (out.code, out.error_lines) == (1, [skipped])
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["record"]["n"] == 1
    out = run_cli("preprocess", good.parent, "-o", tmp_path / "w.npz")
    assert (out.code, out.error_lines) == (1, [skipped])
    with np.load(tmp_path / "w.npz") as data:
        assert data["records"].tolist() == ["recs/good"]
    png = tmp_path / "crash.png"
    out = run_cli("plot", crash, "--weights", weights, "-o", png)
    assert (out.code, out.error_lines) == (1, [f"error: {crash.with_suffix('')}: {INTERNAL}"])
    assert not png.exists()
    assert run_cli("plot", good, "--weights", weights, "-o", png).code == 0


@pytest.mark.usefixtures("crash_inside_record")
def test_debug_shows_the_internal_error_traceback(two_records: tuple[Path, Path], weights: Path) -> None:
    from typer.testing import CliRunner

    from afdetect.cli import app

    result = CliRunner().invoke(app, ["--debug", "predict", str(two_records[1]), "--weights", str(weights)])
    assert isinstance(result.exception, Exception)
    assert isinstance(result.exception.__cause__, ValueError)


# ---------------------------------------------------------------------------------------------
# 2. Outputs never replace inputs


def _replace_message(output: Path, clash: Path) -> str:
    return f"error: {output}: output would replace {clash}, an input of this run; choose another output path"


@pytest.mark.parametrize(
    ("flag", "suffix"), [("-o", ".dat"), ("--episodes", ".atr"), ("--summary", ".hea"), ("-o", "symlink")]
)
def test_predict_refuses_outputs_that_are_inputs(
    two_records: tuple[Path, Path], weights: Path, flag: str, suffix: str
) -> None:
    good = two_records[0]
    clash = good.with_suffix(".dat" if suffix == "symlink" else suffix)
    target = clash
    if suffix == "symlink":  # another name of the same file
        target = good.parent.parent / "link.csv"
        target.symlink_to(clash)
    before = {p: p.read_bytes() for p in good.parent.iterdir()}
    out = run_cli("predict", good, "--weights", weights, flag, target)
    assert (out.code, out.error_lines) == (2, [_replace_message(target, clash)])
    assert out.stdout == ""
    assert {p: p.read_bytes() for p in good.parent.iterdir()} == before


def test_annotations_refused_where_they_would_replace_reference(two_records: tuple[Path, Path], weights: Path) -> None:
    good, crash = two_records
    atr = good.with_suffix(".atr")
    before = atr.read_bytes()
    out = run_cli("predict", good, crash, "--weights", weights, "--annotate", "atr", "--annotate-dir", good.parent)
    assert (out.code, out.error_lines) == (2, [_replace_message(atr, atr)])
    assert atr.read_bytes() == before


def test_plot_preprocess_eval_refuse_outputs_that_are_inputs(
    two_records: tuple[Path, Path], weights: Path, tmp_path: Path
) -> None:
    good = two_records[0]
    dat = good.with_suffix(".dat")
    before = dat.read_bytes()
    out = run_cli("plot", good, "--weights", weights, "-o", dat)
    assert (out.code, out.error_lines) == (2, [_replace_message(dat, dat)])
    out = run_cli("preprocess", good.parent, "-o", dat)
    assert (out.code, out.error_lines) == (2, [_replace_message(dat, dat)])
    assert dat.read_bytes() == before
    # A record whose signal file is called roc.png, evaluated into its own folder.
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "r.hea").write_text(good.read_text().replace("good.dat", "roc.png").replace("good ", "r ", 1))
    (folder / "roc.png").write_bytes(before)
    write_good_annotation(folder / "r.hea")
    out = run_cli("eval", folder, "--weights", weights, "--out-dir", folder)
    png = folder / "roc.png"
    assert (out.code, out.error_lines) == (2, [_replace_message(png, png)])
    assert png.read_bytes() == before and not (folder / "metrics.json").exists()


# ---------------------------------------------------------------------------------------------
# 7. Write errors: one line, exit 2, no partial file; a broken pipe ends quietly


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("flag", ["-o", "--summary", "--episodes"])
def test_write_error_on_full_device(two_records: tuple[Path, Path], weights: Path, flag: str, tmp_path: Path) -> None:
    args = ["predict", two_records[0], "--weights", weights, flag, "/dev/full"]
    out = run_cli(*args, *(["-o", tmp_path / "out.csv"] if flag != "-o" else []))
    assert (out.code, out.error_lines) == (2, ["error: /dev/full: cannot write the output: No space left on device"])


def _limit_file_size() -> None:  # in the child: files may not grow past 200 bytes (EFBIG, as on a full disk)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))


def test_write_error_on_regular_file_leaves_nothing(two_records: tuple[Path, Path], weights: Path) -> None:
    folder = two_records[0].parent.parent
    target = folder / "out.csv"
    command = ["predict", str(two_records[0].parent), "--weights", str(weights), "-o", str(target)]
    proc = subprocess.run(
        [sys.executable, "-m", "afdetect", *command],
        capture_output=True,
        text=True,
        env=SUBPROCESS_ENV,
        timeout=120,
        preexec_fn=_limit_file_size,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [f"error: {target}: cannot write the output: File too large"]
    assert sorted(p.name for p in folder.iterdir()) == ["recs"]  # no out.csv, no temporary file


def test_broken_pipe_ends_quietly(two_records: tuple[Path, Path], weights: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "afdetect", "predict", str(two_records[0]), "--weights", str(weights)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=SUBPROCESS_ENV,
    )
    proc.stdout.close()  # the reader goes away before the first row, as `| head -0` would
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141  # 128 + SIGPIPE, as a shell reports a tool ended by SIGPIPE
    assert stderr == ""


# ---------------------------------------------------------------------------------------------
# 8. No work is no success: an empty input list is a usage error; no output when no record succeeded


def _invoke(args: list[object], stdin: str) -> tuple[int, str, str]:
    from typer.testing import CliRunner

    from afdetect.cli import app

    result = CliRunner().invoke(app, [str(a) for a in args], input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("command", ["predict", "preprocess", "eval"])
def test_empty_stdin_is_a_usage_error(command: str, weights: Path, tmp_path: Path) -> None:
    args: list[object] = [command, "-", "-o" if command != "eval" else "--out-dir", tmp_path / "out"]
    if command != "preprocess":
        args += ["--weights", weights]
    code, stdout, stderr = _invoke(args, stdin="\n")
    assert code == 2
    assert [line for line in stderr.splitlines() if line.startswith("error:")] == [
        "error: standard input (-) lists no records"
    ]
    assert stdout == "" and list(tmp_path.iterdir()) == []


def test_empty_records_file_fails_as_an_input(tmp_path: Path, weights: Path) -> None:
    (tmp_path / "RECORDS").write_text("\n")
    out = run_cli("predict", tmp_path / "RECORDS", "--weights", weights)
    assert (out.code, out.error_lines) == (1, [f"error: {tmp_path / 'RECORDS'}: RECORDS file lists no records"])


def test_no_output_file_when_no_record_succeeded(two_records: tuple[Path, Path], weights: Path, tmp_path: Path) -> None:
    bad = two_records[0].parent / "missing.hea"
    files = [tmp_path / name for name in ("out.csv", "episodes.csv", "summary.json")]
    flags = ["-o", files[0], "--episodes", files[1], "--summary", files[2]]
    out = run_cli("predict", bad, "--weights", weights, *flags)
    assert out.code == 1
    assert out.error_lines == [f"error: {bad}: no such record: expected a .hea header, a directory or RECORDS"]
    assert not any(p.exists() for p in files)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    out = run_cli("predict", bad, two_records[0], "--weights", weights, *flags)  # one succeeds: all written
    assert out.code == 1 and all(p.exists() for p in files)


# ---------------------------------------------------------------------------------------------
# 12. Bounded error output; strict JSON; every record left out of a metric named, with the reason


def test_error_lines_are_capped(tmp_path: Path, weights: Path) -> None:
    (tmp_path / "RECORDS").write_text("".join(f"ghost{i}\n" for i in range(30)))
    out = run_cli("predict", tmp_path / "RECORDS", "--weights", weights)
    assert out.code == 1
    assert out.error_lines == [f"error: {tmp_path / f'ghost{i}.hea'}: header file not found" for i in range(20)]
    lines = [line for line in out.stderr.splitlines() if not line.startswith("predict: ")]  # not progress lines
    assert lines[20:22] == ["... and 10 more errors", "30 of 30 records failed"]


def _strict_json(path: Path) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{path} holds {constant}, which is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_eval_json_is_strict_and_names_records_left_out(
    two_records: tuple[Path, Path], weights: Path, tmp_path: Path
) -> None:
    folder = two_records[0].parent
    write_good_annotation(write_record(folder, "flat", np.zeros(10_000)))  # read, but every window unreadable
    out = run_cli("eval", folder, "--weights", weights, "--out-dir", tmp_path / "eval")
    assert out.code == 0
    assert "left out of the metrics: recs/flat: all 2 windows unreadable" in out.stderr.splitlines()
    metrics = _strict_json(tmp_path / "eval" / "metrics.json")
    assert metrics["window"]["auroc"] is None  # one class only: undefined, written as null
    assert metrics["record"]["n"] == 2
    assert metrics["left_out"] == [{"record": "recs/flat", "reason": "all 2 windows unreadable"}]


def test_summary_json_is_strict(two_records: tuple[Path, Path], weights: Path, tmp_path: Path) -> None:
    flat = write_record(two_records[0].parent, "flat", np.zeros(10_000))
    out = run_cli("predict", flat, "--weights", weights, "--summary", tmp_path / "s.json")
    assert out.code == 0
    assert _strict_json(tmp_path / "s.json")[0]["af_burden_pct"] is None


# ---------------------------------------------------------------------------------------------
# 11. Training works at any epoch count and data size the options allow


@pytest.mark.parametrize("total_steps", range(1, 41))
def test_one_cycle_schedule_of_any_length(total_steps: int) -> None:
    import torch

    from afdetect.training.schedule import one_cycle

    optimizer = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.01)
    scheduler = one_cycle(optimizer, 0.01, total_steps)
    for _ in range(scheduler.total_steps - 1):
        optimizer.step()
        scheduler.step()
        assert 0 < optimizer.param_groups[0]["lr"] <= 0.01


def test_two_epochs_of_five_steps_train(tmp_path: Path) -> None:
    """2 epochs x 5 steps: a 10 % warm-up of exactly one step once divided by zero."""
    import torch
    from test_malformed import TINY_MODEL, _tiny_windows_file

    from afdetect.training.loop import train
    from afdetect.training.options import TrainConfig

    data = _tiny_windows_file(tmp_path / "w.npz", n_records=20)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        config = TrainConfig(
            data=data,
            out_dir=tmp_path / "run",
            epochs=2,
            batch_size=10,
            seed=3,
            device="cpu",
            model_overrides=dict(TINY_MODEL),
        )
        best = train(config)
    finally:
        torch.set_num_threads(threads)
    assert (tmp_path / "run" / "best.pt").is_file() and best["epoch"] in (1, 2)
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=True)["epoch"] == 2


# ---------------------------------------------------------------------------------------------
# 10. `afdetect example` into a folder that cannot be made: one usage line; any other command's
# unforeseen exception: one 'internal error' line


def test_example_into_impossible_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file, not a folder\n")
    for folder, problem in (("/proc/x", "No such file or directory"), (tmp_path / "file", "File exists")):
        if folder == "/proc/x" and not Path("/proc/self").exists():
            continue
        out = run_cli("example", folder)
        assert (out.code, out.error_lines) == (2, [f"error: {folder}: cannot write the example record: {problem}"])


def test_unforeseen_error_outside_records_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import afdetect.training.loop

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("up and down must be positive integers")

    monkeypatch.setattr(afdetect.training.loop, "train", broken)
    out = run_cli("train", "--data", tmp_path / "w.npz", "--out-dir", tmp_path / "run")
    assert (out.code, out.error_lines) == (1, [f"error: {INTERNAL}"])


# ---------------------------------------------------------------------------------------------
# 9. -r follows symlinked folders, and a link loop ends


def test_recursive_follows_symlinked_folders_without_looping(
    two_records: tuple[Path, Path], weights: Path, tmp_path: Path
) -> None:
    top = tmp_path / "L"
    top.mkdir()
    (top / "c").symlink_to(two_records[0].parent, target_is_directory=True)
    (top / "loop").symlink_to(top, target_is_directory=True)  # L/loop -> L
    (top / "again").symlink_to(two_records[0].parent, target_is_directory=True)  # the same folder twice
    out = run_cli("predict", top, "-r", "--weights", weights)
    assert (out.code, out.error_lines) == (0, [])
    assert sorted(set(out.table()["record"])) == [str(top / "again" / "crash"), str(top / "again" / "good")]
