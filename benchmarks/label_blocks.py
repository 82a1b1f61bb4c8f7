"""Where the false alarms come from, block by block of CinC 2017 record numbers.

CinC 2017 names its records ``A00001`` … ``A08528``. This script deals the records of a
``crossval.py`` report into blocks of consecutive numbers (250 by default) and gives, per block:

* the records, how many are labelled ``A`` and ``O``, and how many last over 30 s;
* a fixed, model-free AF screen on each record's first window (RR irregularity over the
  ectopy-cleaned intervals ``clean_nrmssd`` > 0.12 and P-wave consistency ``p_corr`` < 0.5,
  :data:`AF_SCREEN`): the share of ``A`` records and of ``O`` records it flags;
* per method of the report: records called AF that are not labelled ``A`` (false alarms).

Blocks whose ``O`` records pass the AF screen at least ``--flag-share`` of the time (0.10;
most blocks lie at 0.00-0.06) are flagged, and record F1(AF) is given inside and outside the
flagged blocks. That split is an error analysis only: the blocks are found after the fact, so
F1 outside them is not a figure to judge a method by.

Usage::

    python benchmarks/label_blocks.py benchmarks/results/crossval_trees   # writes label_blocks.md/.json there
"""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from common import crossval_results_parser, load_crossval_windows, pct, run_main, write_report  # noqa: E402

from afdetect.config import RECORD_AF_FRACTION  # noqa: E402
from afdetect.errors import UsageError  # noqa: E402
from afdetect.evaluate.metrics import binary_metrics, record_scores  # noqa: E402
from afdetect.signal.features import FEATURE_NAMES  # noqa: E402
from afdetect.training.cache import WindowSet  # noqa: E402
from afdetect.training.trees import window_feature_matrix  # noqa: E402

AF_SCREEN: dict[str, tuple[str, float]] = {"clean_nrmssd": (">", 0.12), "p_corr": ("<", 0.5)}
"""The model-free AF screen: feature → (direction, bound); a window passes when all hold."""


def record_numbers(records: Sequence[str]) -> np.ndarray:
    """The trailing number of each record name (``cinc2017/A05591`` → 5591)."""
    numbers = []
    for name in records:
        match = re.search(r"(\d+)$", str(name))
        if match is None:
            raise UsageError(str(name), "record name does not end in a number (a CinC 2017 name expected)")
        numbers.append(int(match.group(1)))
    return np.asarray(numbers)


def af_screen(ws: WindowSet) -> np.ndarray:
    """Per record: whether its first window passes :data:`AF_SCREEN` (NaN features fail)."""
    features = window_feature_matrix(ws)
    first = np.searchsorted(ws.record_index, np.arange(len(ws.records)))
    passed = np.ones(len(ws.records), bool)
    for name, (direction, bound) in AF_SCREEN.items():
        column = features[first, FEATURE_NAMES.index(name)]
        with np.errstate(invalid="ignore"):
            passed &= column > bound if direction == ">" else column < bound
    return passed


def record_calls(predictions: dict[str, np.ndarray], ws: WindowSet) -> dict[str, np.ndarray]:
    """Per method of the report: each record called AF (NaN where the record was not tested)."""
    index = predictions["window"]
    calls = {}
    for key in predictions:
        if key.startswith("p_af_"):
            method = key.removeprefix("p_af_")
            fraction, _ = record_scores(
                ws.record_index[index], predictions[key], predictions[f"threshold_{method}"], len(ws.records)
            )
            calls[method] = np.where(np.isfinite(fraction), fraction >= RECORD_AF_FRACTION, np.nan)
    return calls


def block_rows(
    ws: WindowSet, numbers: np.ndarray, calls: dict[str, np.ndarray], block: int, flag_share: float
) -> list[dict[str, Any]]:
    """One row per block of ``block`` consecutive record ``numbers`` (:func:`record_numbers`; see
    the module docstring)."""
    labels = np.asarray(ws.record_labels)
    screened, long = af_screen(ws), np.bincount(ws.record_index, minlength=len(ws.records)) > 1
    rows = []
    for start in range(numbers.min() // block * block, numbers.max() + 1, block):
        inside = (numbers >= start) & (numbers < start + block)
        af, other = inside & (labels == "A"), inside & (labels == "O")
        o_share = float(screened[other].mean()) if other.any() else 0.0
        rows.append({
            "first": start, "last": start + block - 1, "records": int(inside.sum()),
            "A": int(af.sum()), "O": int(other.sum()), "over_30s": float(long[inside].mean()),
            "screen_A": float(screened[af].mean()) if af.any() else None, "screen_O": o_share,
            "flagged": o_share >= flag_share,
            "false_alarms": {m: int(np.nansum(c[inside & (labels != "A")])) for m, c in calls.items()},
        })  # fmt: skip
    return rows


def split_f1(
    ws: WindowSet, numbers: np.ndarray, calls: dict[str, np.ndarray], rows: list[dict[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Record F1(AF) and PPV per method over all records, inside the flagged blocks and outside them."""
    truth = ws.record_targets()
    flagged = np.zeros(len(numbers), bool)
    for row in rows:
        if row["flagged"]:
            flagged |= (numbers >= row["first"]) & (numbers <= row["last"])
    out: dict[str, dict[str, Any]] = {}
    for part, mask in (("all", np.ones(len(numbers), bool)), ("flagged", flagged), ("rest", ~flagged)):
        out[part] = {"records": int(mask.sum()), "A": int(truth[mask].sum())}
        for method, called in calls.items():
            seen = mask & np.isfinite(called)
            metrics = binary_metrics(truth[seen], called[seen], 0.5)
            out[part][method] = {"f1": metrics["f1"], "ppv": metrics["ppv"], "sensitivity": metrics["sensitivity"]}
    return out


def markdown(rows: list[dict[str, Any]], split: dict[str, dict[str, Any]], source: str) -> str:
    """``label_blocks.md``: the per-block table and the F1 split."""
    methods = list(rows[0]["false_alarms"])
    screen = " and ".join(f"`{name}` {d} {bound:g}" for name, (d, bound) in AF_SCREEN.items())
    lines = [
        "# False alarms by block of CinC 2017 record numbers",
        "",
        f"Generated by `python benchmarks/label_blocks.py` from `{source}`. AF screen (model-free, on "
        f"each record's first window): {screen}. Flagged (*): blocks whose `O` records pass it at "
        "least as often as `--flag-share`.",
        "",
        "| records | n | A | O | over 30 s | A screened AF | O screened AF | "
        + " | ".join(f"false alarms ({m})" for m in methods) + " |",
        "|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(methods),
    ]  # fmt: skip
    for row in rows:
        name = f"A{row['first']:05d}-A{row['last']:05d}" + (" *" if row["flagged"] else "")
        cells = [str(row["false_alarms"][m]) for m in methods]
        lines.append(
            f"| {name} | {row['records']} | {row['A']} | {row['O']} | {pct(row['over_30s'], 0)} | "
            f"{pct(row['screen_A'], 0)} | {pct(row['screen_O'], 0)} | " + " | ".join(cells) + " |"
        )
    lines += ["", "## Record F1(AF) inside and outside the flagged blocks (error analysis, not a score)", ""]
    lines += ["| records | n | A | " + " | ".join(f"{m}: F1 / PPV / Se" for m in methods) + " |"]
    lines += ["|---|---:|---:|" + "---|" * len(methods)]
    for part, entry in split.items():
        cells = [" / ".join(pct(entry[m][k]) for k in ("f1", "ppv", "sensitivity")) for m in methods]
        lines.append(f"| {part} | {entry['records']} | {entry['A']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = crossval_results_parser(__doc__.split("\n")[0])
    parser.add_argument("--block", type=int, default=250, help="Record numbers per block (default 250).")
    parser.add_argument(
        "--flag-share", type=float, default=0.10, help="Flag blocks whose O records pass the AF screen this often."
    )
    args = parser.parse_args(argv)
    if args.block < 1 or not 0 < args.flag_share <= 1:
        parser.error("--block must be ≥ 1 and --flag-share in (0, 1]")
    predictions, ws = load_crossval_windows(args.results, args.windows)
    calls = record_calls(predictions, ws)
    numbers = record_numbers(ws.records)
    rows = block_rows(ws, numbers, calls, args.block, args.flag_share)
    split = split_f1(ws, numbers, calls, rows)
    text = markdown(rows, split, str(args.results / "crossval_windows.npz"))
    write_report(
        args.results / "label_blocks.json", {"blocks": rows, "split": split}, args.results / "label_blocks.md", text
    )
    print(text)
    return 0


if __name__ == "__main__":
    run_main(main)
