"""The shipped model files and their ``SHA256SUMS`` manifest (no torch, no LightGBM).

Every model file afdetect ships (ECGCNN weights ``*.pt``, rhythm trees ``*.json``) lies in one
folder with a ``SHA256SUMS`` manifest in ``sha256sum`` format; loading a listed file whose
digest differs fails. Kept apart from the file formats (:mod:`afdetect.models.weights`,
:mod:`afdetect.models.trees`) so that finding and checking files imports neither torch nor
LightGBM.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path

from afdetect.errors import UsageError
from afdetect.io.atomic import atomic_path

MANIFEST = "SHA256SUMS"
MODEL_FILE_PATTERNS: tuple[str, ...] = ("*.pt", "*.json")
"""Model files the manifest lists: ECGCNN weights and trees files (:mod:`afdetect.models.trees`)."""


CHECKOUT_WEIGHTS = Path(__file__).resolve().parents[2] / "weights"
"""``weights/`` beside the package in a checkout (and so in an editable install)."""


def shipped_weights_dir() -> Path:
    """Folder of the shipped weights: the package data ``afdetect/weights`` of an installed wheel,
    else the checkout's top-level ``weights/`` (the build copies it into the wheel, see ``setup.py``).
    """
    packaged = resources.files("afdetect").joinpath("weights")
    if isinstance(packaged, Path) and (packaged / MANIFEST).is_file():
        return packaged
    return CHECKOUT_WEIGHTS


WEIGHTS_DIR = shipped_weights_dir()
"""Folder of the shipped weights (package data, or ``weights/`` of the checkout)."""


def shipped_digests() -> dict[str, str]:
    """SHA-256 digests of the shipped model files, as their ``SHA256SUMS`` lists them (empty without one).

    Example
    -------
    >>> sorted(shipped_digests())
    ['ecgcnn_l.pt', 'ecgcnn_se.pt', 'resnet1d.pt', 'rhythm_trees.json']
    """
    manifest = WEIGHTS_DIR / MANIFEST
    if not manifest.is_file():
        return {}
    parts = (line.split() for line in manifest.read_text().splitlines())
    return {p[1].lstrip("*"): p[0] for p in parts if len(p) == 2}


def sha256(path: str | Path) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_manifest(directory: str | Path) -> Path:
    """Write ``SHA256SUMS`` (``sha256sum`` format) for every model file (``*.pt``, ``*.json``) in ``directory``."""
    directory = Path(directory)
    files = sorted(p for pattern in MODEL_FILE_PATTERNS for p in directory.glob(pattern))
    lines = [f"{sha256(p)}  {p.name}\n" for p in files]
    manifest = directory / MANIFEST
    with atomic_path(manifest) as tmp:
        tmp.write_text("".join(lines))
    return manifest


def update_manifest(path: str | Path) -> bool:
    """Set the digest of ``path`` in the ``SHA256SUMS`` beside it, when that lists it (after a model
    file was rewritten on purpose, e.g. calibrated); other entries are left as they are.

    Returns
    -------
    bool
        Whether the manifest listed the file (and was rewritten).

    Example
    -------
    >>> update_manifest("weights/ecgcnn_se.pt")  # doctest: +SKIP
    True
    """
    path = Path(path)
    manifest = path.parent / MANIFEST
    if not manifest.is_file():
        return False
    lines = manifest.read_text().splitlines()
    listed = [i for i, line in enumerate(lines) if _listed_name(line) == path.name]
    for i in listed:
        lines[i] = f"{sha256(path)}  {path.name}"
    if listed:
        with atomic_path(manifest) as tmp:
            tmp.write_text("".join(f"{line}\n" for line in lines))
    return bool(listed)


def _listed_name(line: str) -> str | None:
    """The file name a ``sha256sum`` line lists (``None`` for a line that is not one)."""
    parts = line.split()
    return parts[1].lstrip("*") if len(parts) == 2 else None


def verify_manifest(path: str | Path) -> bool | None:
    """Check a weights file against the ``SHA256SUMS`` beside it.

    Returns
    -------
    bool or None
        ``True`` when listed and matching, ``None`` when not listed (no manifest, or a
        user's own file).

    Raises
    ------
    UsageError
        When the manifest lists the file with another digest.
    """
    path = Path(path)
    manifest = path.parent / MANIFEST
    if not manifest.is_file():
        return None
    for line in manifest.read_text().splitlines():
        if _listed_name(line) == path.name:
            if line.split()[0] != sha256(path):
                raise UsageError(path, f"sha256 does not match {manifest} (file corrupted or replaced)")
            return True
    return None
