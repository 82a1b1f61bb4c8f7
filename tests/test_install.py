"""Packaging: a wheel carries the shipped weights, and a non-editable install predicts with them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

SHIPPED = ("SHA256SUMS", "ecgcnn_se.pt", "ecgcnn_l.pt", "rhythm_trees.json", "MODEL_CARD.md")


def _source_copy(destination: Path) -> Path:
    """A copy of the project's source (tracked and new files, no build outputs) in ``destination``."""
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO_ROOT, capture_output=True, check=False
    )
    if listed.returncode != 0:  # not a git checkout (an sdist): copy all but build outputs
        ignore = shutil.ignore_patterns("build", "dist", "*.egg-info", "__pycache__", ".*cache*", "*.npz")
        shutil.copytree(REPO_ROOT, destination, ignore=ignore)
        return destination
    for name in listed.stdout.decode().split("\0"):
        source = REPO_ROOT / name
        if name and source.is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, destination / name)
    return destination


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built offline from a copy of the source."""
    root = tmp_path_factory.mktemp("install")
    source = _source_copy(root / "src")
    command = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation"]
    built = subprocess.run(
        [*command, "-w", str(root / "dist"), "."],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    wheels = sorted((root / "dist").glob("afdetect-*.whl"))
    if built.returncode != 0 or not wheels:
        pytest.skip(f"cannot build the wheel here (pip wheel: {(built.stderr or built.stdout).strip()[-300:]})")
    return wheels[0]


def test_wheel_ships_the_weights_as_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for name in SHIPPED:
        assert f"afdetect/weights/{name}" in names


def test_wheel_installed_outside_the_checkout_predicts(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot create a virtual environment here ({made.stderr.strip()[-300:]})")
    python = venv / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AFDETECT_DATA")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    installed = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert installed.returncode == 0, installed.stderr
    where = subprocess.run(
        [str(python), "-c", "import afdetect.models.weights as w; print(w.__file__); print(w.WEIGHTS_DIR)"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert Path(where[0]).is_relative_to(venv), where  # the installed copy, not the checkout
    assert Path(where[1]) == Path(where[0]).parents[1] / "weights", where
    afdetect = str(venv / "bin" / "afdetect")
    example = subprocess.run([afdetect, "example", "ex"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert example.returncode == 0, example.stderr
    predicted = subprocess.run(
        [afdetect, "predict", "ex", "-o", "-"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert predicted.returncode == 0, predicted.stderr
    rows = predicted.stdout.splitlines()
    assert rows[0].startswith("record,start_s,end_s,label,p_af")
    assert any(",AF," in row for row in rows[1:]), predicted.stdout
