"""Malformed-input corpus: writes broken WFDB records, annotations and weights files.

Everything is generated on the spot in a caller-given folder (a pytest ``tmp_path``);
nothing is downloaded. :func:`build_corpus` writes every record case and returns their
paths by case name; the writers it uses (:func:`write_record`, :func:`synthetic_ecg`)
serve single tests too.

Example
-------
>>> paths = build_corpus(tmp_path)  # doctest: +SKIP
>>> paths["fs_zero"]  # doctest: +SKIP
PosixPath('.../corpus/fs_zero.hea')
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

GAIN = 200.0
"""ADC units per mV of every written record."""

FS = 250.0
"""Sampling rate (Hz) of the written records (not the model rate, so resampling runs)."""

INVALID_ADU = -32768
"""WFDB format-16 invalid-sample value (read back as NaN)."""


def synthetic_ecg(duration_s: float, fs: float = FS, seed: int = 0) -> np.ndarray:
    """An ECG-like lead (mV): narrow R peaks at ~72 bpm with jitter, T waves, wander and noise.

    Example
    -------
    >>> synthetic_ecg(10).shape
    (2500,)
    """
    rng = np.random.default_rng(seed)
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    beats = np.cumsum(0.83 + 0.05 * rng.standard_normal(int(duration_s / 0.6) + 2))
    impulses = np.zeros(n)
    impulses[np.round(beats[beats < duration_s] * fs).astype(int)] = 1.0
    k = np.arange(-int(0.1 * fs), int(0.5 * fs)) / fs
    beat = 1.2 * np.exp(-((k / 0.012) ** 2)) + 0.3 * np.exp(-(((k - 0.25) / 0.05) ** 2))
    x = np.convolve(impulses, beat)[int(0.1 * fs) : int(0.1 * fs) + n]
    return x + 0.05 * rng.standard_normal(n) + 0.1 * np.sin(2 * np.pi * 0.3 * t)


def write_record(
    directory: Path,
    name: str,
    signals: np.ndarray | Sequence[np.ndarray],
    fs: float = FS,
    sig_names: Sequence[str] = ("II",),
    units: Sequence[str] = ("mV",),
    adu: np.ndarray | None = None,
) -> Path:
    """Write a format-16 WFDB record (``name.hea`` + ``name.dat``); return the ``.hea`` path.

    Parameters
    ----------
    directory : Path
        Folder to write into (created when missing).
    name : str
        Record name.
    signals : array or sequence of arrays
        One array (mV, or ``units``) per signal, equal lengths (samples).
    fs : float
        Sampling rate (Hz).
    sig_names, units : sequence of str
        Per-signal names and physical units.
    adu : numpy.ndarray, optional
        Raw ``(n_samples, n_sig)`` int16 samples to write instead of ``signals * GAIN``
        (to place invalid-sample values).
    """
    directory.mkdir(parents=True, exist_ok=True)
    sig = np.atleast_2d(np.asarray(signals, dtype=np.float64))
    if adu is None:
        adu = np.clip(np.round(sig.T * GAIN), -32767, 32767).astype("<i2")
    n_samples, n_sig = adu.shape
    lines = [f"{name} {n_sig} {fs:g} {n_samples}"]
    for i in range(n_sig):
        lines.append(f"{name}.dat 16 {GAIN:g}/{units[i]} 16 0 0 0 0 {sig_names[i]}")
    (directory / f"{name}.hea").write_text("\n".join(lines) + "\n")
    (directory / f"{name}.dat").write_bytes(np.ascontiguousarray(adu, dtype="<i2").tobytes())
    return directory / f"{name}.hea"


def write_header(directory: Path, name: str, text: str | bytes) -> Path:
    """Write a header file verbatim (text or raw bytes); return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.hea"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def write_corrupt_annotation(header: Path) -> Path:
    """Give a record an ``.atr`` file of random bytes (not a WFDB annotation file)."""
    atr = header.with_suffix(".atr")
    atr.write_bytes(np.random.default_rng(7).integers(0, 256, 301, dtype=np.uint8).tobytes())
    return atr


def write_good_annotation(header: Path, fs: float = FS, rhythm: str = "(N") -> Path:
    """Give a record a valid ``.atr`` rhythm annotation (one rhythm from sample 0)."""
    import wfdb

    wfdb.wrann(
        header.stem,
        "atr",
        np.array([0]),
        symbol=["+"],
        aux_note=[rhythm],
        fs=fs,
        write_dir=str(header.parent),
    )
    return header.with_suffix(".atr")


def build_corpus(root: Path) -> dict[str, Path]:
    """Write every malformed-record case (and a good control) under ``root / "corpus"``.

    Returns
    -------
    dict
        Case name to the path to pass to ``afdetect predict`` (a ``.hea`` file or a folder).
        Names: ``good``, ``missing_path``, ``empty_dir``, ``dat_missing``, ``dat_truncated``,
        ``dat_short``, ``garbage_header``, ``fs_zero``, ``negative_length``,
        ``unknown_format``, ``bad_signal_line``, ``more_leads_than_lines``, ``lead_missing_from_dat``,
        ``non_utf8_header``, ``binary_header``, ``empty_header``, ``too_short``, ``flat``,
        ``clipped``, ``invalid_run``, ``invalid_short_run``, ``bp_only``; from issue #13 ``fs_one``,
        ``fs_300k``, ``mat_v4``, ``mat_text``, ``mat_wrong_size``, ``dat_fifo``, ``dat_dev_zero``,
        ``header_1gb``, ``multi_fixed``, ``multi_variable``, ``multi_self``, ``multi_missing``.
    """
    d = root / "corpus"
    d.mkdir(parents=True, exist_ok=True)
    ecg = synthetic_ecg(40)
    n = len(ecg)
    cases: dict[str, Path] = {}

    cases["good"] = write_record(d, "good", ecg)
    cases["missing_path"] = d / "does_not_exist.hea"
    (root / "empty_dir").mkdir(exist_ok=True)
    (root / "empty_dir" / "notes.txt").write_text("no records here\n")
    cases["empty_dir"] = root / "empty_dir"

    cases["dat_missing"] = write_record(d, "dat_missing", ecg)
    (d / "dat_missing.dat").unlink()

    cases["dat_truncated"] = write_record(d, "dat_truncated", ecg)
    data = (d / "dat_truncated.dat").read_bytes()
    (d / "dat_truncated.dat").write_bytes(data[: len(data) // 2 + 1])  # ends mid-sample

    cases["dat_short"] = write_record(d, "dat_short", ecg)
    (d / "dat_short.dat").write_bytes(data[: 2 * (n - 100)])  # 100 whole samples missing at the end

    cases["garbage_header"] = write_header(d, "garbage_header", "this is not\na WFDB header at all\n")
    (d / "garbage_header.dat").write_bytes(data)

    cases["fs_zero"] = write_record(d, "fs_zero", ecg)
    _rewrite_record_line(cases["fs_zero"], f"fs_zero 1 0 {n}")

    cases["negative_length"] = write_record(d, "negative_length", ecg)
    _rewrite_record_line(cases["negative_length"], f"negative_length 1 {FS:g} -{n}")

    cases["unknown_format"] = write_header(
        d, "unknown_format", f"unknown_format 1 {FS:g} {n}\nunknown_format.dat 99 200/mV 16 0 0 0 0 II\n"
    )
    (d / "unknown_format.dat").write_bytes(data)

    cases["more_leads_than_lines"] = write_header(
        d,
        "more_leads_than_lines",
        f"more_leads_than_lines 3 {FS:g} {n}\n"
        "more_leads_than_lines.dat 16 200/mV 16 0 0 0 0 I\n"
        "more_leads_than_lines.dat 16 200/mV 16 0 0 0 0 II\n",
    )
    (d / "more_leads_than_lines.dat").write_bytes(data * 2)

    cases["bad_signal_line"] = write_header(
        d, "bad_signal_line", f"bad_signal_line 1 {FS:g} {n}\nbad_signal_line.dat sixteen 200/mV 16 0 0 0 0 II\n"
    )
    (d / "bad_signal_line.dat").write_bytes(data)

    # Header declares two leads in the .dat; the file only holds one lead's bytes.
    cases["lead_missing_from_dat"] = write_header(
        d,
        "lead_missing_from_dat",
        f"lead_missing_from_dat 2 {FS:g} {n}\n"
        "lead_missing_from_dat.dat 16 200/mV 16 0 0 0 0 I\n"
        "lead_missing_from_dat.dat 16 200/mV 16 0 0 0 0 II\n",
    )
    (d / "lead_missing_from_dat.dat").write_bytes(data)

    cases["non_utf8_header"] = write_header(
        d,
        "non_utf8_header",
        f"non_utf8_header 1 {FS:g} {n}\nnon_utf8_header.dat 16 200/mV 16 0 0 0 0 \xc9CG\n".encode("latin-1"),
    )
    (d / "non_utf8_header.dat").write_bytes(data)

    png = b"\x89PNG\r\n\x1a\n" + np.random.default_rng(3).bytes(200)  # an image saved as .hea
    cases["binary_header"] = write_header(d, "binary_header", png)
    cases["empty_header"] = write_header(d, "empty_header", "")

    cases["too_short"] = write_record(d, "too_short", synthetic_ecg(5))
    cases["flat"] = write_record(d, "flat", np.zeros(n))
    t = np.arange(n) / FS
    cases["clipped"] = write_record(d, "clipped", np.clip(4 * np.sin(2 * np.pi * 1.1 * t), -1, 1))

    adu = np.round(ecg * GAIN).astype("<i2")[:, None].copy()
    adu[int(2 * FS) : int(8 * FS)] = INVALID_ADU  # 6 s invalid: 20 % of the first window
    cases["invalid_run"] = write_record(d, "invalid_run", ecg, adu=adu)
    adu = np.round(ecg * GAIN).astype("<i2")[:, None].copy()
    adu[int(2 * FS) : int(4 * FS)] = INVALID_ADU  # 2 s invalid: 6.7 % of a window, still judged
    cases["invalid_short_run"] = write_record(d, "invalid_short_run", ecg, adu=adu)

    # Implausible sampling rates (#13): outside 50 Hz - 20 kHz.
    for name, fs in (("fs_one", 1), ("fs_300k", 300_000)):
        cases[name] = write_record(d, name, ecg)
        _rewrite_record_line(cases[name], f"{name} 1 {fs} {n}")

    # .mat signal files: a WFDB (MATLAB level 4) one, text named .mat, and one whose MATLAB header disagrees.
    adu16 = np.round(ecg * GAIN).astype("<i2")
    cases["mat_v4"] = write_mat_record(d, "mat_v4", adu16)
    cases["mat_text"] = write_mat_record(d, "mat_text", adu16)
    (d / "mat_text.mat").write_bytes((b"this is text, not MATLAB data\n" * n)[: 24 + 2 * n])
    cases["mat_wrong_size"] = write_mat_record(d, "mat_wrong_size", adu16, mat_columns=n - 100)

    # Signal files that are no regular files: a FIFO, and a link to /dev/zero (endless zeros).
    cases["dat_fifo"] = write_record(d, "dat_fifo", ecg)
    (d / "dat_fifo.dat").unlink()
    os.mkfifo(d / "dat_fifo.dat")
    cases["dat_dev_zero"] = write_record(d, "dat_dev_zero", ecg)
    (d / "dat_dev_zero.dat").unlink()
    (d / "dat_dev_zero.dat").symlink_to("/dev/zero")

    # A 1 GB sparse header: refused by its size, never read.
    cases["header_1gb"] = d / "header_1gb.hea"
    with cases["header_1gb"].open("wb") as handle:
        handle.truncate(2**30)

    # Multi-segment records (in their own folder, beside their segments): fixed and variable layout,
    # a layout that names itself, and one naming a missing segment.
    m = root / "multi"
    for i, half in enumerate((ecg[: n // 2], ecg[n // 2 :]), 1):
        write_record(m, f"seg{i}", half)
    write_header(m, "layout", f"layout 1 {FS:g} 0\n~ 16 {GAIN:g}/mV 16 0 0 0 0 II\n")
    segments = f"seg1 {n // 2}\nseg2 {n - n // 2}\n"
    cases["multi_fixed"] = write_header(m, "multi_fixed", f"multi_fixed/2 1 {FS:g} {n}\n{segments}")
    cases["multi_variable"] = write_header(m, "multi_variable", f"multi_variable/3 1 {FS:g} {n}\nlayout 0\n{segments}")
    cases["multi_self"] = write_header(
        m, "multi_self", f"multi_self/2 1 {FS:g} {n}\nmulti_self {n // 2}\nseg2 {n // 2}\n"
    )
    cases["multi_missing"] = write_header(
        m, "multi_missing", f"multi_missing/2 1 {FS:g} {n}\nseg1 {n // 2}\nghost {n // 2}\n"
    )

    cases["bp_only"] = write_record(d, "bp_only", 90 + 20 * np.sin(2 * np.pi * t), sig_names=("ABP",), units=("mmHg",))
    return cases


def write_mat_record(directory: Path, name: str, adu: np.ndarray, mat_columns: int | None = None) -> Path:
    """Write a one-lead record with a ``.mat`` signal file as WFDB writes it (MATLAB level 4, int16).

    ``mat_columns`` (default: the samples) is the column count the MATLAB header declares.
    """
    n = len(adu)
    mat_header = np.array([30, 1, n if mat_columns is None else mat_columns, 0, 4], dtype="<i4").tobytes()
    (directory / f"{name}.mat").write_bytes(mat_header + b"val\0" + adu.astype("<i2").tobytes())
    text = f"{name} 1 {FS:g} {n}\n{name}.mat 16+24 {GAIN:g}/mV 16 0 0 0 0 II\n"
    return write_header(directory, name, text)


def _rewrite_record_line(header: Path, record_line: str) -> None:
    lines = header.read_text().splitlines()
    header.write_text("\n".join([record_line, *lines[1:]]) + "\n")


def write_tiny_weights(path: Path, variant: str = "se", seed: int = 0) -> Path:
    """Save a tiny ECGCNN of ``variant`` as an afdetect weights file; return ``path``."""
    import torch

    from afdetect.models.registry import create_model
    from afdetect.models.weights import save_weights

    torch.manual_seed(seed)
    model = create_model(variant, channels=(4, 8), lstm_hidden=8, lstm_layers=1)
    save_weights(path, model, variant, 0.5, {})
    return path
