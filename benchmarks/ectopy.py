"""Premature beats, pacing and AF alarms: false alarms in sinus rhythm with PACs, PVCs or a
pacemaker, AF found with PVCs or a pacemaker.

Holter and 12-lead recordings are full of premature atrial (PAC) and ventricular (PVC) beats,
and premature beats make a regular rhythm's RR series irregular. The rhythm trees measure RR
irregularity over normal-to-normal beats and after removing ectopic short-long pairs
(:mod:`afdetect.signal.ectopy`) so that ectopy does not look like AF; this script measures
whether it works, on **synthetic records** (sums of Gaussian waves, :mod:`afdetect.io.synthetic`
and :mod:`afdetect.io.synthetic_ectopy`; not patient data; no ectopy-annotated recordings were
at hand). Scenarios:

* **sinus rhythm** at 60 and 90 bpm: no ectopy; PACs or PVCs at a burden of 5, 10, 20 and
  30 % of the beats, placed at random; PAC and PVC bigeminy (every 2nd beat) and trigeminy
  (every 3rd). The share of windows called AF is the false-alarm rate;
* **AF** at 80 and 110 bpm without PVCs and with 10 and 20 % PVCs: the share called AF is
  the sensitivity (ectopic beats must not hide AF either);
* **demand pacing** (a VVI pacemaker at 60 bpm, :mod:`afdetect.io.synthetic_pacing`) of
  sinus rhythm at 50 and 60 bpm (paced runs broken by conducted sinus beats: should not be
  called AF) and of AF at 65 and 80 bpm (every pause over 1 s becomes a paced beat: should
  still be called AF; AF at 65 bpm unpaced beside it).

Each scenario is run on ``clean`` signals (white noise 0.01 mV RMS, the generator's default)
and on ``noisy`` ones (0.1 mV RMS: P waves of 0.15 mV are then hard to see, as in a noisy
Holter lead). Every scenario writes ``--records`` seeded single-lead records (signal ``II``,
250 Hz, format 212; the same seeds in every scenario, so scenarios differ by their ectopy, not
by their underlying rhythm) and runs the shipped default (the rhythm trees), ECGCNN_SE and the
RR baseline on them, each at its own threshold. For the trees' diagnosis the report gives the
median of the features that decide between ectopy and AF.

Writes ``ectopy.md`` and ``ectopy.json`` into ``--out`` (atomically).

Usage::

    python benchmarks/ectopy.py                          # every scenario (~2 min on 2 CPU cores)
    python benchmarks/ectopy.py --only 'clean-sinus-90-*' --records 2 --out /tmp/ectopy
"""

from __future__ import annotations

import argparse
import fnmatch
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, pct, run_main, scratch_dir, windows_called_af, write_report

from afdetect import __version__
from afdetect.detect.inference import set_inference_threads
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.io.atomic import json_safe
from afdetect.io.record import Record
from afdetect.io.synthetic import rhythm_signal
from afdetect.io.synthetic_ectopy import PATTERN_PERIOD, Ectopy
from afdetect.io.synthetic_files import write_record
from afdetect.io.synthetic_pacing import Pacing
from afdetect.signal.features import FEATURE_NAMES, rhythm_features
from afdetect.signal.windows import record_windows

METHODS: dict[str, str] = {"trees": "Rhythm trees (default)", "se": "ECGCNN_SE", "rr": "RR baseline"}
"""Method key to display name, in report order."""
SINUS_RATES_BPM: tuple[int, ...] = (60, 90)
AF_RATES_BPM: tuple[int, ...] = (80, 110)
BURDENS: tuple[float, ...] = (0.05, 0.10, 0.20, 0.30)
"""Random-placement burdens of PACs and PVCs in sinus rhythm (besides none, and the patterns)."""
AF_PVC_BURDENS: tuple[float, ...] = (0.10, 0.20)
PACING: Pacing = Pacing(60)
"""The pacemaker of the paced scenarios."""
PACED_SINUS_RATES_BPM: tuple[int, ...] = (50, 60)
PACED_AF_RATES_BPM: tuple[int, ...] = (65, 80)
NOISE_MV: dict[str, float] = {"clean": 0.01, "noisy": 0.1}
"""Noise level name to the RMS of the white noise added (mV; the R wave is 1 mV, the P wave 0.15 mV)."""
FS_HZ = 250
LEAD = "II"
DIAGNOSTIC_FEATURES: tuple[str, ...] = (
    "normal_frac", "rr_cv", "nn_cv", "clean_cv", "premature_frac", "pause_frac", "p_present", "p_corr",
)  # fmt: skip
"""Features (:mod:`afdetect.signal.features`) whose medians the report gives per scenario."""


@dataclass(frozen=True)
class Scenario:
    """One rhythm, rate, ectopy and noise level."""

    rhythm: str
    hr_bpm: int
    ectopy: Ectopy | None
    noise: str
    pacing: Pacing | None = None

    @property
    def ectopy_label(self) -> str:
        """``none``, ``PAC 10 %``, ``PVC bigeminy``, ``VVI 60 bpm``."""
        if self.pacing is not None:
            return self.pacing.label
        if self.ectopy is None:
            return "none"
        amount = self.ectopy.pattern or f"{100 * self.ectopy.burden:g} %"
        return f"{self.ectopy.kind.upper()} {amount}"

    @property
    def name(self) -> str:
        """Its key: ``clean-sinus-60-none``, ``noisy-sinus-90-pac-10``, ``clean-af-65-vvi-60-bpm``."""
        ectopy = self.ectopy_label.lower().replace(" %", "").replace(" ", "-")
        return f"{self.noise}-{self.rhythm}-{self.hr_bpm}-{ectopy}"


def all_scenarios() -> list[Scenario]:
    """Every scenario, in report order: per noise level, sinus rhythm by rate, then AF by rate,
    each followed by its paced scenarios."""
    scenarios = []
    for noise in NOISE_MV:
        for bpm in SINUS_RATES_BPM:
            scenarios.append(Scenario("sinus", bpm, None, noise))
            for kind in ("pac", "pvc"):
                scenarios += [Scenario("sinus", bpm, Ectopy(kind, burden), noise) for burden in BURDENS]
                scenarios += [Scenario("sinus", bpm, Ectopy(kind, pattern=p), noise) for p in PATTERN_PERIOD]
        scenarios += [Scenario("sinus", bpm, None, noise, PACING) for bpm in PACED_SINUS_RATES_BPM]
        for bpm in AF_RATES_BPM:
            scenarios.append(Scenario("af", bpm, None, noise))
            scenarios += [Scenario("af", bpm, Ectopy("pvc", burden), noise) for burden in AF_PVC_BURDENS]
        for bpm in PACED_AF_RATES_BPM:
            if bpm not in AF_RATES_BPM:
                scenarios.append(Scenario("af", bpm, None, noise))
            scenarios.append(Scenario("af", bpm, None, noise, PACING))
    return scenarios


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (every path is an option, so tests never touch the repository)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "ectopy", help="Output folder.")
    parser.add_argument("--trees", type=Path, default=None, help="Rhythm trees file (default: the shipped one).")
    parser.add_argument("--weights-se", type=Path, default=None, help="ECGCNN_SE weights (default: the shipped ones).")
    parser.add_argument("--records", type=int, default=5, help="Seeded records per scenario.")
    parser.add_argument("--duration-s", type=float, default=300.0, help="Length of each record (s).")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the first record (record i: seed + i).")
    parser.add_argument("--only", nargs="+", default=None, metavar="PATTERN", help="Scenario names to run (globs).")
    parser.add_argument("--workdir", type=Path, default=None, help="Folder for the records (default: temporary).")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads of the CNN.")
    args = parser.parse_args(argv)
    if args.records < 1 or args.duration_s < 30:
        parser.error("--records must be at least 1 and --duration-s at least one 30 s window")
    return args


def select(scenarios: list[Scenario], patterns: Sequence[str] | None) -> list[Scenario]:
    """The scenarios whose name matches one of ``patterns`` (all when ``None``).

    Raises
    ------
    UsageError
        When no scenario matches.
    """
    if patterns is None:
        return scenarios
    chosen = [s for s in scenarios if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]
    if not chosen:
        raise UsageError("--only", f"matches no scenario; names look like {scenarios[0].name}")
    return chosen


def write_scenario(scenario: Scenario, directory: Path, records: int, duration_s: float, seed: int) -> dict[str, Any]:
    """Write a scenario's records; returns their paths and the measured share of ectopic or paced beats."""
    paths, beats, ectopic = [], 0, 0
    for i in range(records):
        ecg = rhythm_signal(
            FS_HZ,
            [(scenario.rhythm, duration_s, scenario.ectopy)],
            hr_bpm=scenario.hr_bpm,
            seed=seed + i,
            noise_mv=NOISE_MV[scenario.noise],
            pacing=scenario.pacing,
        )
        name = f"{scenario.name.replace('-', '_').replace('.', '_')}_{i}"
        comment = f"synthetic {scenario.rhythm} {scenario.hr_bpm} bpm, ectopy {scenario.ectopy_label} (seed {seed + i})"
        paths.append(write_record(directory, name, FS_HZ, ecg.signal, [LEAD], fmt="212", comments=[comment]))
        beats += len(ecg.beat_symbols)
        ectopic += int((ecg.beat_symbols != "N").sum())
    return {"paths": paths, "beats": beats, "burden": ectopic / max(beats, 1)}


def feature_medians(predictor: Predictor, paths: Sequence[Path]) -> dict[str, float]:
    """Median of each of :data:`DIAGNOSTIC_FEATURES` over the records' readable windows, conditioned as
    ``predictor`` conditions them (NaN where a feature is undefined in every window)."""
    blocks = []
    for path in paths:
        record = Record.open(path)
        for batch in record_windows(record.info, record.lead_index, preprocessing=predictor.preprocessing):
            readable = np.array([problem is None for problem in batch.problems], dtype=bool)
            blocks.append(rhythm_features(batch.x[readable], predictor.preprocessing.model_fs))
    values = np.concatenate(blocks)[:, [FEATURE_NAMES.index(name) for name in DIAGNOSTIC_FEATURES]]
    defined = np.isfinite(values).any(axis=0)
    medians = np.full(len(DIAGNOSTIC_FEATURES), np.nan)
    medians[defined] = np.nanmedian(values[:, defined], axis=0)
    return {name: float(value) for name, value in zip(DIAGNOSTIC_FEATURES, medians, strict=True)}


def run_scenario(
    scenario: Scenario, predictors: dict[str, Predictor], workdir: Path, args: argparse.Namespace
) -> dict[str, Any]:
    """One scenario's records, each method's calls on them and the trees' feature medians."""
    written = write_scenario(scenario, workdir, args.records, args.duration_s, args.seed)
    return {
        "name": scenario.name,
        "noise": scenario.noise,
        "noise_mv": NOISE_MV[scenario.noise],
        "rhythm": scenario.rhythm,
        "hr_bpm": scenario.hr_bpm,
        "ectopy": scenario.ectopy_label,
        "records": args.records,
        "beats": written["beats"],
        "burden_measured": written["burden"],
        "methods": {key: windows_called_af(p, written["paths"]) for key, p in predictors.items()},
        "trees_features": feature_medians(predictors["trees"], written["paths"]),
    }


def _calls_table(rows: list[dict[str, Any]], heading: str, note: str) -> list[str]:
    """Report section: per scenario, its measured burden, windows and each method's share called AF."""
    if not rows:
        return []
    lines = ["", heading, "", note, "", "| rhythm | ectopy or pacing | ectopic or paced beats | windows | "]
    lines[-1] += " | ".join(METHODS[k] for k in rows[0]["methods"]) + " |"
    lines.append("|---|---|---:|---:|" + "---:|" * len(rows[0]["methods"]))
    for row in rows:
        cells = [pct(json_safe(entry["fraction_af"])) for entry in row["methods"].values()]
        windows = next(iter(row["methods"].values()))["windows"]
        lines.append(
            f"| {row['rhythm']} {row['hr_bpm']} bpm | {row['ectopy']} | {pct(row['burden_measured'])} | {windows} | "
            + " | ".join(cells)
            + " |"
        )
    return lines


def _features_table(rows: list[dict[str, Any]]) -> list[str]:
    """Report section: the trees' feature medians per scenario."""
    lines = ["", "| rhythm | ectopy or pacing | " + " | ".join(f"`{name}`" for name in DIAGNOSTIC_FEATURES) + " |"]
    lines.append("|---|---|" + "---:|" * len(DIAGNOSTIC_FEATURES))
    for row in rows:
        cells = ["–" if np.isnan(v) else f"{v:.3f}" for v in (row["trees_features"][n] for n in DIAGNOSTIC_FEATURES)]
        lines.append(f"| {row['rhythm']} {row['hr_bpm']} bpm | {row['ectopy']} | " + " | ".join(cells) + " |")
    return lines


def markdown(results: dict[str, Any]) -> str:
    """``ectopy.md``: per noise level, false alarms in sinus rhythm, AF sensitivity, the trees' features."""
    run = results["run"]
    lines = [
        "# Premature beats, pacing and AF alarms (synthetic records)",
        "",
        f"Generated by `python benchmarks/ectopy.py` on {run['created']} (afdetect {run['afdetect_version']}, "
        f"{run['seconds']:.0f} s). **Synthetic signals, not patient data**: {run['records']} seeded record(s) of "
        f"{run['duration_s']:g} s per scenario, single lead {LEAD}, {FS_HZ} Hz, format 212, written by "
        "`afdetect.io.synthetic` and `afdetect.io.synthetic_ectopy`: PACs premature by 20-40 % with a narrow "
        "QRS, an inverted P wave and a non-compensatory (reset) pause; PVCs premature by 25-45 % with a wide "
        "(140 ms) QRS, no P wave, an opposite T wave and a full compensatory pause; in AF, PVCs coupled at "
        "55-75 % of the mean RR; a VVI pacemaker (`afdetect.io.synthetic_pacing`) pacing every pause over its "
        "escape interval with a wide complex led by a 2 mV spike, sinus P waves going on unreset. Every method "
        "at its own threshold; windows of 30 s every 15 s.",
    ]
    for noise, noise_mv in NOISE_MV.items():
        rows = [row for row in results["scenarios"] if row["noise"] == noise]
        if not rows:
            continue
        lines += ["", f"## {noise.capitalize()} signals (white noise {noise_mv:g} mV RMS)"]
        lines += _calls_table(
            [row for row in rows if row["rhythm"] == "sinus"],
            "### Sinus rhythm with premature beats or pacing: share of windows called AF (false alarms)",
            "Should be 0.",
        )
        lines += _calls_table(
            [row for row in rows if row["rhythm"] == "af"],
            "### AF with PVCs or pacing: share of windows called AF (sensitivity)",
            "Should be high.",
        )
        lines += ["", "### What the rhythm trees see (median over the windows)"]
        lines += _features_table(rows)
    return "\n".join(lines) + "\n"


def load_predictors(trees: Path | None, weights_se: Path | None) -> dict[str, Predictor]:
    """The shipped default (the rhythm trees), ECGCNN_SE and the RR baseline, in :data:`METHODS` order."""
    return {
        "trees": Predictor.from_trees(trees),
        "se": Predictor.from_weights(weights_se, variant="se"),
        "rr": Predictor.rr_baseline(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Write every chosen scenario's records, score them and write the report."""
    args = parse_args(argv)
    started = time.time()
    scenarios = select(all_scenarios(), args.only)
    set_inference_threads(args.threads)
    predictors = load_predictors(args.trees, args.weights_se)
    rows = []
    with scratch_dir(args.workdir) as workdir:
        for i, scenario in enumerate(scenarios, 1):
            print(f"{i}/{len(scenarios)} {scenario.name}", file=sys.stderr)
            rows.append(run_scenario(scenario, predictors, workdir, args))
    run = {
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "afdetect_version": __version__,
        "records": args.records,
        "duration_s": args.duration_s,
        "seed": args.seed,
        "fs_hz": FS_HZ,
        "thresholds": {key: p.threshold for key, p in predictors.items()},
        "seconds": round(time.time() - started, 1),
    }
    results = {"run": run, "scenarios": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    report = markdown(results)
    write_report(args.out / "ectopy.json", results, args.out / "ectopy.md", report)
    print(report)
    return 0


if __name__ == "__main__":
    run_main(main)
