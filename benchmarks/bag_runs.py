"""What bags of trees runs score: single-run cross-validation reports composed into bags.

The shipped trees are a bag of ``TreesRecipe.members`` training runs (``p_af`` the mean of the
runs' calibrated ``p_af``, the threshold the mean of theirs; :mod:`afdetect.models.trees`), and
``crossval.py --seed S`` trains the runs of seeds ``S × M`` to ``S × M + M − 1``
(:func:`~afdetect.models.trees.member_seeds`). Given one-run reports (``--members 1``, or trained
before the bag) of seeds 0 to N − 1 on the same test folds, this script scores each window's
bag exactly as those runs would be bagged: the bags of consecutive seeds (what ``crossval.py
--seed S`` gives), and every M-subset of the N runs (how far the choice of runs moves a bag).

Usage::

    python benchmarks/bag_runs.py benchmarks/results/crossval_trees_run{0,1,2,3,4,5,6,7} \\
        --members 4 --out benchmarks/results/bag_runs
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from common import pct, run_main, shown_path, write_report  # noqa: E402
from seed_spread import check_same_folds, read_report, spread  # noqa: E402

from afdetect.config import AF_CLASS  # noqa: E402
from afdetect.errors import UsageError  # noqa: E402
from afdetect.evaluate.metrics import record_metrics  # noqa: E402
from afdetect.evaluate.records import challenge_score  # noqa: E402
from afdetect.training.cache import load_window_set  # noqa: E402

METHOD = "trees"
"""The method of the reports whose runs are bagged."""


def read_runs(folders: Sequence[Path]) -> tuple[list[int], list[dict[str, np.ndarray]]]:
    """The training seeds and per-window trees predictions of one-run reports, sorted by seed
    (:class:`UsageError` when a report lacks them or tests other windows than the first)."""
    reports = [read_report(folder) for folder in folders]
    check_same_folds(reports, folders)
    runs = []
    for folder in folders:
        path = folder / "crossval_windows.npz"
        if not path.is_file():
            raise UsageError(path, "no per-window predictions here (crossval.py writes crossval_windows.npz)")
        with np.load(path) as z:
            if f"p_af_{METHOD}" not in z.files:
                raise UsageError(path, f"holds no {METHOD} predictions")
            runs.append(
                {key: z[key] for key in ("window", f"p_af_{METHOD}", f"threshold_{METHOD}", f"class_p_{METHOD}")}
            )
        if not np.array_equal(runs[-1]["window"], runs[0]["window"]):
            raise UsageError(path, f"scores other windows than {folders[0] / 'crossval_windows.npz'}")
    seeds = [int(report["run"].get("seed", 0)) for report in reports]
    order = np.argsort(seeds)
    return [seeds[i] for i in order], [runs[i] for i in order]


def bag_figures(
    runs: Sequence[dict[str, np.ndarray]], record_index: np.ndarray, truth: np.ndarray, labels: np.ndarray
) -> dict[str, Any]:
    """Pooled record metrics and challenge score of the bag of ``runs``: each window's ``p_af`` the
    mean of the runs', its threshold the mean of theirs, the other classes the runs' mean."""
    p_af = np.mean([run[f"p_af_{METHOD}"] for run in runs], axis=0)
    threshold = np.mean([run[f"threshold_{METHOD}"] for run in runs], axis=0)
    class_p = np.mean([run[f"class_p_{METHOD}"] for run in runs], axis=0)
    class_p[:, AF_CLASS] = p_af
    records, index = np.unique(record_index, return_inverse=True)
    shifted = p_af - threshold + 0.5  # one decision at 0.5 for windows of every fold's threshold
    figures = record_metrics(index, truth[records], shifted, 0.5)
    challenge = challenge_score(class_p, index, shifted, 0.5, labels[records])
    return {
        "f1": figures["f1"],
        "sensitivity": figures["sensitivity"],
        "ppv": figures["ppv"],
        "challenge": None if challenge is None else challenge["mean"],
    }


def bag_runs(folders: Sequence[Path], members: int, windows: Path | None) -> dict[str, Any]:
    """Figures of the bags of consecutive seeds and the spread over every ``members``-subset."""
    seeds, runs = read_runs(folders)
    if len(runs) < members:
        raise UsageError(folders[0], f"{len(runs)} reports cannot make a bag of {members}")
    source = windows or REPO / read_report(folders[0])["run"]["windows_file"]
    ws = load_window_set(source)
    record_index = ws.record_index[runs[0]["window"]]
    truth, labels = ws.record_targets(), np.asarray(ws.record_labels)
    bags = []
    for start in range(0, len(runs) - members + 1, members):
        group = seeds[start : start + members]
        if group != list(range(group[0], group[0] + members)) or group[0] % members:
            continue  # not the runs of one crossval.py seed
        figures = bag_figures(runs[start : start + members], record_index, truth, labels)
        bags.append({"seed": group[0] // members, "runs": group, **figures})
    subsets = [
        bag_figures([runs[i] for i in chosen], record_index, truth, labels)["f1"]
        for chosen in itertools.combinations(range(len(runs)), members)
    ]
    return {"seeds": seeds, "members": members, "bags": bags, "subsets": {"n": len(subsets), **spread(subsets)}}


def markdown(results: dict[str, Any], sources: Sequence[str], bar: float) -> str:
    """``bag_runs.md``."""
    members, subsets = results["members"], results["subsets"]
    lines = [
        f"# Bags of {members} trees runs, composed from one-run cross-validation reports",
        "",
        "Generated by `python benchmarks/bag_runs.py` from " + ", ".join(f"`{s}`" for s in sources) + ".",
        "Pooled record level; the challenge score is the mean F1(N, A, O).",
        "",
        "| `crossval.py --seed` | runs (seeds) | F1(AF) | sensitivity | PPV | challenge |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for bag in results["bags"]:
        cells = [pct(bag[name], 2) for name in ("f1", "sensitivity", "ppv", "challenge")]
        lines.append(f"| {bag['seed']} | {', '.join(map(str, bag['runs']))} | " + " | ".join(cells) + " |")
    lines += [
        "",
        f"Every bag of {members} of the {len(results['seeds'])} runs ({subsets['n']}): record F1(AF) "
        f"{pct(subsets['mean'], 2)} on average (SD {100 * (subsets['sd'] or 0):.2f} points, "
        f"{pct(subsets['min'], 2)} to {pct(subsets['max'], 2)}); bar {pct(bar)}.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", type=Path, nargs="+", help="one-run crossval.py report folders.")
    parser.add_argument("--members", type=int, default=4, help="Runs in a bag (default 4, the recipe's).")
    parser.add_argument("--windows", type=Path, help="The windows file the reports name (when it lives elsewhere).")
    parser.add_argument("--bar", type=float, default=0.84, help="Record F1(AF) the report quotes as the bar.")
    parser.add_argument("--out", type=Path, help="Folder for bag_runs.md/.json (default: print only).")
    args = parser.parse_args(argv)
    if args.members < 1:
        parser.error(f"--members must be at least 1, got {args.members}")
    results = bag_runs(args.reports, args.members, args.windows)
    sources = [shown_path(folder) for folder in args.reports]
    text = markdown(results, sources, args.bar)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        write_report(args.out / "bag_runs.json", {"sources": sources, **results}, args.out / "bag_runs.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    run_main(main)
