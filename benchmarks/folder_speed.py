"""Folder-of-strips prediction speed: ``afdetect predict FOLDER`` on many short records against a bare read.

Writes ``--records`` CinC-2017-style strips (single lead, 300 Hz, format 16, 1000 adu/mV; 9 to
61 s, most 30 s; a fifth in AF) into one folder, or uses the first ``--records`` records of
``--from-folder`` (read in place, linked into a scratch folder, never copied), then runs, each
as a whole subprocess (interpreter start, imports and model loading included):

* ``afdetect predict FOLDER -o /dev/null --method M --jobs J`` for each ``--jobs`` value;
* a bare ``wfdb.rdrecord`` of every record of the folder, in one fresh interpreter.

Runs are interleaved (read, then each predict, ``--repeat`` times) so all see the same page
cache and machine load; medians are reported with the spread. Target (PASS/FAIL): predict at
most ``TARGET_READ_RATIO`` × the bare read.

Usage
-----
::

    python benchmarks/folder_speed.py                                  # 1,024 strips, se, --jobs 1 and 2
    python benchmarks/folder_speed.py --method trees --jobs 1 2
    python benchmarks/folder_speed.py --from-folder ../shared/data/cinc2017 --records 1024
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import numpy as np
import wfdb
from common import scratch_dir
from predict_speed import P_WAVE, QRST_WAVES, RunResult, _kernel, _spread, median_run, timed_run
from scipy import signal as sps

STRIP_FS = 300
"""Sampling rate of the synthetic strips (Hz, as CinC 2017)."""
STRIP_GAIN = 1000.0
"""adu per mV (as CinC 2017)."""
TARGET_READ_RATIO = 4.0
"""Most a folder of strips may take, as a multiple of the bare read of the same records."""


def strip_signal(duration_s: float, af: bool, rng: np.random.Generator, fs: float = STRIP_FS) -> np.ndarray:
    """One strip of synthetic ECG (mV): sinus with P waves, or AF (irregular RR, no P, f-waves)."""
    n = int(round(duration_s * fs))
    rr = rng.uniform(0.4, 1.0, n) if af else 0.85 * (1 + rng.normal(0, 0.03, n))
    beats = np.cumsum(rr)[: int(duration_s / 0.4) + 2]
    beats = np.round(beats[beats < duration_s] * fs).astype(np.int64)
    qrst, pre = _kernel(QRST_WAVES, fs)
    train = np.zeros(n + len(qrst))
    train[beats] = 1.0
    ecg = sps.oaconvolve(train, qrst)[pre : pre + n]
    t = np.arange(n) / fs
    if af:
        ecg += 0.05 * np.sin(2 * np.pi * 6.0 * t)
    else:
        ecg += sps.oaconvolve(train, _kernel(P_WAVE, fs)[0])[pre : pre + n]
    return ecg + 0.1 * np.sin(2 * np.pi * 0.3 * t) + rng.normal(0, 0.02, n)


def write_strips(directory: Path, count: int, seed: int = 0) -> list[Path]:
    """Write ``count`` strips ``S00000``… (9-61 s, 60 % exactly 30 s, a fifth AF); return their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(count):
        duration = 30.0 if rng.random() < 0.6 else float(rng.uniform(9, 61))
        ecg = strip_signal(duration, af=rng.random() < 0.2, rng=rng)
        digital = np.clip(np.round(ecg * STRIP_GAIN), -32767, 32767).astype(np.int16)[:, None]
        name = f"S{i:05d}"
        wfdb.wrsamp(
            name,
            fs=STRIP_FS,
            units=["mV"],
            sig_name=["ECG"],
            d_signal=digital,
            fmt=["16"],
            adc_gain=[STRIP_GAIN],
            baseline=[0],
            write_dir=str(directory),
        )
        paths.append(directory / name)
    return paths


def link_records(source: Path, directory: Path, count: int) -> list[Path]:
    """Link the first ``count`` records of ``source`` (header and signal files) into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    headers = sorted(source.glob("*.hea"))[:count]
    for header in headers:
        for file in source.glob(f"{header.stem}.*"):
            link = directory / file.name
            if not link.exists():
                link.symlink_to(file.resolve())
    return [directory / header.stem for header in headers]


def cpu_timed_run(command: list[str]) -> tuple[RunResult, float]:
    """:func:`timed_run` and the CPU time (user + system, s) of the command and its children.

    CPU time hardly changes when other work shares the cores; wall time does.
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = timed_run(command)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return run, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def read_command(folder: Path) -> list[str]:
    """A bare ``wfdb.rdrecord`` of every record of ``folder``, in one fresh interpreter."""
    code = (
        "import sys, pathlib, wfdb\n"
        "for h in sorted(pathlib.Path(sys.argv[1]).glob('*.hea')): wfdb.rdrecord(str(h.with_suffix('')))"
    )
    return [sys.executable, "-c", code, str(folder)]


def predict_command(folder: Path, method: str, jobs: int, weights: Path | None) -> list[str]:
    """The ``afdetect predict`` command line measured."""
    command = [sys.executable, "-m", "afdetect", "predict", str(folder), "-o", "/dev/null", "-q", "--method", method]
    command += ["--jobs", str(jobs)]
    return command + (["--weights", str(weights)] if weights is not None else [])


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns 1 when a run failed (or the target failed with --strict)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1024, help="strips in the folder")
    parser.add_argument("--method", choices=("cnn", "trees", "rr"), default="cnn", help="predict --method measured")
    parser.add_argument("--weights", type=Path, default=None, help="weights or trees file (default: the shipped one)")
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2], help="predict --jobs values measured")
    parser.add_argument("--from-folder", type=Path, default=None, help="use the first --records records of this folder")
    parser.add_argument("--workdir", type=Path, default=None, help="keep the strips here (reused when present)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of each command; medians reported")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target fails")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.records < 1:
        parser.error("--repeat and --records must be at least 1")
    with scratch_dir(args.workdir) as workdir:
        folder = workdir / f"strips_{args.records}"
        if args.from_folder is not None:
            records = link_records(args.from_folder, workdir / f"linked_{args.records}", args.records)
            folder = records[0].parent if records else folder
        elif len(list(folder.glob("*.hea"))) != args.records:
            records = write_strips(folder, args.records)
        else:
            records = sorted(p.with_suffix("") for p in folder.glob("*.hea"))
        headers = [wfdb.rdheader(str(r)) for r in records]
        seconds = sum(h.sig_len / h.fs for h in headers)
        mean_s = seconds / len(records)
        print(f"{len(records)} records in {folder} ({mean_s:.1f} s each on average), --method {args.method}")
        reads: list[RunResult] = []
        preds: dict[int, list[RunResult]] = {jobs: [] for jobs in args.jobs}
        cpu: dict[int | None, list[float]] = {None: [], **{jobs: [] for jobs in args.jobs}}
        for _ in range(args.repeat):
            run, cpu_s = cpu_timed_run(read_command(folder))
            reads.append(run)
            cpu[None].append(cpu_s)
            for jobs in args.jobs:
                run, cpu_s = cpu_timed_run(predict_command(folder, args.method, jobs, args.weights))
                preds[jobs].append(run)
                cpu[jobs].append(cpu_s)
        read = median_run(reads)
        read_cpu = float(np.median(cpu[None]))
        print(
            f"bare wfdb.rdrecord of every record: {read.wall_s:.2f} s (runs {_spread(reads)} s), CPU {read_cpu:.2f} s"
        )
        ok = read.returncode == 0
        for jobs, runs in preds.items():
            pred = median_run(runs)
            if pred.returncode != 0:
                print(f"error: --jobs {jobs} failed:\n{pred.stderr[-2000:]}", file=sys.stderr)
                return 1
            ratio = pred.wall_s / read.wall_s
            passed = ratio <= TARGET_READ_RATIO
            ok &= passed
            print(
                f"  [{'PASS' if passed else 'FAIL'}] predict --jobs {jobs}: {pred.wall_s:.2f} s"
                f" (runs {_spread(runs)} s),"
                f" {1e3 * pred.wall_s / len(records):.1f} ms/record, ratio {ratio:.1f}× ≤ {TARGET_READ_RATIO}×;"
                f" CPU {np.median(cpu[jobs]):.2f} s ({np.median(cpu[jobs]) / read_cpu:.1f}× the read's)"
            )
        if args.repeat > 1:
            print(f"  medians of {args.repeat} interleaved runs")
    return 1 if args.strict and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
