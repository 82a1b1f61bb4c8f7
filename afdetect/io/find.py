"""Find WFDB records: header paths, folders (optionally recursive) and ``RECORDS`` list files.

A bare record name that is not found where given is looked up, as the WFDB tools do, in the
local folders of the ``WFDB`` environment variable (separated by spaces, tabs or ``:``;
URL components are skipped).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from pathlib import Path

from afdetect.errors import RecordError, UsageError


def record_base(path: str | Path) -> Path:
    """Return the record path without extension for ``rec``, ``rec.hea`` or ``rec.dat``."""
    path = Path(path)
    if path.suffix.lower() in {".hea", ".dat", ".mat", ".atr"}:
        return path.with_suffix("")
    return path


def wfdb_search_path(value: str | None = None) -> list[Path]:
    """Local folders of a ``WFDB`` search path (default: the ``WFDB`` environment variable).

    Example
    -------
    >>> wfdb_search_path(". /data/mitdb:/data/afdb https://physionet.org/files")
    [PosixPath('.'), PosixPath('/data/mitdb'), PosixPath('/data/afdb')]
    """
    value = os.environ.get("WFDB", "") if value is None else value
    value = re.sub(r"[a-z][a-z0-9+.-]*://\S*", " ", value, flags=re.IGNORECASE)  # URLs (their ':' too)
    return [Path(part) for part in re.split(r"[\s:]+", value) if part]


def resolve_record(path: str | Path) -> Path | None:
    """The record (path without extension) ``path`` names: as given, else in a ``WFDB`` path folder.

    Returns ``None`` when no ``.hea`` is found.
    """
    base = record_base(path)
    if base.with_suffix(".hea").is_file():
        return base
    if base.is_absolute():
        return None
    for folder in wfdb_search_path():
        candidate = folder / base
        if candidate.with_suffix(".hea").is_file():
            return candidate
    return None


def find_records(inputs: Iterable[str | Path], recursive: bool = False) -> list[Path]:
    """Expand record arguments into record paths (without extension).

    Parameters
    ----------
    inputs : iterable of str or Path
        Each is a record (``rec.hea`` or ``rec``; a relative name not found where given is
        looked up in the ``WFDB`` path's folders), a directory of records (its ``RECORDS``
        file when present, else every ``*.hea``), a ``RECORDS`` file, or ``-`` for record
        paths read from standard input, one a line.
    recursive : bool
        Search directories recursively for ``*.hea``, following symlinked folders (each real
        folder once, so a link loop ends).

    Returns
    -------
    list of Path
        Record paths in the order given (directories sorted), without duplicates.

    Raises
    ------
    RecordError
        For an input that is neither a record, a directory nor a RECORDS file, or a
        directory or RECORDS file that holds no record.
    UsageError
        When standard input (``-``) lists no record.

    Example
    -------
    >>> find_records(["../shared/data/cpsc2021"])  # doctest: +SKIP
    [PosixPath('../shared/data/cpsc2021/data_0_1'), ...]
    """
    found: list[Path] = []
    for item in inputs:
        if str(item) == "-":
            lines = [line.strip() for line in sys.stdin]
            if not any(lines):
                raise UsageError(None, "standard input (-) lists no records")
            found.extend(find_records([line for line in lines if line], recursive))
            continue
        path = Path(item)
        if path.is_dir():
            found.extend(_records_in_directory(path, recursive))
        elif path.is_file() and path.name == "RECORDS":
            found.extend(_records_in_list(path))
        else:
            base = resolve_record(path)
            if base is None:
                what = "no such record" if not path.exists() else "not a WFDB record (.hea)"
                raise RecordError(path, f"{what}: expected a .hea header, a directory or RECORDS")
            found.append(base)
    return list(dict.fromkeys(found))


def _records_in_list(records_file: Path) -> list[Path]:
    names = [line.strip() for line in records_file.read_text().splitlines() if line.strip()]
    if not names:
        raise RecordError(records_file, "RECORDS file lists no records")
    return [record_base(records_file.parent / name) for name in names]


def _records_in_directory(directory: Path, recursive: bool) -> list[Path]:
    if not recursive and (directory / "RECORDS").is_file():
        records = _records_in_list(directory / "RECORDS")
    else:
        headers = _headers_below(directory) if recursive else directory.glob("*.hea")
        records = sorted(record_base(p) for p in headers)
    if not records:
        raise RecordError(directory, "directory holds no WFDB record (*.hea)")
    return records


def _headers_below(directory: Path) -> list[Path]:
    """Every ``*.hea`` below ``directory``, following symlinked folders; each real folder is searched once.

    Remembering each folder by device and inode ends link loops (``L/c -> L``) and keeps a
    folder reached by two links from being listed twice.
    """
    headers: list[Path] = []
    seen: set[tuple[int, int]] = set()
    for root, folders, files in os.walk(directory, followlinks=True):
        try:
            info = Path(root).stat()
        except OSError:
            folders[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:
            folders[:] = []  # a loop, or a folder already searched under another name
            continue
        seen.add((info.st_dev, info.st_ino))
        folders.sort()
        headers.extend(Path(root) / name for name in files if name.endswith(".hea"))
    return headers
