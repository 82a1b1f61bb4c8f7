"""The cross-domain checks of ``benchmarks/evaluate_models.py``: the CPSC 2021 Holter records, the
CinC test records resampled to other rates, and synthetic 12-lead records."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from common import LEVELS, resample_signal, windows_called_af

from afdetect.detect.predictor import Predictor
from afdetect.errors import AfdetectError, UsageError
from afdetect.evaluate.records import EvalResult, evaluate, evaluate_records
from afdetect.io.atomic import json_safe
from afdetect.io.find import find_records
from afdetect.io.header import read_header
from afdetect.io.signals import read_signal, select_lead
from afdetect.io.synthetic import multi_lead, rhythm_signal
from afdetect.io.synthetic_files import write_mat_record, write_record, write_reference_csv
from afdetect.training.cache import WindowSet, windows_from_records

RESAMPLE_RATES_HZ = (250, 500)
SYNTHETIC_FS = 500
SYNTHETIC_LEADS = 12
SYNTHETIC_RATES_BPM = (45, 70, 130)
SYNTHETIC_RHYTHMS = {"sinus": "N", "af": "A"}
"""Synthetic rhythms and their CinC-style REFERENCE.csv label."""


# --- 3. CPSC 2021 -------------------------------------------------------------------------


def evaluate_cpsc(predictors: dict[str, Predictor], directory: Path) -> dict[str, Any]:
    """Section 3: window metrics (where defined) and EC57 episode statistics on CPSC 2021."""
    if not directory.is_dir():
        return {"skipped": f"{directory} not found"}
    records = find_records([directory])
    section: dict[str, Any] = {"methods": {}}
    for key, predictor in predictors.items():
        errors: list[str] = []
        try:  # one streamed pass per method: window metrics and EC57 episode statistics
            result = evaluate_records(predictor, records, on_record=_collect_errors(errors))
        except UsageError as exc:
            section["methods"][key] = {"window_error": str(exc)}
            continue
        section.update(
            records=len(result.per_record),
            windows=len(result.y_true),
            af_windows=int(result.y_true.sum()),
            skipped=errors,
        )
        section["methods"][key] = json_safe(result.to_json())
    return section


def _collect_errors(errors: list[str]) -> Callable[[Path, AfdetectError | None], None]:
    """An ``on_record`` callback that appends each skipped record's message to ``errors``."""

    def on_record(path: Path, error: AfdetectError | None) -> None:
        if error is not None:
            errors.append(str(error))

    return on_record


# --- 4. Resampling check ------------------------------------------------------------------


def write_resampled_records(ws: WindowSet, mask: np.ndarray, data_dir: Path, fs_out: int, directory: Path) -> Path:
    """Resample the raw signal of each selected record to ``fs_out`` Hz; write WFDB format 16 + REFERENCE.csv.

    The records keep their names in a folder of the same name as their source folder
    (``directory/cinc2017/A00002``), so their windows carry the same record keys.

    Returns
    -------
    Path
        The folder of the written records.
    """
    labels: dict[str, str] = {}
    folder = None
    for row in np.flatnonzero(mask):
        name = str(ws.records[row])
        info = read_header(data_dir / name)
        x = read_signal(info, select_lead(info, None)).astype(np.float64)
        y = resample_signal(x, info.fs, fs_out)
        folder = directory / Path(name).parent
        write_record(folder, info.name, fs_out, y, sig_names=[info.sig_names[0]], fmt="16")
        labels[info.name] = str(ws.record_labels[row])
    if folder is None:
        raise UsageError(None, "no test record to resample")
    write_reference_csv(folder, labels)
    return folder


def resampling_check(
    predictors: dict[str, Predictor],
    ws: WindowSet,
    mask: np.ndarray,
    original: dict[str, EvalResult],
    data_dir: Path,
    workdir: Path,
) -> dict[str, Any]:
    """Section 4: the test records at 250 and 500 Hz, evaluated as records, beside the original rate."""
    rates: dict[str, Any] = {}
    native = sorted({_hz(read_header(data_dir / str(ws.records[r])).fs) for r in np.flatnonzero(mask)[:20]})
    original_windows = _window_frame(ws, mask)
    for fs_out in RESAMPLE_RATES_HZ:
        started = time.time()
        folder = write_resampled_records(ws, mask, data_dir, fs_out, workdir / f"resampled_{fs_out}hz")
        errors: list[str] = []
        ws_rate = windows_from_records(find_records([folder]), on_record=_collect_errors(errors))
        rate_windows = _window_frame(ws_rate, None)
        entry: dict[str, Any] = {"records": len(ws_rate.records), "skipped": errors, "methods": {}}
        for key in predictors:
            result = evaluate(predictors[key], ws_rate)
            base = original[key]
            merged = pd.merge(
                original_windows.assign(p_orig=base.p_af),
                rate_windows.assign(p_new=result.p_af),
                on=["record", "start_s"],
                how="inner",
            )
            t = result.threshold
            delta = (merged["p_new"] - merged["p_orig"]).abs()
            entry["methods"][key] = json_safe(
                {
                    "window": result.window,
                    "record": result.record,
                    "original_window": base.window,
                    "original_record": base.record,
                    "difference": {
                        level: {
                            m: getattr(result, level)[m] - getattr(base, level)[m] for m in ("accuracy", "f1", "auroc")
                        }
                        for level in LEVELS
                    },
                    "matched_windows": len(merged),
                    "mean_abs_dp": float(delta.mean()) if len(merged) else math.nan,
                    "max_abs_dp": float(delta.max()) if len(merged) else math.nan,
                    "flipped_calls": int(((merged["p_new"] >= t) != (merged["p_orig"] >= t)).sum()),
                }
            )
        entry["seconds"] = round(time.time() - started, 1)
        rates[f"{fs_out}"] = entry
    return {"original_fs_hz": native, "rates_hz": rates}


def _hz(fs: float) -> float | int:
    """A sampling rate as an int when it is whole (300.0 -> 300)."""
    return int(fs) if float(fs).is_integer() else float(fs)


def _window_frame(ws: WindowSet, mask: np.ndarray | None) -> pd.DataFrame:
    """Record name and start (s) of each window :func:`evaluate` scores, in its order."""
    mask = np.ones(len(ws.records), dtype=bool) if mask is None else mask
    idx = np.flatnonzero(mask[ws.record_index] & (ws.labels >= 0))
    return pd.DataFrame({"record": ws.records[ws.record_index[idx]], "start_s": np.round(ws.start_s[idx], 2)})


# --- 5. Synthetic 12-lead records ---------------------------------------------------------


def synthetic_check(predictors: dict[str, Predictor], workdir: Path, seeds: int, duration_s: float) -> dict[str, Any]:
    """Section 5: fraction of windows called AF in synthetic 12-lead 500 Hz sinus and AF records."""
    directory = workdir / "synthetic_12lead"
    records: dict[tuple[str, int], list[Path]] = {}
    for rhythm in SYNTHETIC_RHYTHMS:
        for bpm in SYNTHETIC_RATES_BPM:
            for seed in range(seeds):
                ecg = rhythm_signal(SYNTHETIC_FS, [(rhythm, duration_s)], hr_bpm=bpm, seed=1000 * bpm + seed)
                signals = multi_lead(ecg.signal, SYNTHETIC_LEADS, seed=seed)
                name = f"{rhythm}_{bpm}bpm_{seed}"
                path = write_mat_record(directory, name, SYNTHETIC_FS, signals, comments=[f"synthetic {rhythm}"])
                records.setdefault((rhythm, bpm), []).append(path)
    rows = []
    for (rhythm, bpm), paths in records.items():
        for key, predictor in predictors.items():
            calls = windows_called_af(predictor, paths)
            rows.append({"rhythm": rhythm, "hr_bpm": bpm, "method": key, "records": len(paths), **calls})
    return json_safe(
        {
            "fs_hz": SYNTHETIC_FS,
            "leads": SYNTHETIC_LEADS,
            "lead_used": "I (first ECG lead)",
            "record_s": duration_s,
            "records_per_rate": seeds,
            "rows": rows,
        }
    )
