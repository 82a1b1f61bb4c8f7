"""Weights files: round trip, safe loading, refusal of wrong variant / corrupt file / manifest mismatch."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from afdetect.config import DEFAULT_PREPROCESSING, MODEL_FS, window_samples
from afdetect.errors import UsageError
from afdetect.models.files import MANIFEST, sha256, verify_manifest, write_manifest
from afdetect.models.registry import create_model
from afdetect.models.weights import FORMAT, default_weights, load_weights, save_weights


def test_round_trip_gives_the_same_outputs(tmp_path: Path, tiny_model_overrides: dict[str, object]) -> None:
    torch.manual_seed(3)
    model = create_model("l", **tiny_model_overrides).eval()
    path = tmp_path / "w.pt"
    save_weights(path, model, "l", 0.37, {"test_records": ["x/r1"]})
    loaded, meta = load_weights(path, "l")
    assert not loaded.training
    assert meta["model"] == "ecgcnn_l" and meta["format"] == FORMAT
    assert meta["threshold"] == pytest.approx(0.37)
    assert meta["training"] == {"test_records": ["x/r1"]}
    assert meta["preprocessing"] == DEFAULT_PREPROCESSING.to_dict()
    assert "state_dict" not in meta
    x = torch.randn(2, window_samples(MODEL_FS))
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    payload = torch.load(path, weights_only=True)  # plain types only: no pickle needed
    assert list(payload["model_config"]["channels"]) == [4, 8]


def test_refuses_wrong_variant(tiny_weights: Path) -> None:
    load_weights(tiny_weights, "se")
    load_weights(tiny_weights, "ecgcnn_se")
    with pytest.raises(UsageError, match="holds model 'ecgcnn_se', not the requested 'ecgcnn_l'") as info:
        load_weights(tiny_weights, "l")
    assert info.value.path == str(tiny_weights)
    with pytest.raises((ValueError, UsageError), match="unknown model"):
        load_weights(tiny_weights, "resnet18")


def test_refuses_missing_corrupt_and_foreign_files(tmp_path: Path, tiny_weights: Path) -> None:
    with pytest.raises(UsageError, match="weights file not found"):
        load_weights(tmp_path / "none.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage" * 100)
    # The wording differs per kind of damage; every message names the file and says "weights file".
    with pytest.raises(UsageError, match="weights file") as info:
        load_weights(corrupt)
    assert info.value.path == str(corrupt)
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(tiny_weights.read_bytes()[:500])
    with pytest.raises(UsageError, match="weights file"):
        load_weights(truncated)
    empty = tmp_path / "empty.pt"
    empty.touch()
    with pytest.raises(UsageError, match="weights file"):
        load_weights(empty)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(UsageError, match="not an afdetect weights file"):
        load_weights(foreign)


def _touch(path: str) -> None:
    Path(path).touch()


class _RunsCodeWhenUnpickled:
    """Unpickling this calls ``_touch(marker)``: a stand-in for a malicious weights file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return _touch, (str(self.marker),)


def test_refuses_pickled_objects_without_running_them(tmp_path: Path) -> None:
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pt"
    torch.save({"format": FORMAT, "format_version": 1, "obj": _RunsCodeWhenUnpickled(marker)}, path)
    with pytest.raises(UsageError, match="weights file"):
        load_weights(path)
    assert not marker.exists()


def test_refuses_other_version_labels_and_shapes(tmp_path: Path, tiny_weights: Path) -> None:
    payload = torch.load(tiny_weights, weights_only=True)
    cases = {
        "version": ({**payload, "format_version": 99}, "format version 99 unsupported"),
        "labels": ({**payload, "preprocessing": {**payload["preprocessing"], "label_names": ["a", "b"]}}, "labels"),
        "config": ({**payload, "model_config": {**payload["model_config"], "channels": [4, 16]}}, "do not fit"),
    }
    for name, (bad, problem) in cases.items():
        path = tmp_path / f"{name}.pt"
        torch.save(bad, path)
        with pytest.raises(UsageError, match=problem):
            load_weights(path)


def test_manifest_verification(tmp_path: Path, tiny_weights: Path, tiny_model_overrides: dict[str, object]) -> None:
    weights = tmp_path / "ecgcnn_se.pt"
    shutil.copyfile(tiny_weights, weights)
    assert verify_manifest(weights) is None  # no manifest
    manifest = write_manifest(tmp_path)
    assert manifest.name == MANIFEST
    assert manifest.read_text() == f"{sha256(weights)}  ecgcnn_se.pt\n"
    assert verify_manifest(weights) is True
    load_weights(weights, "se")
    # Replace the file: the manifest no longer matches and loading is refused.
    save_weights(weights, create_model("se", **tiny_model_overrides), "se", 0.9, {})
    with pytest.raises(UsageError, match="sha256 does not match"):
        load_weights(weights, "se")
    # A file the manifest does not list is a user's own file: accepted.
    other = tmp_path / "mine.pt"
    shutil.copyfile(tiny_weights, other)
    assert verify_manifest(other) is None
    load_weights(other)


def test_default_weights_paths() -> None:
    assert default_weights("se").name == "ecgcnn_se.pt"
    assert default_weights("l").name == "ecgcnn_l.pt"
    assert default_weights().parent.name == "weights"
    with pytest.raises((ValueError, UsageError), match="unknown model"):
        default_weights("x")


def test_save_is_atomic(tmp_path: Path, tiny_model_overrides: dict[str, object]) -> None:
    model = create_model("se", **tiny_model_overrides)
    with pytest.raises(UsageError, match="does not exist"):
        save_weights(tmp_path / "no_dir" / "w.pt", model, "se", 0.5, {})
    save_weights(tmp_path / "w.pt", model, "se", 0.5, {})
    assert [p.name for p in tmp_path.iterdir()] == ["w.pt"]  # no temporary file left behind


def test_shipped_weights_are_found() -> None:
    """The shipped weights lie in ``weights/`` beside the package (tests that use them must not skip)."""
    for variant in ("se", "l"):
        assert default_weights(variant).is_file()
        assert verify_manifest(default_weights(variant)) is True
