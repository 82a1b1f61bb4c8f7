"""R-peak detector accuracy against reference beat annotations (``bxb``-style Se and +P).

The detector the rhythm features and the RR baseline stand on (:mod:`afdetect.signal.beats`)
runs on every conditioned 30 s window of each record, exactly as ``afdetect predict`` sees it;
detections from overlapping windows are merged (two within ``MERGE_S`` are one beat) and mapped
back to seconds. Each reference beat annotation (``N``, ``V``, ``A`` ... in the ``.atr`` file) is
matched one-to-one to the nearest unmatched detection within ``MATCH_S`` (150 ms, as ``bxb``
counts a match). Sensitivity is matched / reference beats, positive predictivity matched /
detections, per record and in total.

Usage::

    python benchmarks/rpeak_accuracy.py                       # the CPSC 2021 records in ../shared/data
    python benchmarks/rpeak_accuracy.py --records DIR_OR_RECORD ...
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import wfdb
from common import DEFAULT_DATA, run_main

from afdetect.config import MODEL_FS
from afdetect.io.find import find_records
from afdetect.io.record import Record
from afdetect.signal.beats import window_peaks
from afdetect.signal.windows import record_windows

BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
"""WFDB annotation codes that mark a beat (the rest mark rhythm changes, noise, comments)."""
MATCH_S = 0.15
MERGE_S = 0.1


def detected_beats(record: Path) -> np.ndarray:
    """R-peak times (s) in every window of ``record``'s default lead (as ``predict`` takes it), overlaps merged."""
    opened = Record.open(record)
    found = []
    for batch in record_windows(opened.info, opened.lead_index):
        for (_, peaks), start in zip(window_peaks(batch.x), batch.start_s, strict=True):
            found.append(start + peaks / MODEL_FS)
    times = np.sort(np.concatenate(found)) if found else np.zeros(0)
    keep = np.concatenate([[True], np.diff(times) > MERGE_S]) if len(times) else np.zeros(0, dtype=bool)
    return times[keep]


def reference_beats(record: Path) -> np.ndarray:
    """Beat annotation times (s) of ``record.atr``."""
    annotation = wfdb.rdann(str(record), "atr")
    samples = [s for s, symbol in zip(annotation.sample, annotation.symbol, strict=True) if symbol in BEAT_SYMBOLS]
    return np.asarray(samples, dtype=float) / annotation.fs


def match_beats(reference: np.ndarray, detected: np.ndarray, tolerance: float = MATCH_S) -> int:
    """Reference beats matched one-to-one to a detection within ``tolerance`` s (greedy, in time order).

    Example
    -------
    >>> match_beats(np.array([1.0, 2.0, 3.0]), np.array([1.05, 1.1, 2.5, 3.14]))
    2
    """
    matched, j = 0, 0
    for t in reference:
        while j < len(detected) and detected[j] < t - tolerance:
            j += 1
        if j < len(detected) and abs(detected[j] - t) <= tolerance:
            matched += 1
            j += 1
    return matched


def main(argv: Sequence[str] | None = None) -> int:
    """Print per-record and total Se / +P; exit 1 when no record has beat annotations."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", nargs="+", default=[str(DEFAULT_DATA / "cpsc2021")], help="Records or folders.")
    args = parser.parse_args(argv)
    totals = np.zeros(3, dtype=int)  # reference, detected, matched
    print(f"{'record':16} {'beats':>7} {'detected':>9} {'Se':>8} {'+P':>8}")
    for record in find_records(args.records):
        if not record.with_suffix(".atr").is_file():
            continue
        reference, detected = reference_beats(record), detected_beats(record)
        counts = np.array([len(reference), len(detected), match_beats(reference, detected)])
        totals += counts
        print(_row(record.name, counts))
    if totals[0] == 0:
        print("error: no record with beat annotations (.atr) found", file=sys.stderr)
        return 1
    print(_row("total", totals))
    return 0


def _row(name: str, counts: np.ndarray) -> str:
    reference, detected, matched = counts.tolist()
    return f"{name:16} {reference:7d} {detected:9d} {_share(matched, reference)} {_share(matched, detected)}"


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:7.2f}%" if whole else "      –"


if __name__ == "__main__":
    run_main(main)
