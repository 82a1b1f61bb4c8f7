"""Helpers shared by the benchmark scripts (inputs, resampling, temporary folders, report formatting)."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import signal as sps

from afdetect.config import LABEL_NAMES, UNREADABLE
from afdetect.detect.predictor import Predictor
from afdetect.errors import AfdetectError
from afdetect.io.atomic import atomic_open, write_json
from afdetect.io.find import find_records
from afdetect.training.cache import WindowSet, load_window_set, save_window_set, windows_from_records

REPO = Path(__file__).resolve().parent.parent
"""The repository root (the benchmarks' default paths are under it)."""
DEFAULT_DATA = Path(os.environ.get("AFDETECT_DATA", REPO.parent / "shared" / "data"))
"""The shared data folder (``$AFDETECT_DATA``, else ``../shared/data`` beside the repository)."""


ORIGINAL_WORK: dict[str, dict[str, float]] = {
    "l": {"accuracy": 0.9300, "f1": 0.6488},
    "se": {"accuracy": 0.9360, "f1": 0.7605},
}
"""The original work's ECGCNN results (MIT-BIH AFDB, its validation split)."""


LEVELS: tuple[str, ...] = ("window", "record")
"""The levels every report gives its metrics at."""


def metric_cell(metrics: dict[str, Any], name: str, digits: int = 1) -> str:
    """A report cell of one metric: AUROC as a fraction (3 decimals), the others in percent; – where undefined."""
    value = metrics.get(name)
    if name == "auroc":
        return "–" if value is None else f"{value:.3f}"
    return pct(value, digits)


def shown_path(path: Path) -> str:
    """A path relative to the repository when inside it (stable across checkouts), else as given."""
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def load_or_build_windows(path: Path, data_dir: Path) -> WindowSet:
    """Load the CinC 2017 windows file, building it from ``data_dir/cinc2017`` when missing."""
    if not path.is_file():
        source = data_dir / "cinc2017"
        print(f"{path} missing: building it from {source} (as 'afdetect preprocess')", file=sys.stderr)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_window_set(windows_from_records(find_records([source])), path)
    return load_window_set(path)


def crossval_results_parser(description: str) -> argparse.ArgumentParser:
    """Arguments of a script that reads a ``crossval.py`` report: its folder and ``--windows``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("results", type=Path, help="Folder of a crossval.py report (crossval_windows.npz).")
    parser.add_argument("--windows", type=Path, help="Windows file (default: the one crossval.json names).")
    return parser


def load_crossval_windows(results: Path, windows: Path | None = None) -> tuple[dict[str, np.ndarray], WindowSet]:
    """A ``crossval.py`` report folder's per-window predictions (``crossval_windows.npz``) and the
    windows file they index (``windows``, default: the one its ``crossval.json`` names)."""
    predictions = dict(np.load(results / "crossval_windows.npz"))
    path = windows or Path(json.loads((results / "crossval.json").read_text())["run"]["windows_file"])
    return predictions, load_window_set(path if path.is_absolute() else Path(__file__).resolve().parents[1] / path)


def resample_signal(x: np.ndarray, fs_in: float, fs_out: float) -> np.ndarray:
    """Polyphase resampling of a 1-D signal (mV) from ``fs_in`` to ``fs_out`` Hz; NaN samples stay NaN.

    Example
    -------
    >>> resample_signal(np.zeros(300), 300, 500).shape
    (500,)
    """
    up, down = _ratio(fs_out, fs_in)
    bad = np.isnan(x)
    y = sps.resample_poly(np.where(bad, 0.0, x), up, down)
    if bad.any():
        source = np.minimum(np.round(np.arange(len(y)) * down / up).astype(int), len(x) - 1)
        y[bad[source]] = np.nan
    return y


def _ratio(fs_out: float, fs_in: float) -> tuple[int, int]:
    up, down = round(fs_out), round(fs_in)
    g = math.gcd(up, down)
    return up // g, down // g


@contextlib.contextmanager
def scratch_dir(path: Path | None) -> Iterator[Path]:
    """The given folder (kept afterwards), or a temporary one (removed afterwards)."""
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="afdetect_bench_") as tmp:
        yield Path(tmp)


def windows_called_af(predictor: Predictor, paths: Sequence[Path]) -> dict[str, Any]:
    """How ``predictor`` calls the windows of some records (synthetic checks: all one rhythm).

    Returns ``{"windows": readable windows, "unreadable": windows it could not read,
    "fraction_af": share of the readable ones called AF}`` (``fraction_af`` NaN when none is readable).
    """
    labels = pd.concat([predictor.predict_record(path) for path in paths])["label"]
    readable = labels[labels != UNREADABLE]
    return {
        "windows": len(readable),
        "unreadable": int((labels == UNREADABLE).sum()),
        "fraction_af": float((readable == LABEL_NAMES[1]).mean()) if len(readable) else math.nan,
    }


def write_report(json_path: Path, results: Any, markdown_path: Path, markdown: str) -> None:
    """Write a benchmark's results as strict JSON (:func:`~afdetect.io.atomic.write_json`) and its
    Markdown report, each atomically (a failed run leaves the previous files whole)."""
    write_json(json_path, results)
    with atomic_open(markdown_path) as handle:
        handle.write(markdown)


def pct(value: float | None, digits: int = 1) -> str:
    """A fraction as a percentage, ``–`` when undefined."""
    return "–" if value is None else f"{100 * value:.{digits}f} %"


def run_main(main: Callable[[], int]) -> None:
    """Run a benchmark's ``main`` as a script: afdetect errors become one line and their exit code."""
    with warnings.catch_warnings():  # wfdb's import raises pandas deprecation notices
        warnings.simplefilter("ignore", FutureWarning)
        try:
            sys.exit(main())
        except AfdetectError as exc:
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(exc.exit_code)
