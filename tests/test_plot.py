"""``afdetect plot``: ECG strips and whole-record overviews as valid PNGs; span validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.detect.predictor import Predictor
from afdetect.errors import EXIT_OK, EXIT_USAGE, ParameterError, RecordError, UsageError
from afdetect.io.header import read_header
from afdetect.io.synthetic_files import write_example_record
from afdetect.rhythm.intervals import window_spans
from afdetect.viz import record as review
from afdetect.viz.plots import _ecg_paper, pyplot

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run(*args: object) -> tuple[int, str, str]:
    """Invoke the CLI in-process; return (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def assert_png(path: Path, min_width: int = 400) -> None:
    """``path`` is a complete PNG that decodes to an RGB(A) image, and no temporary file is left beside it."""
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4) and image.shape[1] >= min_width
    assert not list(path.parent.glob(f".{path.name}.*.part"))


@pytest.fixture(scope="module")
def flat_gap_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1-lead 250 Hz 90 s AF record whose last 60 s are a flat line: windows at 30, 45 and 60 s are unreadable."""
    signal = synth.ecg_signal(250, 90, "af", seed=5)
    signal[30 * 250 :] = 0.0
    return synth.write_record(tmp_path_factory.mktemp("flat"), "flat1", 250, signal, ["ECG"])


def test_strip_png_via_cli(tiny_weights: Path, fmt212_record: Path, tmp_path: Path) -> None:
    out = tmp_path / "strip.png"
    code, stdout, stderr = run(
        "plot", fmt212_record, "--start", 20, "--duration", 40, "-o", out, "--weights", tiny_weights, "--lead", "V1"
    )
    assert code == EXIT_OK, stderr
    assert_png(out)
    assert stdout == ""  # the message goes to stderr
    assert "strip of" in stderr and "(V1) 20-60 s: 4 windows" in stderr  # windows at 0, 15, 30, 45 overlap 20-60 s


def test_strip_windows_are_those_of_the_whole_record(tiny_weights: Path, flat_gap_record: Path, tmp_path: Path) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    whole = predictor.predict_record(flat_gap_record)
    result = review.plot_record(predictor, flat_gap_record, tmp_path / "s.png", start_s=50, duration_s=20)
    assert (result.kind, result.start_s, result.end_s) == ("strip", 50.0, 70.0)
    expected = whole[(whole["start_s"] < 70) & (whole["end_s"] > 50)].reset_index(drop=True)
    pd.testing.assert_frame_equal(result.table, expected)
    assert (result.table["label"] == "unreadable").all() and (result.table["problem"] == "flat").all()
    assert_png(tmp_path / "s.png")


def test_record_up_to_a_minute_without_span_is_drawn_whole(
    tiny_weights: Path, sinus_record: Path, tmp_path: Path
) -> None:
    result = review.plot_record(Predictor.from_weights(tiny_weights), sinus_record, tmp_path / "w.png")
    assert (result.kind, result.start_s, result.end_s) == ("strip", 0.0, 30.0)
    assert_png(tmp_path / "w.png")


def test_short_record_without_span_shows_a_minute_from_before_its_first_af(
    tiny_weights: Path, flat_gap_record: Path, tmp_path: Path
) -> None:
    # A 90 s record is no longer drawn whole (a solid block of beats): 60 s from a hop before the first
    # AF window; the synthetic example (AF from 180 s) with the shipped weights: AF windows from 180 s.
    record = write_example_record(tmp_path / "ex")
    result = review.plot_record(Predictor.from_weights(), record, tmp_path / "ex.png")
    assert (result.kind, result.start_s, result.end_s) == ("strip", 165.0, 225.0)
    assert result.table.loc[result.table["label"] == "AF", "start_s"].min() == 180.0
    assert_png(tmp_path / "ex.png")
    # Without AF (or with AF at once) the minute starts at 0 s.
    result = review.plot_record(Predictor.from_weights(tiny_weights), flat_gap_record, tmp_path / "w.png")
    assert (result.kind, result.start_s, result.end_s) == ("strip", 0.0, 60.0)


def test_plot_never_replaces_a_png_silently(
    tiny_weights: Path, sinus_record: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    predictor = Predictor.from_weights(tiny_weights)
    names = [review.plot_record(predictor, sinus_record).path.name for _ in range(3)]
    assert names == ["S0_strip.png", "S0_strip-2.png", "S0_strip-3.png"]
    before = (tmp_path / "S0_strip.png").read_bytes()
    with pytest.raises(ParameterError, match=r"exists; pass .* to replace it"):
        review.plot_record(predictor, sinus_record, "S0_strip.png", start_s=5)
    assert (tmp_path / "S0_strip.png").read_bytes() == before
    review.plot_record(predictor, sinus_record, "S0_strip.png", start_s=5, force=True)
    assert (tmp_path / "S0_strip.png").read_bytes() != before


def test_strip_has_an_ecg_paper_grid() -> None:
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 10], [-1, 1])
    _ecg_paper(ax, 0.0, 10.0)
    segments = sum(len(c.get_segments()) for c in ax.collections)
    # 10 s x 2 mV: heavy lines every 0.2 s / 0.5 mV (51 + 5), light ones every 0.04 s / 0.1 mV (251 + 21).
    assert segments >= 51 + 5 + 251 + 21
    plt.close(fig)


def test_overview_png_is_automatic_for_long_records(
    tiny_weights: Path, flat_gap_record: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(review, "OVERVIEW_MIN_S", 60.0)  # the 90 s record counts as long
    monkeypatch.chdir(tmp_path)
    code, _, stderr = run("plot", flat_gap_record, "--weights", tiny_weights)
    assert code == EXIT_OK, stderr
    assert_png(tmp_path / "flat1_overview.png", min_width=1000)
    assert "overview of" in stderr and "5 windows" in stderr and "3 unreadable" in stderr
    code, _, stderr = run("plot", flat_gap_record, "--weights", tiny_weights, "--strip", "-o", "forced.png")
    assert code == EXIT_OK, stderr
    assert "strip of" in stderr and (tmp_path / "forced.png").is_file()


def test_explicit_overview_matches_the_whole_record_prediction(
    tiny_weights: Path, fmt212_record: Path, tmp_path: Path
) -> None:
    predictor = Predictor.from_weights(tiny_weights)
    result = review.plot_record(predictor, fmt212_record, tmp_path / "o.png", overview=True)
    assert result.kind == "overview" and result.end_s == pytest.approx(140.0)
    pd.testing.assert_frame_equal(result.table, predictor.predict_record(fmt212_record))
    assert_png(tmp_path / "o.png")


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--start", 150], "--start 150 s is beyond the end of the record (140.000 s long)"),
        (["--start", 140], "--start 140 s is beyond the end of the record"),
        (["--start", -1], "--start must be 0 s or more"),
        (["--duration", 0], "--duration must be more than 0 s"),
        (["--duration", 3600], "--duration 3600 s is longer than the 600 s a strip shows"),
        (["--start", 10, "--overview"], "--overview draws the whole record"),
    ],
)
def test_bad_spans_are_usage_errors(
    tiny_weights: Path, fmt212_record: Path, tmp_path: Path, extra: list[object], fragment: str
) -> None:
    out = tmp_path / "bad.png"
    code, _, stderr = run("plot", fmt212_record, "-o", out, "--weights", tiny_weights, *extra)
    assert code == EXIT_USAGE, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and fragment in errors[0], stderr
    assert not out.exists()


def test_span_is_cut_at_the_record_end(fmt212_record: Path) -> None:
    info = read_header(fmt212_record)
    assert review.strip_span(info, 130, 30) == (130.0, 140.0)
    assert review.strip_span(info, 100, None) == (100.0, 130.0)  # STRIP_DEFAULT_S after --start
    assert review.strip_span(info, None, 12.5) == (0.0, 12.5)
    with pytest.raises(UsageError, match="beyond the end"):
        review.strip_span(info, 1e6, 1)


def test_unwritable_output_and_missing_record(tiny_weights: Path, fmt212_record: Path, tmp_path: Path) -> None:
    code, _, stderr = run("plot", fmt212_record, "-o", tmp_path / "no" / "x.png", "--weights", tiny_weights)
    assert code == EXIT_USAGE and "does not exist" in stderr
    with pytest.raises(RecordError, match="header file not found"):
        review.plot_record(Predictor.from_weights(tiny_weights), tmp_path / "nothing", tmp_path / "x.png")


def test_window_spans_merge_overlapping_windows() -> None:
    start, end = np.array([0.0, 15, 30, 45, 90]), np.array([30.0, 45, 60, 75, 120])
    assert window_spans(start, end, np.array([1, 1, 0, 1, 1], bool)) == [(0.0, 75.0), (90.0, 120.0)]  # 45 touches
    assert window_spans(start, end, np.array([1, 0, 0, 0, 1], bool)) == [(0.0, 30.0), (90.0, 120.0)]
    assert window_spans(start, end, np.zeros(5, bool)) == []


def test_reference_rhythm_from_atr_is_drawn_beneath(
    tiny_weights: Path, sinus_record: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = write_example_record(tmp_path / "ex")  # .atr: N, AFIB from 180 s to 420 s, N
    drawn: dict[str, object] = {}
    monkeypatch.setattr(review, "plot_strip", lambda *args, **kwargs: drawn.update(kwargs))
    predictor = Predictor.from_weights(tiny_weights)
    review.plot_record(predictor, record, tmp_path / "s.png", start_s=170, duration_s=20)
    assert [(i.start_s, i.end_s, i.rhythm) for i in drawn["reference"]] == [
        (0.0, 180.0, "(N"),
        (180.0, 420.0, "(AFIB"),
        (420.0, 600.0, "(N"),
    ]
    review.plot_record(predictor, sinus_record, tmp_path / "n.png")  # no .atr: no reference band
    assert drawn["reference"] is None
    monkeypatch.undo()
    for overview in (False, True):  # both figures draw with the band
        result = review.plot_record(
            predictor, record, tmp_path / f"{overview}.png", overview=overview, **({} if overview else {"start_s": 170})
        )
        assert_png(result.path)


def test_clock_time_along_the_top_when_the_header_has_a_base_time(
    tiny_weights: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = write_example_record(tmp_path / "ex")
    drawn: dict[str, object] = {}
    monkeypatch.setattr(review, "plot_strip", lambda *args, **kwargs: drawn.update(kwargs))
    predictor = Predictor.from_weights(tiny_weights)
    review.plot_record(predictor, record, tmp_path / "a.png", start_s=10)
    assert drawn["clock"] is None  # no base time in the header
    header = record.with_suffix(".hea")
    lines = header.read_text().splitlines(keepends=True)
    lines[0] = lines[0].rstrip("\n") + " 23:59:50\n"
    header.write_text("".join(lines))
    review.plot_record(predictor, record, tmp_path / "b.png", start_s=10)
    assert drawn["clock"](15.0) == "00:00:05"
    monkeypatch.undo()
    assert_png(review.plot_record(predictor, record, tmp_path / "c.png", start_s=10).path)
