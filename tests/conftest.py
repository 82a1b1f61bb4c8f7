"""Shared fixtures: synthetic WFDB records, a tiny model's weights, a small windows file, real data.

Session-scoped record fixtures are shared by many tests: never modify their files (copy
them first with :func:`synth.copy_record`). Use ``record_factory`` for a record of your own.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).resolve().parent))

with warnings.catch_warnings():  # wfdb's import raises pandas deprecation notices
    warnings.simplefilter("ignore")
    import synth

from afdetect.config import MODEL_FS, window_samples
from afdetect.detect import inference

REPO_ROOT = Path(__file__).resolve().parent.parent

# Property tests explore new random examples locally; in CI they replay a fixed sequence so a
# run cannot fail on an example nobody has seen before.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

TINY_MODEL: dict[str, object] = {"channels": (4, 8), "lstm_hidden": 8, "lstm_layers": 1}
"""Config overrides of a tiny ECGCNN (a few thousand parameters; milliseconds per batch)."""

CINC_LIKE_DURATIONS_S: tuple[float, ...] = (30.0, 45.0, 20.0, 30.0)
"""Durations of the records of each class in ``cinc_like_dir``: 1 + 2 + 1 (padded) + 1 windows."""


@pytest.fixture(autouse=True)
def _restore_inference_threads() -> Iterator[None]:
    """CLI commands run in-process set process-wide thread counts; give every test the defaults back."""
    yield
    inference._scoring_threads = 1
    torch.set_num_threads(inference.DEFAULT_THREADS)


@pytest.fixture(scope="session")
def cinc_like_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of 1-lead 300 Hz ``.mat`` records (4 sinus ``N``, 4 AF ``A``) with REFERENCE.csv and RECORDS.

    Records ``S0..S3`` are sinus, ``F0..F3`` AF, with durations ``CINC_LIKE_DURATIONS_S``
    (5 windows per class, 10 in all).
    """
    directory = tmp_path_factory.mktemp("cinc_like")
    labels = {}
    for i, duration in enumerate(CINC_LIKE_DURATIONS_S):
        for prefix, rhythm, label in (("S", "sinus", "N"), ("F", "af", "A")):
            name = f"{prefix}{i}"
            signal = synth.ecg_signal(300, duration, rhythm, hr_bpm=65 + 5 * i, seed=100 + i)
            synth.write_mat_record(directory, name, 300, signal, ["ECG"])
            labels[name] = label
    synth.write_reference_csv(directory, labels)
    synth.write_records_file(directory, sorted(labels))
    return directory


@pytest.fixture(scope="session")
def sinus_record(cinc_like_dir: Path) -> Path:
    """1-lead 300 Hz 30 s sinus record (``.mat``, CinC 2017 style)."""
    return cinc_like_dir / "S0"


@pytest.fixture(scope="session")
def af_record(cinc_like_dir: Path) -> Path:
    """1-lead 300 Hz 30 s AF record (``.mat``, CinC 2017 style)."""
    return cinc_like_dir / "F0"


@pytest.fixture(scope="session")
def mat12_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12-lead 500 Hz 70 s ``.mat`` record (CinC 2020 / PTB-XL style): windows at 0, 15, 30 and a 25 s tail at 45 s."""
    directory = tmp_path_factory.mktemp("mat12")
    signal = synth.multi_lead(synth.ecg_signal(500, 70, "af", seed=3), 12, seed=3)
    return synth.write_mat_record(directory, "A0001", 500, signal, comments=["Age: 74", "Sex: Male", "Dx: 164889003"])


FMT212_SEGMENTS: tuple[tuple[str, float], ...] = (("sinus", 40.0), ("af", 60.0), ("flutter", 20.0), ("sinus", 20.0))
"""Rhythm segments of ``fmt212_record`` (140 s: N 0-40, AFIB 40-100, AFL 100-120, N 120-140)."""


@pytest.fixture(scope="session")
def fmt212_record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2-lead (MLII, V1) 250 Hz format-212 record of ``FMT212_SEGMENTS`` with ``.atr`` rhythm changes and beats."""
    directory = tmp_path_factory.mktemp("fmt212")
    ecg = synth.rhythm_signal(250, FMT212_SEGMENTS, seed=7)
    record = synth.write_record(
        directory, "afdb1", 250, synth.multi_lead(ecg.signal, 2, seed=7), ["MLII", "V1"], fmt="212"
    )
    synth.write_rhythm_annotations(record, ecg.changes, 250, beat_times=ecg.beat_times_s)
    return record


@pytest.fixture(scope="session")
def record_128(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1-lead 128 Hz 40 s sinus record (format 16)."""
    directory = tmp_path_factory.mktemp("fs128")
    return synth.write_record(directory, "r128", 128, synth.ecg_signal(128, 40, seed=11), ["ECG"])


@pytest.fixture(scope="session")
def record_360(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2-lead (MLII, V5) 360 Hz 40 s AF record (format 212, MIT-BIH Arrhythmia style)."""
    directory = tmp_path_factory.mktemp("fs360")
    signal = synth.multi_lead(synth.ecg_signal(360, 40, "af", seed=12), 2, seed=12)
    return synth.write_record(directory, "r360", 360, signal, ["MLII", "V5"], fmt="212")


@pytest.fixture
def record_factory(tmp_path: Path) -> Callable[..., Path]:
    """Make a record in this test's ``tmp_path``: ``record_factory(name, fs, signal_mv, **write_record_kwargs)``."""

    def make(name: str, fs: float, signal_mv: np.ndarray, **kwargs: object) -> Path:
        return synth.write_record(tmp_path / "records", name, fs, signal_mv, **kwargs)

    return make


@pytest.fixture(scope="session")
def tiny_model_overrides() -> dict[str, object]:
    """Config overrides of a tiny ECGCNN (pass to ``create_model`` or ``TrainConfig.model_overrides``)."""
    return dict(TINY_MODEL)


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Weights file of an untrained tiny ``se`` model (threshold 0.5), saved with ``save_weights``."""
    import torch

    from afdetect.models.registry import create_model
    from afdetect.models.weights import save_weights

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "tiny_se.pt"
    save_weights(path, create_model("se", **TINY_MODEL), "se", 0.5, {"val_records": [], "test_records": []})
    return path


@pytest.fixture(scope="session")
def windows_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small windows file: 12 records (6 AF, 6 non-AF) × 2 conditioned windows at ``MODEL_FS``, plus
    one ignored (label -1) window in record 0."""
    from afdetect.signal.conditioning import bandpass, normalise
    from afdetect.training.cache import WindowSet, save_window_set

    n_samples = window_samples(MODEL_FS)
    windows, labels, index, starts = [], [], [], []
    names, record_labels = [], []
    for r in range(12):
        af = r % 2
        for w in range(2):
            signal = synth.ecg_signal(MODEL_FS, 30, "af" if af else "sinus", hr_bpm=60 + 3 * r, seed=1000 + 10 * r + w)
            windows.append(normalise(bandpass(signal[None, :n_samples]))[0])
            labels.append(af)
            index.append(r)
            starts.append(15.0 * w)
        names.append(f"synth/R{r:02d}")
        record_labels.append("A" if af else "N")
    windows.append(windows[0])
    labels.append(-1)
    index.append(0)
    starts.append(30.0)
    ws = WindowSet(
        windows=np.asarray(windows, dtype=np.float16),
        labels=np.asarray(labels),
        record_index=np.asarray(index),
        start_s=np.asarray(starts, dtype=np.float32),
        end_s=np.asarray(starts, dtype=np.float32) + 30,
        records=np.asarray(names),
        record_labels=np.asarray(record_labels),
        provenance={"source": "tests/conftest.py windows_file"},
    )
    path = tmp_path_factory.mktemp("windows") / "windows.npz"
    save_window_set(ws, path)
    return path


@pytest.fixture(scope="session")
def featured_windows(windows_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared small windows file with its rhythm features cached (as ``preprocess`` writes them)."""
    from afdetect.signal.features import FEATURE_NAMES, FEATURES_VERSION, rhythm_features
    from afdetect.training.cache import load_window_set, save_window_set

    ws = load_window_set(windows_file, mmap=False)
    ws.features = rhythm_features(np.asarray(ws.windows, dtype=np.float32), MODEL_FS)
    ws.provenance = {**ws.provenance, "feature_names": list(FEATURE_NAMES), "features_version": FEATURES_VERSION}
    path = tmp_path_factory.mktemp("featured") / "windows.npz"
    save_window_set(ws, path)
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path of the shared PhysioNet data (``$AFDETECT_DATA`` or ``../shared/data``); skip when absent."""
    path = Path(os.environ.get("AFDETECT_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not (path / "cinc2017").is_dir() or not (path / "cpsc2021").is_dir():
        pytest.skip("../shared/data not found: real-data tests need the shared PhysioNet data")
    return path


def pytest_configure(config: pytest.Config) -> None:
    """Silence pandas' deprecation notices raised inside wfdb (not ours to fix)."""
    config.addinivalue_line("filterwarnings", "ignore:The inplace keyword in DataFrame")


def load_benchmark(name: str) -> ModuleType:
    """Import ``benchmarks/NAME.py`` as a module (with ``benchmarks/`` importable, as when run)."""
    folder = str(REPO_ROOT / "benchmarks")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def trees_file(windows_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Trees trained on ``windows_file`` with a recipe small data can grow (split 60/20/20 by record)."""
    from afdetect.models.trees import TreesRecipe
    from afdetect.training.cache import load_window_set
    from afdetect.training.options import TrainConfig
    from afdetect.training.trees import train_trees

    out_dir = tmp_path_factory.mktemp("trees")
    config = TrainConfig(data=windows_file, out_dir=out_dir, val_fraction=0.2, test_fraction=0.2)
    recipe = TreesRecipe(n_trees=30, num_leaves=4, min_data_in_leaf=2)
    summary = train_trees(config, load_window_set(windows_file), recipe=recipe, threads=1)
    assert 0 < summary["threshold"] < 1
    return out_dir / "best.json"
