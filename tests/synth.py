"""Synthetic WFDB records for the tests: :mod:`afdetect.io.synthetic` plus test-only writers."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from afdetect.io.synthetic import RHYTHM_NOTES, SynthECG, beat_times, ecg_signal, multi_lead, rhythm_signal
from afdetect.io.synthetic_files import (
    DEFAULT_ADC_GAIN,
    FORMAT_RANGE,
    TWELVE_LEADS,
    UNIT_SCALE,
    write_mat_record,
    write_record,
    write_reference_csv,
    write_rhythm_annotations,
)

__all__ = [
    "DEFAULT_ADC_GAIN",
    "FORMAT_RANGE",
    "RHYTHM_NOTES",
    "TWELVE_LEADS",
    "UNIT_SCALE",
    "SynthECG",
    "beat_times",
    "copy_record",
    "ecg_signal",
    "multi_lead",
    "rhythm_signal",
    "write_mat_record",
    "write_record",
    "write_records_file",
    "write_reference_csv",
    "write_rhythm_annotations",
]


def write_records_file(directory: str | Path, names: Sequence[str]) -> Path:
    """Write a PhysioNet ``RECORDS`` file listing ``names``, one a line."""
    path = Path(directory) / "RECORDS"
    path.write_text("".join(f"{name}\n" for name in names))
    return path


def copy_record(record_path: str | Path, directory: str | Path) -> Path:
    """Copy every file of a record (``.hea``, ``.dat``/``.mat``, annotations) into ``directory``."""
    record_path, directory = Path(record_path), Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for file in record_path.parent.glob(f"{record_path.name}.*"):
        shutil.copy2(file, directory / file.name)
    return directory / record_path.name
