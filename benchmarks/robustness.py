"""Robustness of the rhythm trees to other recording devices: cross-validated AF accuracy under perturbations.

How much record-level AF accuracy does the default method (``--method trees``) lose on recordings
from other devices? For each of :data:`PERTURBATIONS`, every CinC 2017 record's raw signal (mV at
300 Hz, :func:`afdetect.io.signals.read_signal`) is perturbed, then goes through prediction's
pipeline: windows on the record's grid, conditioning (quality check, resampling to 128 Hz,
0.5-40 Hz band-pass, z-normalisation: :func:`~afdetect.signal.windows.condition_chunks`), rhythm
features and the trees with their stored calibration (:class:`~afdetect.detect.trees.TreesScorer`).

The trees are ``benchmarks/crossval.py``'s folds (``RUNS/trees/fold_K/best.json``): a record is
scored only by the fold that tested it (:func:`crossval.check_test_folds` proves the test folds
disjoint and complete), at that fold's stored threshold; nothing is fitted or chosen on perturbed
data. Metrics are pooled over the folds as ``crossval.py`` pools them (:func:`crossval.pooled_metrics`;
a record is AF when at least half of its windows are). ``clean`` is the reference of ΔF1 and always
runs; its windows are the windows file's to float16 rounding (the report gives the largest difference).
Noise comes from a generator seeded by ``--seed`` and the perturbation's name, drawn over the
records in the windows file's order, so every run draws the same.

Usage::

    python benchmarks/robustness.py --runs runs/crossval --windows runs/cinc2017.npz \\
        --data ../shared/data --out benchmarks/results/robustness
    python benchmarks/robustness.py --only inverted emg_10db    # and clean, the reference

On 2 CPU cores: reading the 7,504 records takes about 25 s, each perturbation 25-50 s.
"""

from __future__ import annotations

import argparse
import inspect
import json
import shlex
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from common import load_or_build_windows, pct, resample_signal, run_main
from crossval import DEFAULT_DATA, DONE_MARKER, REPO, check_test_folds, fold_part, pooled_metrics

from afdetect import __version__
from afdetect.config import RECORD_AF_FRACTION, Preprocessing, window_samples
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.evaluate.metrics import record_scores
from afdetect.evaluate.records import evaluate, select_split
from afdetect.io.atomic import atomic_open, json_safe
from afdetect.io.record import Record
from afdetect.io.reference import RecordLabels
from afdetect.io.signals import read_signal
from afdetect.signal.filters import filtfilt_bandpass
from afdetect.signal.windows import RawChunk, condition_chunks, cut_windows, window_starts
from afdetect.training.cache import WindowSet
from afdetect.training.trees import TREES_FILE_NAME

Perturbation = Callable[[np.ndarray, float, np.random.Generator], tuple[np.ndarray, float]]
"""Maps a raw record (1-D float32 mV), its sampling rate (Hz) and a generator to the perturbed
record and its sampling rate."""

# --- perturbations -------------------------------------------------------------------------


def clean(x: np.ndarray, fs: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """No perturbation: the record as CinC 2017's handheld device recorded it (the reference)."""
    return x, fs


def device_rate(x: np.ndarray, fs: float, rng: np.random.Generator, *, fs_out: float) -> tuple[np.ndarray, float]:
    """A device sampling at ``fs_out`` Hz: polyphase resampling (``scipy.signal.resample_poly``)."""
    return resample_signal(x, fs, fs_out).astype(x.dtype), float(fs_out)


def inverted(x: np.ndarray, fs: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Reversed polarity (electrodes swapped, a hand-held device held the other way round): ×-1."""
    return -x, fs


def baseline_wander(
    x: np.ndarray,
    fs: float,
    rng: np.random.Generator,
    *,
    amplitude_mv: float,
    band_hz: tuple[float, float] = (0.1, 0.5),
) -> tuple[np.ndarray, float]:
    """Electrode motion and respiration: two sines of ``amplitude_mv`` mV (peak) each, at random
    frequencies in ``band_hz`` Hz and random phases, added."""
    t = np.arange(len(x)) / fs
    freqs = rng.uniform(*band_hz, size=(2, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(2, 1))
    wander = amplitude_mv * np.sin(2 * np.pi * freqs * t + phases).sum(axis=0)
    return (x + wander).astype(x.dtype), fs


def muscle_noise(
    x: np.ndarray, fs: float, rng: np.random.Generator, *, snr_db: float, band_hz: tuple[float, float] = (20.0, 150.0)
) -> tuple[np.ndarray, float]:
    """Muscle (EMG) noise: Gaussian noise band-passed to ``band_hz`` Hz (upper edge at most 0.45 ``fs``),
    its power ``snr_db`` dB below the record's (its variance, mV²)."""
    noise = filtfilt_bandpass(rng.standard_normal(len(x)), (band_hz[0], min(band_hz[1], 0.45 * fs)), fs)
    power = np.nanvar(x) / 10 ** (snr_db / 10)
    return (x + noise * np.sqrt(power / noise.var())).astype(x.dtype), fs


def mains(
    x: np.ndarray, fs: float, rng: np.random.Generator, *, freq_hz: float, amplitude_mv: float = 0.1
) -> tuple[np.ndarray, float]:
    """Mains interference: a ``freq_hz`` Hz sine of ``amplitude_mv`` mV (peak) at a random phase, added."""
    t = np.arange(len(x)) / fs
    return (x + amplitude_mv * np.sin(2 * np.pi * freq_hz * t + rng.uniform(0, 2 * np.pi))).astype(x.dtype), fs


def quantised(x: np.ndarray, fs: float, rng: np.random.Generator, *, step_mv: float) -> tuple[np.ndarray, float]:
    """A coarse ADC: every sample rounded to a multiple of ``step_mv`` mV."""
    return (np.round(x / step_mv) * step_mv).astype(x.dtype), fs


def scaled(x: np.ndarray, fs: float, rng: np.random.Generator, *, gain: float) -> tuple[np.ndarray, float]:
    """Another amplifier gain: the signal times ``gain`` (z-normalisation should undo it)."""
    return (x * gain).astype(x.dtype), fs


PERTURBATIONS: dict[str, Perturbation] = {
    "clean": clean,
    "rate_128hz": partial(device_rate, fs_out=128),
    "rate_250hz": partial(device_rate, fs_out=250),
    "rate_500hz": partial(device_rate, fs_out=500),
    "rate_1000hz": partial(device_rate, fs_out=1000),
    "inverted": inverted,
    "wander_2x0.5mv": partial(baseline_wander, amplitude_mv=0.5),
    "emg_20db": partial(muscle_noise, snr_db=20.0),
    "emg_10db": partial(muscle_noise, snr_db=10.0),
    "mains_50hz": partial(mains, freq_hz=50.0),
    "mains_60hz": partial(mains, freq_hz=60.0),
    "adc_20uv": partial(quantised, step_mv=0.02),
    "gain_0.3": partial(scaled, gain=0.3),
    "gain_3": partial(scaled, gain=3.0),
}
"""The benchmark's perturbations, in report order; ``clean`` first (the reference)."""


def describe(perturbation: Perturbation) -> str:
    """The perturbation's meaning: its function's docstring summary and its parameters' values.

    Example
    -------
    >>> describe(PERTURBATIONS["mains_50hz"])  # doctest: +ELLIPSIS
    'Mains interference: a ``freq_hz`` Hz sine ... (freq_hz = 50.0, amplitude_mv = 0.1).'
    """
    func = getattr(perturbation, "func", perturbation)
    summary = " ".join(((func.__doc__ or "").split("\n\n")[0]).split())
    parameters = inspect.signature(func).parameters.values()
    values = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}
    values.update(getattr(perturbation, "keywords", {}))
    return (
        summary.rstrip(".") + (" (" + ", ".join(f"{k} = {v}" for k, v in values.items()) + ")" if values else "") + "."
    )


def noise_generator(seed: int, name: str) -> np.random.Generator:
    """The generator of one perturbation: seeded by ``seed`` and the perturbation's name (not its order)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])


# --- records and windows -------------------------------------------------------------------


@dataclass(frozen=True)
class RawRecord:
    """One record as read from disk: sampling rate (Hz), the analysed lead (1-D float32 mV, invalid
    samples NaN) and its reference labels."""

    fs: float
    signal: np.ndarray
    labels: RecordLabels


def read_records(ws: WindowSet, data_dir: Path) -> list[RawRecord]:
    """The raw records of the windows file, in its order, read from ``data_dir/<source>/<name>``
    (the lead ``afdetect preprocess`` chose: :func:`~afdetect.io.signals.select_lead`'s default)."""
    references: dict[Path, dict[str, str]] = {}
    raw = []
    for name in ws.records:
        record = Record.open(data_dir / str(name))
        raw.append(RawRecord(record.info.fs, read_signal(record.info, record.lead_index), record.labels(references)))
    return raw


def raw_chunk(signal: np.ndarray, fs: float, preprocessing: Preprocessing) -> RawChunk:
    """A whole record's windows as read, on its own grid (as :func:`afdetect.signal.windows.record_chunks`)."""
    starts = window_starts(len(signal), fs, preprocessing.window_s, preprocessing.hop_s)
    return RawChunk(fs, starts, *cut_windows(signal, starts, window_samples(fs, preprocessing.window_s)))


def perturbed_windows(
    ws: WindowSet, raw: Sequence[RawRecord], perturb: Perturbation, rng: np.random.Generator, batch: int = 256
) -> WindowSet:
    """The windows file rebuilt from the perturbed raw records by prediction's pipeline.

    The records are ``ws``'s, in its order (so the folds' test records select the same rows);
    windows the quality check refuses are left out, as ``afdetect preprocess`` leaves them out.
    ``batch`` records are conditioned together (the same values as one by one).
    """
    parts = []
    for first in range(0, len(raw), batch):
        records = raw[first : first + batch]
        chunks = [raw_chunk(*perturb(r.signal, r.fs, rng), ws.preprocessing) for r in records]
        for row, (record, windows) in enumerate(
            zip(records, condition_chunks(chunks, ws.preprocessing), strict=True), first
        ):
            keep = np.array([p is None for p in windows.problems], dtype=bool)
            labels = record.labels.label_windows(windows.start_s, windows.end_s)
            parts.append((windows.x[keep], labels[keep], windows.start_s[keep], windows.end_s[keep], row))
    x, labels, start_s, end_s, rows = zip(*parts, strict=True)
    index = np.repeat(rows, [len(part) for part in labels])
    return WindowSet(
        np.concatenate(x),
        np.concatenate(labels),
        index,
        np.concatenate(start_s),
        np.concatenate(end_s),
        ws.records,
        ws.record_labels,
        ws.provenance,
    )


def windows_file_difference(rebuilt: WindowSet, ws: WindowSet, rows: int = 1024) -> float | None:
    """Largest absolute difference between rebuilt windows and the windows file's (float16) ones;
    ``None`` when they are not the same windows (records, starts)."""
    if not (np.array_equal(rebuilt.record_index, ws.record_index) and np.array_equal(rebuilt.start_s, ws.start_s)):
        return None
    return max(
        float(np.abs(rebuilt.windows[i : i + rows] - np.asarray(ws.windows[i : i + rows], np.float32)).max())
        for i in range(0, len(ws), rows)
    )


# --- the folds -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One cross-validation fold: its trees file, their predictor, the records it tested (a mask)."""

    path: Path
    predictor: Predictor
    test: np.ndarray


def load_folds(runs: Path, ws: WindowSet) -> list[Fold]:
    """The trees folds of a ``crossval.py`` runs folder, proven to test every record exactly once.

    Raises
    ------
    UsageError
        When ``RUNS/trees`` holds no finished fold, lacks one, or its test folds are not the
        windows file's folds.
    """
    folder = runs / "trees"
    marker = folder / "fold_0" / DONE_MARKER
    if not marker.is_file():
        raise UsageError(
            folder, "holds no finished trees fold (fold_0/done.json): run 'benchmarks/crossval.py --variants trees'"
        )
    recipe = json.loads(marker.read_text())["recipe"]
    folds = []
    for k in range(recipe["folds"]):
        path = folder / f"fold_{k}" / TREES_FILE_NAME
        if not path.is_file():
            raise UsageError(path, f"missing: fold {k} of {recipe['folds']} is not trained")
        predictor = Predictor.for_method("trees", weights=path)
        folds.append(Fold(path, predictor, select_split(ws, "test", predictor.meta)))
    recipe_args = argparse.Namespace(folds=len(folds), val_fraction=recipe["val_fraction"], seed=recipe["seed"])
    check_test_folds(ws, {"trees": [f.test for f in folds]}, {"trees": [f.predictor.meta for f in folds]}, recipe_args)
    return folds


def score_folds(rebuilt: WindowSet, folds: Sequence[Fold]) -> tuple[dict[str, dict[str, float]], np.ndarray]:
    """Each fold's trees on its own test records of ``rebuilt`` at its own threshold: the pooled
    metrics, and each record's call (1 AF, 0 not; -1 not scored: no readable labelled window)."""
    parts = [fold_part(evaluate(f.predictor, rebuilt, f.test), rebuilt, f.test) for f in folds]
    calls = np.full(len(rebuilt.records), -1, dtype=np.int8)
    for part in parts:
        fraction, _ = record_scores(part.local_index, part.p_af, part.threshold, len(part.record_truth))
        calls[np.unique(rebuilt.record_index[part.window])] = fraction >= RECORD_AF_FRACTION
    return pooled_metrics(parts), calls


# --- report --------------------------------------------------------------------------------


def table_lines(perturbations: dict[str, Any]) -> list[str]:
    """The report's table: one row per perturbation, record then window level."""
    lines = [
        "| perturbation | records | record Se | record Sp | record PPV | record F1(AF) | record AUROC "
        "| ΔF1 (points) | calls changed | windows | window F1(AF) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in perturbations.items():
        record, window, delta = row["record"], row["window"], row["delta_f1_points"]
        cells = [
            f"`{name}`",
            str(record["n"]),
            *(pct(record[m]) for m in ("sensitivity", "specificity", "ppv", "f1")),
            "–" if record["auroc"] is None else f"{record['auroc']:.3f}",
            "–" if delta is None else f"{delta:+.1f}",
            str(row["calls_changed"]),
            str(window["n"]),
            pct(window["f1"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def markdown_report(results: dict[str, Any]) -> str:
    """``robustness.md``: how the run was made, the table, what each perturbation means."""
    run = results["run"]
    thresholds = ", ".join(f"fold {k}: {t:.3f}" for k, t in enumerate(run["thresholds"]))
    difference = run["clean_windows_max_difference"]
    lines = [
        "# Robustness of the rhythm trees to other recording devices",
        "",
        f"Generated by `{run['command']}` on {run['created']} (afdetect {run['afdetect_version']}, "
        f"{run['seconds']:.0f} s).",
        "",
        f"Every CinC 2017 record (`{run['data']}`) is perturbed in its raw form (mV at its own rate), then goes "
        "through prediction's pipeline (windows, resampling to 128 Hz, 0.5-40 Hz band-pass, z-normalisation, rhythm "
        f"features) and is scored by the rhythm trees of the {len(run['folds'])} cross-validation folds in "
        f"`{run['runs']}/trees/` (`benchmarks/crossval.py`), each fold's trees only on the records that fold "
        "tested, each at the threshold stored in its fold file "
        f"({thresholds}): nothing is fitted or chosen on perturbed data. Folds checked against the windows file "
        f"`{run['windows_file']}`. Pooled over the folds; a record is called AF when at least half of its "
        "windows are (windows the quality check refuses are left out, as in prediction). Noise seed "
        f"{run['seed']}. ΔF1: record F1(AF) against `clean`; calls changed: records called otherwise than under "
        "`clean` (or no longer scored), in either direction.",
        "",
        *table_lines(results["perturbations"]),
        "",
        "`clean`'s windows are the windows file's "
        + (
            "to within float16 rounding (largest difference "
            f"{difference:.4f}; the trees here score the float32 windows)."
            if difference is not None
            else "**not**: they differ in number or position."
        ),
        "",
        "## Perturbations",
        "",
    ]
    lines += [f"- `{name}`: {row['description']}" for name, row in results["perturbations"].items()]
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (every path is an option, so tests never touch the repository)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runs", type=Path, default=REPO / "runs" / "crossval", help="Runs folder of crossval.py (its trees/fold_K)."
    )
    parser.add_argument("--windows", type=Path, default=REPO / "runs" / "cinc2017.npz", help="The folds' windows file.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="Folder holding cinc2017/ (the raw records).")
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "results" / "robustness", help="Folder for the report."
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(PERTURBATIONS),
        default=list(PERTURBATIONS),
        metavar="NAME",
        help=f"Perturbations to run, of {', '.join(PERTURBATIONS)} (default all; clean always runs).",
    )
    parser.add_argument("--seed", type=int, default=0, help="Seed of the perturbations' noise.")
    args = parser.parse_args(argv)
    args.only = ["clean", *(name for name in dict.fromkeys(args.only) if name != "clean")]
    return args


def run_perturbations(
    args: argparse.Namespace, ws: WindowSet, folds: Sequence[Fold], raw: Sequence[RawRecord]
) -> tuple[dict[str, Any], float | None]:
    """Every chosen perturbation's pooled metrics, ΔF1 and calls changed against ``clean``, and the
    largest difference between ``clean``'s windows and the windows file's."""
    rows: dict[str, Any] = {}
    difference, reference = None, None
    for name in args.only:
        started = time.time()
        rebuilt = perturbed_windows(ws, raw, PERTURBATIONS[name], noise_generator(args.seed, name))
        metrics, calls = score_folds(rebuilt, folds)
        if name == "clean":
            difference, reference = windows_file_difference(rebuilt, ws), calls
        rows[name] = {"description": describe(PERTURBATIONS[name]), **metrics}
        rows[name]["delta_f1_points"] = 100 * (metrics["record"]["f1"] - rows["clean"]["record"]["f1"])
        rows[name]["calls_changed"] = int((calls != reference).sum())
        rows[name]["seconds"] = round(time.time() - started, 1)
        print(f"  {name}: record F1(AF) {pct(metrics['record']['f1'])}, {rows[name]['seconds']:.0f} s", file=sys.stderr)
    return rows, difference


def main(argv: Sequence[str] | None = None) -> int:
    """Perturb every record, score it with the fold that tested it, write ``robustness.json`` and ``.md``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    started = time.time()
    ws = load_or_build_windows(args.windows, args.data)
    folds = load_folds(args.runs, ws)
    print(f"reading {len(ws.records)} records from {args.data}", file=sys.stderr)
    raw = read_records(ws, args.data)
    rows, difference = run_perturbations(args, ws, folds, raw)
    results = json_safe(
        {
            "run": {
                "command": shlex.join(["python", "benchmarks/robustness.py", *argv]),
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "afdetect_version": __version__,
                "runs": str(args.runs),
                "windows_file": str(args.windows),
                "data": str(args.data),
                "seed": args.seed,
                "folds": [str(f.path) for f in folds],
                "thresholds": [f.predictor.threshold for f in folds],
                "threshold_source": "each fold file's stored threshold (RUNS/trees/fold_K/best.json)",
                "clean_windows_max_difference": difference,
                "seconds": round(time.time() - started, 1),
            },
            "perturbations": rows,
        }
    )
    args.out.mkdir(parents=True, exist_ok=True)
    with atomic_open(args.out / "robustness.json") as handle:
        json.dump(results, handle, indent=2, allow_nan=False)
    with atomic_open(args.out / "robustness.md") as handle:
        handle.write(markdown_report(results))
    print("\n".join(table_lines(results["perturbations"])))
    print(f"\nwrote robustness.md and .json in {args.out} ({results['run']['seconds']:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run_main(main)
