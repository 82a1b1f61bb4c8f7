"""Atomic file output: write to a temporary file beside the target, then rename.

JSON goes through :func:`write_json`: strict JSON, undefined numbers (NaN, inf) as ``null``.

A crash or Ctrl-C therefore never leaves a partial file under the final name. Special files
(``/dev/null``, ``/dev/stdout``, a FIFO) are written in place, never replaced.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from afdetect.errors import OutputError, UsageError


def check_writable(path: str | Path) -> Path:
    """Validate that ``path`` can be created: its directory exists and is writable.

    Raises
    ------
    UsageError
        Naming the path and what is wrong with it.
    """
    path = Path(path)
    if is_special_file(path):
        if not os.access(path, os.W_OK):
            raise UsageError(path, "output is not writable")
        return path
    parent = path.parent if str(path.parent) else Path()
    if not parent.is_dir():
        raise UsageError(path, f"output directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(path, f"output directory {parent} is not writable")
    if path.is_dir():
        raise UsageError(path, "output path is a directory, expected a file name")
    return path


def check_outputs_apart(outputs: Iterable[str | Path | None], inputs: Iterable[str | Path]) -> None:
    """Refuse any output that is one of the run's input files (compared by resolved path).

    ``None`` and ``-`` (stdout) outputs are skipped.

    Raises
    ------
    UsageError
        Naming the output and the input it would replace.

    Example
    -------
    >>> check_outputs_apart(["out.csv", None, "-"], ["rec.hea", "rec.dat"])
    >>> check_outputs_apart(["./rec.dat"], ["rec.hea", "rec.dat"])
    Traceback (most recent call last):
    ...
    afdetect.errors.UsageError: rec.dat: output would replace rec.dat, an input of this run; choose another output path
    """
    resolved: dict[str, str | Path] = {}
    folders: dict[str, str] = {}
    for path in inputs:
        with contextlib.suppress(OSError, ValueError):  # a name no file can have (a NUL byte) is no clash
            key = _resolve(os.fspath(path), folders)
            if key not in resolved:
                resolved[key] = path
    for output in outputs:
        if output is None or str(output) == "-":
            continue
        clash = resolved.get(os.path.realpath(output))
        if clash is not None:
            raise UsageError(
                Path(output), f"output would replace {Path(clash)}, an input of this run; choose another output path"
            )


def _resolve(path: str, folders: dict[str, str]) -> str:
    """``os.path.realpath(path)``, its folder resolved once for all the files in it (``folders`` caches them).

    A file that is not a symbolic link resolves to its resolved folder plus its name (whether
    it exists or not); a link, ``.`` or ``..`` is resolved in full. Plain strings: a folder of
    thousands of records is checked without a ``Path`` per file.
    """
    folder, name = os.path.split(path)
    if name in ("", ".", "..") or os.path.islink(path):  # noqa: PTH114 (strings: no Path per file)
        return os.path.realpath(path)
    real = folders.get(folder)
    if real is None:
        real = folders[folder] = os.path.realpath(folder or os.curdir)
    return os.path.join(real, name)  # noqa: PTH118 (as above)


def is_special_file(path: str | Path) -> bool:
    """Whether ``path`` exists and is neither a regular file nor a directory (``/dev/null``, a FIFO).

    Such outputs are written in place: renaming a temporary file over them would replace the
    device or pipe with a regular file.

    Example
    -------
    >>> is_special_file("/dev/null"), is_special_file("out.csv")
    (True, False)
    """
    path = Path(path)
    return path.exists() and not path.is_file() and not path.is_dir()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it to ``path`` on success.

    Example
    -------
    >>> with atomic_path("out.npz") as tmp:  # doctest: +SKIP
    ...     np.savez(tmp, x=x)
    """
    path = check_writable(path)
    if is_special_file(path):  # /dev/null, /dev/stdout, a FIFO: write in place, never replace it
        try:
            yield path
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise write_error(path, exc) from None
        return
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    except OSError as exc:  # e.g. root on a read-only or special file system, where os.access says yes
        raise UsageError(path, f"cannot create a file in {path.parent}: {exc.strerror or exc}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        try:
            yield tmp
            tmp.replace(path)
        except BrokenPipeError:
            raise
        except OSError as exc:  # disk full, quota, I/O error: one line, and no partial file
            raise write_error(path, exc) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_error(path: str | Path, exc: OSError) -> OutputError:
    """The :class:`OutputError` of a failed write to ``path``.

    Example
    -------
    >>> import errno
    >>> str(write_error("/dev/full", OSError(errno.ENOSPC, "No space left on device")))
    '/dev/full: cannot write the output: No space left on device'
    """
    return OutputError(path, f"cannot write the output: {exc.strerror or exc}")


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: object) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``path`` only when the block succeeds.

    A write error (also one that only shows when the file is closed) raises :class:`OutputError`.
    """
    with atomic_path(path) as tmp:
        handle = open(tmp, mode, **kwargs)  # noqa: PTH123, SIM115 (closed below, its errors reworded)
        try:
            yield handle
        except BaseException:
            with contextlib.suppress(OSError):  # the block's own error is the one to report
                handle.close()
            raise
        try:
            handle.close()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise write_error(path, exc) from None


def json_safe(value: Any) -> Any:
    """Plain JSON types: NaN and infinities become ``None``, NumPy scalars Python ones.

    Example
    -------
    >>> json_safe({"auroc": float("nan"), "n": np.int64(3), "f1": [0.5, float("inf")]})
    {'auroc': None, 'n': 3, 'f1': [0.5, None]}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    return value


def write_json(path: str | Path, value: Any) -> None:
    """Write ``value`` as strict JSON (``null``, never ``NaN``), atomically, with a final newline."""
    with atomic_open(path) as handle:
        json.dump(json_safe(value), handle, indent=2, allow_nan=False)
        handle.write("\n")
