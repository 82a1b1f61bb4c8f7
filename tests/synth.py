"""Synthetic WFDB records for the tests: re-exports :mod:`afdetect.synthetic`."""

from afdetect.synthetic import (
    DEFAULT_ADC_GAIN,
    FORMAT_RANGE,
    RHYTHM_NOTES,
    TWELVE_LEADS,
    UNIT_SCALE,
    SynthECG,
    beat_times,
    copy_record,
    ecg_signal,
    multi_lead,
    rhythm_signal,
    write_mat_record,
    write_record,
    write_records_file,
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
