"""Shared batches change nothing: ``afdetect predict`` on folders against one record at a time.

Runs ``afdetect predict FOLDER... -o CSV`` (the shipped default method, ``--jobs`` as given:
windows of consecutive records scored in shared batches, groups of records in worker
processes) and, in this process, :meth:`afdetect.detect.predictor.Predictor.iter_record` on
each record alone, then prints whether the two tables have the same rows and labels and the
largest difference of ``p_af`` (the issue allows 1e-4: batch composition could move float32
sums).

Usage
-----
::

    python benchmarks/batch_equivalence.py ../shared/data/cinc2017 ../shared/data/cpsc2021
    python benchmarks/batch_equivalence.py ../shared/data/cpsc2021 --method cnn --jobs 1
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from common import scratch_dir

from afdetect.detect.predictor import Predictor
from afdetect.io.find import find_records

KEYS = ["record", "start_s", "end_s", "label", "problem"]


def batched_table(folders: Sequence[str], method: str | None, jobs: int, out: Path) -> pd.DataFrame:
    """The per-window table of ``afdetect predict`` over the folders (shared batches)."""
    command = [sys.executable, "-m", "afdetect", "predict", *folders, "-q", "-o", str(out), "--jobs", str(jobs)]
    subprocess.run(command + (["--method", method] if method else []), check=True)
    return pd.read_csv(out, keep_default_na=False)


def single_table(folders: Sequence[str], method: str | None) -> pd.DataFrame:
    """The same table, each record predicted alone by ``Predictor.iter_record``."""
    predictor = Predictor.for_method(method)
    tables = [
        table.assign(record=str(record))
        for record in find_records(list(folders))
        for table in predictor.iter_record(record)
    ]
    return pd.concat(tables, ignore_index=True).astype({"problem": str})


def compare(batched: pd.DataFrame, single: pd.DataFrame) -> dict[str, object]:
    """Row count, whether rows and labels agree, and the largest ``|Δp_af|``."""
    same_shape = len(batched) == len(single)
    same_rows = same_shape and bool((batched[KEYS].astype(str).values == single[KEYS].astype(str).values).all())
    a = pd.to_numeric(batched["p_af"], errors="coerce").to_numpy()
    b = pd.to_numeric(single["p_af"], errors="coerce").to_numpy()
    both = ~np.isnan(a) & ~np.isnan(b) if same_shape else np.zeros(0, dtype=bool)
    return {
        "rows": (len(batched), len(single)),
        "same_rows_and_labels": same_rows,
        "same_unreadable": same_shape and bool((np.isnan(a) == np.isnan(b)).all()),
        "max_abs_dp_af": float(np.abs(a[both] - b[both]).max()) if both.any() else float("nan"),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folders", nargs="+", help="record folders (or records)")
    parser.add_argument("--method", choices=["cnn", "trees", "rr"], help="default: the shipped default")
    parser.add_argument("--jobs", type=int, default=2, help="predict --jobs of the batched run")
    parser.add_argument("--workdir", type=Path, help="keep the batched CSV here")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    with scratch_dir(args.workdir) as work:
        batched = batched_table(args.folders, args.method, args.jobs, work / "batched.csv")
    result = compare(batched, single_table(args.folders, args.method))
    print(
        f"{result['rows'][0]} rows batched, {result['rows'][1]} one record at a time; "
        f"same rows and labels: {result['same_rows_and_labels']}; same unreadable windows: "
        f"{result['same_unreadable']}; largest |Δp_af| {result['max_abs_dp_af']:.2g} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    ok = result["same_rows_and_labels"] and result["same_unreadable"] and result["max_abs_dp_af"] <= 1e-4
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
