"""How far the training seed alone moves a cross-validated figure.

``crossval.py --seed S --split-seed 0`` trains every fold again with another seed (LightGBM's
row and feature sampling, the inner folds that choose the threshold; ECGCNN's initialisation and
augmentation) on the *same* test folds. This script reads several such reports and gives, per
method, each run's pooled record metrics and challenge score, their mean, standard deviation and
range, and how many runs reach ``--bar`` (record F1(AF)). A recipe change smaller than this
spread, measured at one seed, is not a measured gain.

Every report must test the same records in the same folds (same windows file, fold count and
split seed) and be trained with a different seed; anything else is refused.

Usage::

    python benchmarks/seed_spread.py benchmarks/results/crossval_trees \\
        benchmarks/results/crossval_trees_seed1 benchmarks/results/crossval_trees_seed2 \\
        benchmarks/results/crossval_trees_seed3 --out benchmarks/results/seed_spread
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from common import pct, run_main, shown_path, write_report  # noqa: E402

from afdetect.errors import UsageError  # noqa: E402

RECORD_METRICS: tuple[str, ...] = ("f1", "sensitivity", "ppv", "auroc")
"""The pooled record-level metrics compared across seeds."""

FIGURES: tuple[str, ...] = (*RECORD_METRICS, "challenge")
"""Every figure of a run, in report order: the record metrics, then the challenge score."""

SAME_TEST_FOLDS: tuple[str, ...] = ("windows_file", "folds", "split_seed")
"""``run`` entries of ``crossval.json`` that must agree for two reports to test the same folds."""


def read_report(folder: Path) -> dict[str, Any]:
    """A ``crossval.py`` report's ``crossval.json`` (:class:`UsageError` when missing or not one)."""
    path = folder / "crossval.json"
    if not path.is_file():
        raise UsageError(path, "no crossval.json here (a crossval.py report folder expected)")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(path, f"not a crossval.py report (not JSON: {exc})") from None
    if not isinstance(report, dict) or not {"run", "pooled"} <= set(report):
        raise UsageError(path, "not a crossval.py report (no 'run' and 'pooled' entries)")
    return report


def check_same_folds(reports: Sequence[dict[str, Any]], folders: Sequence[Path]) -> None:
    """Refuse reports that test other folds than the first, or repeat a training seed."""
    first = reports[0]["run"]
    for report, folder in zip(reports[1:], folders[1:], strict=True):
        for key in SAME_TEST_FOLDS:
            if report["run"].get(key) != first.get(key):
                raise UsageError(
                    folder / "crossval.json",
                    f"tests other folds than {folders[0]}: {key} {report['run'].get(key)!r}, not {first.get(key)!r}",
                )
    trained: dict[Any, Path] = {}
    for report, folder in zip(reports, folders, strict=True):
        seed = report["run"].get("seed")
        if seed in trained:
            raise UsageError(folder / "crossval.json", f"training seed {seed} repeats that of {trained[seed]}")
        trained[seed] = folder


def run_figures(report: dict[str, Any], method: str) -> dict[str, float | None]:
    """One report's pooled record metrics of ``method`` and its challenge score (None when absent)."""
    record = report["pooled"]["methods"][method]["record"]
    figures: dict[str, float | None] = {name: record.get(name) for name in RECORD_METRICS}
    figures["challenge"] = report["pooled"].get("challenge", {}).get(method, {}).get("mean")
    return figures


def spread(values: Sequence[float | None]) -> dict[str, float | None]:
    """Mean, sample SD, minimum and maximum of the defined ``values`` (None when there are none).

    Example
    -------
    >>> {k: round(v, 4) for k, v in spread([0.8391, 0.8403, 0.8342]).items()}
    {'mean': 0.8379, 'sd': 0.0032, 'min': 0.8342, 'max': 0.8403}
    """
    defined = np.array([v for v in values if v is not None], dtype=float)
    if len(defined) == 0:
        return {"mean": None, "sd": None, "min": None, "max": None}
    sd = float(defined.std(ddof=1)) if len(defined) > 1 else None
    return {"mean": float(defined.mean()), "sd": sd, "min": float(defined.min()), "max": float(defined.max())}


def seed_spread(reports: Sequence[dict[str, Any]], bar: float) -> dict[str, Any]:
    """Per method present in every report: each seed's figures, their :func:`spread`, and the runs
    whose record F1(AF) reaches ``bar``."""
    methods = [m for m in reports[0]["pooled"]["methods"] if all(m in r["pooled"]["methods"] for r in reports)]
    out: dict[str, Any] = {}
    for method in methods:
        runs = [{"seed": r["run"].get("seed"), **run_figures(r, method)} for r in reports]
        out[method] = {
            "runs": runs,
            "spread": {name: spread([run[name] for run in runs]) for name in FIGURES},
            "at_bar": sum(run["f1"] is not None and run["f1"] >= bar for run in runs),
        }
    return out


def markdown(results: dict[str, Any], sources: Sequence[str], bar: float) -> str:
    """``seed_spread.md``: one table per method."""
    lines = [
        "# Cross-validated figures at several training seeds, on the same test folds",
        "",
        "Generated by `python benchmarks/seed_spread.py` from " + ", ".join(f"`{s}`" for s in sources) + ".",
        "Pooled record level; the challenge score is the mean F1(N, A, O) (– for methods without it).",
    ]
    for method, entry in results.items():
        lines += ["", f"## {method}", "", "| seed | F1(AF) | sensitivity | PPV | AUROC | challenge |"]
        lines += ["|---|---:|---:|---:|---:|---:|"]
        for run in entry["runs"]:
            lines.append(f"| {run['seed']} | " + " | ".join(_cell(name, run[name]) for name in FIGURES) + " |")
        for stat in ("mean", "sd", "min", "max"):
            cells = [_cell(name, entry["spread"][name][stat], sd=stat == "sd") for name in FIGURES]
            lines.append(f"| {stat} | " + " | ".join(cells) + " |")
        lines += ["", f"Runs with record F1(AF) ≥ {pct(bar)}: {entry['at_bar']} of {len(entry['runs'])}."]
    return "\n".join(lines) + "\n"


def _cell(name: str, value: float | None, sd: bool = False) -> str:
    """A figure: AUROC as a fraction, the rest in percent (SDs in points, 2 decimals)."""
    if value is None:
        return "–"
    if name == "auroc":
        return f"{value:.4f}"
    return f"{100 * value:.2f}" if sd else pct(value, 2)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("reports", type=Path, nargs="+", help="crossval.py report folders (crossval.json).")
    parser.add_argument("--bar", type=float, default=0.84, help="Record F1(AF) to count the runs against.")
    parser.add_argument("--out", type=Path, help="Folder for seed_spread.md/.json (default: print only).")
    args = parser.parse_args(argv)
    if len(args.reports) < 2:
        parser.error("give at least two report folders")
    if not 0 < args.bar <= 1:
        parser.error(f"--bar must lie in (0, 1], got {args.bar}")
    reports = [read_report(folder) for folder in args.reports]
    check_same_folds(reports, args.reports)
    results = seed_spread(reports, args.bar)
    sources = [shown_path(folder) for folder in args.reports]
    text = markdown(results, sources, args.bar)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {"sources": sources, "bar": args.bar, "methods": results}
        write_report(args.out / "seed_spread.json", payload, args.out / "seed_spread.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    run_main(main)
