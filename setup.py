"""Build hook: ship the top-level ``weights/`` folder inside the package as ``afdetect/weights``.

``weights/`` stays at the repository root (the source of truth); a wheel (and so ``pip install .``
or ``pipx install .``) gets a copy at ``afdetect/weights/``, which :mod:`afdetect.models.weights`
finds through ``importlib.resources``. An editable install reads the checkout's ``weights/``.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEIGHTS = Path(__file__).resolve().parent / "weights"


class BuildWithWeights(build_py):
    """``build_py`` that also copies ``weights/*`` to ``<build>/afdetect/weights/``."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False) or not WEIGHTS.is_dir():
            return  # an editable install loads the checkout's weights/ directly
        target = Path(self.build_lib) / "afdetect" / "weights"
        target.mkdir(parents=True, exist_ok=True)
        for source in sorted(WEIGHTS.iterdir()):
            if source.is_file():
                shutil.copyfile(source, target / source.name)


setup(cmdclass={"build_py": BuildWithWeights})
