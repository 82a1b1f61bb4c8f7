"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or Ctrl-C therefore never leaves a partial file under the final name.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from afdetect.errors import UsageError


def check_writable(path: str | Path) -> Path:
    """Validate that ``path`` can be created: its directory exists and is writable.

    Raises
    ------
    UsageError
        Naming the path and what is wrong with it.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path()
    if not parent.is_dir():
        raise UsageError(path, f"output directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(path, f"output directory {parent} is not writable")
    if path.is_dir():
        raise UsageError(path, "output path is a directory, expected a file name")
    return path


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; rename it to ``path`` on success.

    Example
    -------
    >>> with atomic_path("out.npz") as tmp:  # doctest: +SKIP
    ...     np.savez(tmp, x=x)
    """
    path = check_writable(path)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent or ".")
    os.close(fd)
    tmp = Path(tmp_name)
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o666 & ~umask)
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs: object) -> Iterator[IO]:
    """Open a temporary file for writing; it replaces ``path`` only when the block succeeds."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as handle:  # noqa: PTH123
        yield handle
