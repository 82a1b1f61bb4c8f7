"""Atomic outputs: complete files or nothing under the final name."""

from __future__ import annotations

from pathlib import Path

import pytest

from afdetect.errors import UsageError
from afdetect.io.atomic import atomic_open, atomic_path, check_writable


def test_atomic_open_replaces_only_on_success(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half of the new content")
        raise RuntimeError("crash mid-write")
    assert target.read_text() == "old\n"
    with atomic_open(target) as handle:
        handle.write("new\n")
        assert target.read_text() == "old\n"  # not visible before the block ends
    assert target.read_text() == "new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]  # no temporary files left


def test_atomic_path_gives_a_sibling_temporary_file(tmp_path: Path) -> None:
    with atomic_path(tmp_path / "a.bin") as tmp:
        assert tmp.parent == tmp_path and tmp != tmp_path / "a.bin"
        tmp.write_bytes(b"\x00\x01")
    assert (tmp_path / "a.bin").read_bytes() == b"\x00\x01"


def test_check_writable(tmp_path: Path) -> None:
    assert check_writable(tmp_path / "new.csv") == tmp_path / "new.csv"
    with pytest.raises(UsageError, match="does not exist") as info:
        check_writable(tmp_path / "missing" / "x.csv")
    assert info.value.path == str(tmp_path / "missing" / "x.csv")
    with pytest.raises(UsageError, match="is a directory"):
        check_writable(tmp_path)
