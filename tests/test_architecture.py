"""The package layout: one subpackage per stage of the data flow, data flowing one way.

Stages, lowest first (a module may import its own stage and lower ones, never a higher one)::

    config, errors (loose)  →  io  →  signal  →  models  →  detect  →  rhythm
        →  evaluate / training / viz  →  cli
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "afdetect"

STAGES: dict[str, int] = {
    "io": 1,
    "signal": 2,
    "models": 3,
    "detect": 4,
    "rhythm": 5,
    "evaluate": 6,
    "training": 6,
    "viz": 6,
    "cli": 7,
}
"""Rank of each stage subpackage; the loose top-level modules rank 0 (importable by all)."""

MAX_LOOSE_MODULES = 6

ENTRY_POINT = "afdetect.__main__"
"""``python -m afdetect``: above every stage (it runs the CLI)."""


def stage_of(module: str) -> int:
    """Rank of a dotted ``afdetect`` module name (``afdetect.io.header`` → 1)."""
    if module == ENTRY_POINT:
        return max(STAGES.values()) + 1
    parts = module.split(".")
    return STAGES.get(parts[1], 0) if len(parts) > 1 else 0


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def afdetect_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` of every afdetect import in a file, top-level or inside functions."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "afdetect"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "afdetect":
                found += [(node.lineno, f"afdetect.{a.name}") for a in node.names]
            elif node.module.startswith("afdetect."):
                found.append((node.lineno, node.module))
    return found


def upward_imports(root: Path) -> list[str]:
    """Every import of a higher stage, as ``path:line: importer -> imported``."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        importer = module_name(path)
        for line, imported in afdetect_imports(path):
            if stage_of(imported) > stage_of(importer):
                bad.append(f"{path.relative_to(root.parent)}:{line}: {importer} -> {imported}")
    return bad


def test_every_subpackage_is_a_known_stage() -> None:
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert packages == set(STAGES)


def test_no_module_imports_a_higher_stage() -> None:
    assert upward_imports(PACKAGE) == []


def test_few_loose_top_level_modules() -> None:
    loose = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(loose) <= MAX_LOOSE_MODULES, loose


@pytest.mark.parametrize(
    ("module", "stage"),
    [("afdetect.config", 0), ("afdetect.io.header", 1), ("afdetect.detect.rr", 4), ("afdetect.cli", 7)],
)
def test_stage_of(module: str, stage: int) -> None:
    assert stage_of(module) == stage
