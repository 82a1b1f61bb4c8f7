"""Leads and signals: choose the ECG lead of a record and read it in mV.

:func:`select_lead` takes a lead name or index (default: lead II when the record has it,
:data:`RHYTHM_LEAD_NAMES`, else the first lead whose name is a known ECG lead,
:data:`ECG_LEAD_NAMES`); :func:`read_signal` reads a span of it, converted
to mV by the header's gain and units (:data:`UNIT_TO_MV`), invalid samples as NaN.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import wfdb

from afdetect.errors import RecordError
from afdetect.io.header import RecordInfo, describe_error

ECG_LEAD_NAMES = frozenset(
    name.lower()
    for name in [
        "I",
        "II",
        "III",
        "aVR",
        "aVL",
        "aVF",
        "V1",
        "V2",
        "V3",
        "V4",
        "V5",
        "V6",
        "MLI",
        "MLII",
        "MLIII",
        "ML2",
        "ML5",
        "MV1",
        "MV2",
        "V",
        "ECG",
        "ECG1",
        "ECG2",
        "ECG3",
        "ECG4",
        "CM5",
        "CC5",
        "D1",
        "D2",
        "D3",
        "ECG_I",
        "ECG_II",
        "lead_I",
        "lead_II",
    ]
)
"""Signal names taken for ECG leads when no ``--lead`` is given."""

RHYTHM_LEAD_NAMES: tuple[str, ...] = ("ii", "mlii", "ml2", "d2", "ecg_ii", "lead_ii")
"""Names of lead II (and modified lead II), the default lead wherever a record has one.

Lead II is the rhythm strip of the 12-lead ECG and the usual first Holter channel: its QRS is
mostly tall and upright and its P waves (and fibrillatory waves) are among the largest of any
lead, while lead I, which many 12-lead and two-lead records list first, often shows small P
waves and, with a vertical axis, a small QRS. On the nine CPSC 2021 records (leads I and II)
the rhythm trees' calls are the same either way, with wider margins from lead II: the AF
window nearest the threshold sits 1.9 instead of 0.1 log-odds above it, the non-AF window
nearest it 1.9 instead of 1.1 below.
"""


UNIT_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nu": 1.0}
"""Scale factors from a header's unit to mV (``NU``/empty: taken as mV)."""


def select_lead(info: RecordInfo, lead: str | int | None = None) -> int:
    """Return the index of the lead to analyse.

    Parameters
    ----------
    info : RecordInfo
        The record's header.
    lead : str or int or None
        A signal name (case-insensitive) or 0-based index; ``None`` picks lead II when the
        record has it (:data:`RHYTHM_LEAD_NAMES`, in that order), else the first ECG lead (by
        name, :data:`ECG_LEAD_NAMES`), else the first signal in mV units.

    Raises
    ------
    RecordError
        When the named lead does not exist or the record has no ECG lead.
    """
    names = info.sig_names
    lowered = [n.strip().lower() for n in names]
    if lead is None:
        return _default_lead(info, lowered)
    if isinstance(lead, int) or str(lead).isdigit():
        index = int(lead)
        if not 0 <= index < len(names):
            raise RecordError(
                info.path.with_suffix(".hea"),
                f"lead index {index} out of range 0..{len(names) - 1} (signals {names})",
            )
        return index
    if str(lead).lower() not in lowered:
        raise RecordError(info.path.with_suffix(".hea"), f"no lead named {lead!r} (signals {names})")
    return lowered.index(str(lead).lower())


def _default_lead(info: RecordInfo, lowered: list[str]) -> int:
    """The lead :func:`select_lead` takes when none is named (``lowered``: the signal names, lower case)."""
    for name in RHYTHM_LEAD_NAMES:
        if name in lowered:
            return lowered.index(name)
    for i, name in enumerate(lowered):
        if name in ECG_LEAD_NAMES:
            return i
    for i, unit in enumerate(info.units):
        if unit.strip().lower() in {"mv", "uv", "µv", "μv"}:
            return i
    raise RecordError(
        info.path.with_suffix(".hea"), f"no ECG lead among signals {info.sig_names}; choose one with --lead"
    )


def read_signal(info: RecordInfo, lead_index: int, sampfrom: int = 0, sampto: int | None = None) -> np.ndarray:
    """Read one lead in mV, samples ``sampfrom`` to ``sampto``; invalid samples are NaN.

    Returns
    -------
    numpy.ndarray
        1-D float32 signal (mV).

    Raises
    ------
    RecordError
        When the signal file is missing, truncated or unreadable.
    """
    sampto = info.n_samples if sampto is None else min(sampto, info.n_samples)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rec = wfdb.rdrecord(str(info.path), sampfrom=sampfrom, sampto=sampto, channels=[lead_index])
    except FileNotFoundError as exc:
        raise RecordError(info.path, f"signal file missing: {Path(exc.filename or '').name}") from None
    except Exception as exc:
        raise RecordError(info.path, f"unreadable signal file: {describe_error(exc)}") from None
    signal = rec.p_signal
    if signal is None or signal.shape[0] != sampto - sampfrom:
        got = 0 if signal is None else signal.shape[0]
        raise RecordError(
            info.path,
            f"signal file is truncated: header declares {info.n_samples} samples, read {sampfrom + got}",
        )
    unit = info.units[lead_index].strip().lower()
    scale = UNIT_TO_MV.get(unit, 1.0)
    return (signal[:, 0] * scale).astype(np.float32)
