"""Holter-scale prediction speed and memory: ``afdetect predict`` on synthetic 10 h and 24 h records.

Writes two-lead 250 Hz format-212 records (MIT-BIH / Holter style) of synthetic ECG, then runs,
each as a whole subprocess (interpreter start, imports and weights loading included):

* ``afdetect predict REC -o /dev/null`` — wall time, windows/s, real-time factor
  (record duration / wall time) and peak resident memory (RSS);
* a bare ``wfdb.rdrecord(REC)`` of the same record — the floor any WFDB reader pays.

Targets (printed with PASS/FAIL): the 10 h record in at most 15 s end to end and at most 5×
the bare read; the 24 h record's peak RSS at most 1 GiB and at most 1.3× the 10 h figure
(memory must stay flat with record length, it does when windows stream in chunks).

A fresh interpreter that only imports ``afdetect.detect.predictor`` (torch, wfdb, pandas)
is timed too: the start-up floor every ``afdetect`` run pays before reading a sample.

Each command runs ``--repeat`` times (default 3), read and predict interleaved; the median wall
time and the largest peak RSS are reported, with the spread of the wall times.

Peak RSS comes from ``/usr/bin/time -v`` when present, else from
``resource.getrusage(RUSAGE_CHILDREN)`` (the largest child so far).

Usage
-----
::

    python benchmarks/predict_speed.py                        # 10 h and 24 h, shipped se weights
    python benchmarks/predict_speed.py --hours 1 --weights tiny.pt --workdir /tmp/holter
    python benchmarks/predict_speed.py --hours 1 --profile    # cProfile of the predict path, in-process

The synthetic ECG: a P-QRS-T template (sums of Gaussians) at beat times with slowly varying
RR (±4 % respiratory modulation, ±3 % jitter), baseline wander and white noise; one 20 min
stretch of AF (irregular RR, no P waves, 6 Hz f-waves) in every third hour. It is generated
ten minutes at a time straight into 16-bit samples (86 MB for 24 h), then written once with
``wfdb.wrsamp(..., fmt=['212', '212'])``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import re
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import wfdb
from common import scratch_dir
from scipy import signal as sps

FS_HZ = 250
"""Sampling rate of the synthetic records (Hz)."""
ADC_GAIN = 200.0
"""adu per mV (format 212 holds ±2047 adu = ±10 mV)."""
CHUNK_S = 600
"""Signal generated and written per chunk (s)."""
TIME_BIN = Path("/usr/bin/time")

TARGET_10H_WALL_S = 15.0
TARGET_10H_READ_RATIO = 5.0
TARGET_24H_RSS_BYTES = 1 << 30
TARGET_RSS_GROWTH = 1.3

# Beat template: (amplitude mV, centre s from the R peak, width s).
QRST_WAVES = ((-0.12, -0.025, 0.008), (1.0, 0.0, 0.01), (-0.25, 0.027, 0.009), (0.3, 0.28, 0.05))
P_WAVE = ((0.15, -0.16, 0.025),)


@dataclass(frozen=True)
class RunResult:
    """One timed subprocess: wall time (s) and peak resident memory (bytes)."""

    wall_s: float
    peak_rss: int
    returncode: int
    stderr: str


def beat_times(duration_s: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (s) and whether each beat is in AF, for a whole record.

    Sinus: mean RR 0.8 s, ±4 % respiratory modulation, ±3 % jitter. AF: from minute 20 to 40 of
    every third hour, RR uniform over 55-145 % of 0.7 s.
    """
    n_max = int(duration_s / 0.35) + 2
    t, times, in_af = 0.0, np.empty(n_max), np.zeros(n_max, dtype=bool)
    jitter, uniform = rng.normal(0, 0.03, n_max), rng.uniform(0.55, 1.45, n_max)
    n = 0
    while t < duration_s:
        af = _in_af(t)
        times[n], in_af[n] = t, af
        t += 0.7 * uniform[n] if af else 0.8 * (1 + 0.04 * np.sin(2 * np.pi * 0.25 * t) + jitter[n])
        n += 1
    return times[:n], in_af[:n]


def _in_af(t: float | np.ndarray) -> bool | np.ndarray:
    hour, minute = np.floor_divide(t, 3600), np.mod(t, 3600) / 60
    return (np.mod(hour, 3) == 2) & (minute >= 20) & (minute < 40)


def _kernel(waves: tuple[tuple[float, float, float], ...], fs: float) -> tuple[np.ndarray, int]:
    pre = int(round(0.35 * fs))
    t = (np.arange(int(round(0.9 * fs))) - pre) / fs
    return sum(a * np.exp(-0.5 * ((t - mu) / sd) ** 2) for a, mu, sd in waves), pre


def synthetic_chunks(hours: float, fs: float = FS_HZ, seed: int = 0, chunk_s: float = CHUNK_S) -> Iterator[np.ndarray]:
    """Yield ``(n, 2)`` int16 digital chunks (format-212 range) of a synthetic two-lead ECG."""
    rng = np.random.default_rng(seed)
    n_total = int(round(hours * 3600 * fs))
    beats, in_af = beat_times(n_total / fs, rng)
    beat_samples = np.round(beats * fs).astype(np.int64)
    qrst, pre = _kernel(QRST_WAVES, fs)
    p_wave, _ = _kernel(P_WAVE, fs)
    margin = len(qrst)
    chunk = int(chunk_s * fs)
    for a in range(0, n_total, chunk):
        b = min(a + chunk, n_total)
        lo, hi = a - margin, b + margin
        sel = (beat_samples >= lo) & (beat_samples < hi)
        trains = np.zeros((2, hi - lo))
        np.add.at(trains[0], beat_samples[sel] - lo, 1.0)
        np.add.at(trains[1], beat_samples[sel & ~in_af] - lo, 1.0)
        ecg = sps.oaconvolve(trains[0], qrst)[pre + margin : pre + margin + b - a]
        ecg += sps.oaconvolve(trains[1], p_wave)[pre + margin : pre + margin + b - a]
        t = np.arange(a, b) / fs
        ecg += np.where(_in_af(t), 0.05 * np.sin(2 * np.pi * 6.0 * t), 0.0)
        ecg += 0.1 * np.sin(2 * np.pi * 0.3 * t) + rng.normal(0, 0.02, b - a)
        leads = np.stack([ecg, -0.6 * ecg + rng.normal(0, 0.01, b - a)], axis=1)
        yield np.clip(np.round(leads * ADC_GAIN), -2047, 2047).astype(np.int16)


def write_holter_record(directory: Path, name: str, hours: float, seed: int = 0) -> Path:
    """Write a two-lead 250 Hz format-212 record of ``hours`` of synthetic ECG; return its path.

    The signal is generated in ``CHUNK_S`` chunks into one int16 array (2 bytes a sample, 86 MB
    for 24 h) and written with ``wfdb.wrsamp`` (``fmt=['212', '212']``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    n_total = int(round(hours * 3600 * FS_HZ))
    digital = np.empty((n_total, 2), dtype=np.int16)
    at = 0
    for part in synthetic_chunks(hours, seed=seed):
        digital[at : at + len(part)] = part
        at += len(part)
    wfdb.wrsamp(
        name,
        fs=FS_HZ,
        units=["mV", "mV"],
        sig_name=["MLII", "V1"],
        d_signal=digital,
        fmt=["212", "212"],
        adc_gain=[ADC_GAIN, ADC_GAIN],
        baseline=[0, 0],
        comments=[f"synthetic {hours:g} h Holter-style record (benchmarks/predict_speed.py, seed {seed})"],
        write_dir=str(directory),
    )
    return directory / name


def timed_run(command: list[str]) -> RunResult:
    """Run ``command``; return its wall time and peak RSS (``/usr/bin/time -v`` when available)."""
    use_time = TIME_BIN.is_file()
    full = [str(TIME_BIN), "-v", *command] if use_time else command
    start = time.perf_counter()
    proc = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    wall = time.perf_counter() - start
    if use_time:
        match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        peak = int(match.group(1)) * 1024 if match else 0
    else:
        # ru_maxrss of RUSAGE_CHILDREN is the largest child so far (kB on Linux).
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return RunResult(wall, peak, proc.returncode, proc.stderr)


def median_run(runs: list[RunResult]) -> RunResult:
    """Summary of repeated runs of one command: median wall time, largest peak RSS.

    The first failing run (non-zero exit), if any, is returned instead, so a failure is never
    averaged away.

    Example
    -------
    >>> median_run([RunResult(3.0, 10, 0, ""), RunResult(1.0, 30, 0, ""), RunResult(2.0, 20, 0, "")])
    RunResult(wall_s=2.0, peak_rss=30, returncode=0, stderr='')
    """
    failed = [run for run in runs if run.returncode != 0]
    if failed:
        return failed[0]
    return RunResult(float(np.median([r.wall_s for r in runs])), max(r.peak_rss for r in runs), 0, runs[-1].stderr)


def predict_command(record: Path, weights: Path, threads: int | None, method: str = "cnn") -> list[str]:
    """The ``afdetect predict`` command line measured."""
    command = [sys.executable, "-m", "afdetect", "predict", str(record), "-o", "/dev/null", "--weights", str(weights)]
    command += ["--method", method]
    return [*command, "--threads", str(threads)] if threads else command


def read_command(record: Path) -> list[str]:
    """A bare ``wfdb.rdrecord`` of every signal of ``record``, in a fresh interpreter."""
    return [sys.executable, "-c", "import sys, wfdb; wfdb.rdrecord(sys.argv[1])", str(record)]


def imports_command(method: str = "cnn") -> list[str]:
    """A fresh interpreter importing what ``afdetect predict --method METHOD`` imports (torch only for
    the methods that run a CNN)."""
    scorers = {
        "cnn": "afdetect.detect.cnn",
        "trees": "afdetect.detect.trees",
        "blend": "afdetect.detect.cnn, afdetect.detect.trees, afdetect.detect.blend",
    }
    return [sys.executable, "-c", f"import afdetect.detect.predictor, {scorers[method]}"]


def profile_predict(record: Path, weights: Path, threads: int | None = None, top: int = 25, method: str = "cnn") -> str:
    """cProfile the predict path in-process (imports and weights loading excluded); return the top entries."""
    from afdetect.detect.inference import set_inference_threads
    from afdetect.detect.predictor import Predictor
    from afdetect.detect.runs import predict_to_csv

    set_inference_threads(threads)
    predictor = Predictor.for_method(method, weights=weights)
    profiler = cProfile.Profile()
    profiler.enable()
    predict_to_csv(predictor, [str(record)], "/dev/null")
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


def _check(label: str, ok: bool, detail: str) -> bool:
    print(f"  [{'PASS' if ok else 'FAIL'}] {label}: {detail}")
    return ok


def _spread(runs: list[RunResult]) -> str:
    walls = sorted(r.wall_s for r in runs)
    return f"{walls[0]:.2f}–{walls[-1]:.2f}"


def _mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns 1 when a run failed (or a target failed with --strict)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, nargs="+", default=[10.0, 24.0], help="record lengths (h)")
    parser.add_argument("--method", choices=("cnn", "trees", "blend"), default="cnn", help="predict --method measured")
    parser.add_argument(
        "--weights",
        type=Path,
        default=None,
        help="weights or trees file (default: the shipped one of --method; blend: the CNN it blends)",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep records here (reused when present)")
    parser.add_argument("--threads", type=int, default=None, help="pass --threads to afdetect predict")
    parser.add_argument("--profile", action="store_true", help="also cProfile the predict path of the first record")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each command (interleaved); the median is reported"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")

    from afdetect.models.trees import default_trees
    from afdetect.models.weights import default_weights
    from afdetect.signal.windows import window_starts

    shipped = {"trees": default_trees, "blend": lambda: default_weights("resnet")}
    weights = args.weights or shipped.get(args.method, lambda: default_weights("se"))()
    if not weights.is_file():
        print(f"error: weights file {weights} not found; pass --weights FILE", file=sys.stderr)
        return 2
    rss_source = "/usr/bin/time -v" if TIME_BIN.is_file() else "getrusage"
    print(f"--method {args.method}, weights {weights}; peak RSS from {rss_source}")
    results: dict[float, tuple[RunResult, RunResult]] = {}
    imports = median_run([timed_run(imports_command(args.method)) for _ in range(args.repeat)])
    print(f"start-up floor: a fresh interpreter importing the predictor and its scorer takes {imports.wall_s:.2f} s")
    with scratch_dir(args.workdir) as workdir:
        for hours in args.hours:
            name = f"holter_{hours:g}h".replace(".", "_")
            record = workdir / name
            if not record.with_suffix(".hea").is_file():
                start = time.perf_counter()
                write_holter_record(workdir, name, hours)
                print(f"wrote {record} ({hours:g} h) in {time.perf_counter() - start:.1f} s")
            head = wfdb.rdheader(str(record))
            n_windows = len(window_starts(head.sig_len, head.fs))
            # Interleaved repeats, so both commands see the same page cache and machine load.
            reads, preds = [], []
            for _ in range(args.repeat):
                reads.append(timed_run(read_command(record)))
                preds.append(timed_run(predict_command(record, weights, args.threads, args.method)))
            read, pred = median_run(reads), median_run(preds)
            if pred.returncode != 0 or read.returncode != 0:
                print(f"error: a run on {record} failed:\n{pred.stderr[-2000:]}{read.stderr[-2000:]}", file=sys.stderr)
                return 1
            results[hours] = (pred, read)
            print(
                f"{hours:g} h ({n_windows} windows): predict {pred.wall_s:.2f} s, "
                f"{n_windows / pred.wall_s:.0f} windows/s, real-time factor {hours * 3600 / pred.wall_s:.0f}×, "
                f"peak RSS {_mib(pred.peak_rss)} | bare wfdb.rdrecord {read.wall_s:.2f} s, "
                f"peak RSS {_mib(read.peak_rss)} | ratio {pred.wall_s / read.wall_s:.1f}×"
            )
            if args.repeat > 1:
                print(f"  medians of {args.repeat} runs; predict {_spread(preds)} s, bare read {_spread(reads)} s")
        if args.profile and args.hours:
            record = workdir / f"holter_{args.hours[0]:g}h".replace(".", "_")
            print(profile_predict(record, weights, args.threads, method=args.method))

    ok = True
    print("targets:")
    if 10.0 in results:
        pred, read = results[10.0]
        ok &= _check(
            "10 h end to end", pred.wall_s <= TARGET_10H_WALL_S, f"{pred.wall_s:.2f} s ≤ {TARGET_10H_WALL_S} s"
        )
        ratio = pred.wall_s / read.wall_s
        ok &= _check("10 h vs bare read", ratio <= TARGET_10H_READ_RATIO, f"{ratio:.1f}× ≤ {TARGET_10H_READ_RATIO}×")
        print(
            f"  (of which start-up {imports.wall_s:.2f} s = {imports.wall_s / read.wall_s:.1f}× the bare read; "
            f"the rest, {pred.wall_s - imports.wall_s:.2f} s, is {(pred.wall_s - imports.wall_s) / read.wall_s:.1f}×)"
        )
    if 24.0 in results:
        rss = results[24.0][0].peak_rss
        ok &= _check("24 h peak RSS", rss <= TARGET_24H_RSS_BYTES, f"{_mib(rss)} ≤ {_mib(TARGET_24H_RSS_BYTES)}")
        if 10.0 in results:
            growth = rss / results[10.0][0].peak_rss
            ok &= _check("24 h / 10 h peak RSS", growth <= TARGET_RSS_GROWTH, f"{growth:.2f}× ≤ {TARGET_RSS_GROWTH}×")
    if not {10.0, 24.0} & set(results):
        print("  (targets apply to --hours 10 24)")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
