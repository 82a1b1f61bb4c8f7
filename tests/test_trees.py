"""Rhythm trees (--method trees): training, the trees file, scoring, CLI."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from afdetect.config import CINC_CLASSES, DEFAULT_PREPROCESSING
from afdetect.detect.predictor import DEFAULT_METHOD, Predictor, resolve_method
from afdetect.errors import UsageError
from afdetect.evaluate.records import challenge_score
from afdetect.io.synthetic import ecg_signal
from afdetect.models.files import sha256
from afdetect.models.trees import default_trees, load_trees
from afdetect.signal.conditioning import condition_windows
from afdetect.signal.features import FEATURE_NAMES, FEATURES_VERSION, rhythm_features
from afdetect.training.cache import load_window_set
from afdetect.training.trees import window_feature_matrix


def conditioned(rhythm: str, seed: int) -> np.ndarray:
    raw = ecg_signal(250, 30, rhythm, hr_bpm=72, seed=seed)[None, :]
    return condition_windows(raw, np.array([raw.shape[1]]), 250)[0]


def test_trained_trees_tell_af_from_sinus(trees_file: Path):
    predictor = Predictor.from_trees(trees_file)
    af = np.concatenate([conditioned("af", s) for s in range(3)])
    sinus = np.concatenate([conditioned("sinus", s) for s in range(3)])
    assert predictor.scorer(af).min() > predictor.scorer(sinus).max()
    assert predictor.meta["model"] == "rhythm_trees"


def test_trees_file_records_split_features_and_preprocessing(trees_file: Path, windows_file: Path):
    _, meta = load_trees(trees_file)
    ws = load_window_set(windows_file)
    assert meta["feature_names"] == list(FEATURE_NAMES)
    assert meta["features_version"] == FEATURES_VERSION
    assert meta["classes"] == list(CINC_CLASSES)
    assert meta["preprocessing"] == ws.preprocessing.to_dict()
    val, test = set(meta["training"]["val_records"]), set(meta["training"]["test_records"])
    assert val and test and not val & test
    assert meta["training"]["train_records"] + len(val) + len(test) == len(ws.records)


def test_eval_on_the_test_split_of_the_trees(trees_file: Path, windows_file: Path, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "afdetect", "eval", str(windows_file), "--method", "trees", "--weights",
         str(trees_file), "--split", "test", "--out-dir", str(tmp_path)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    n_test = len(load_trees(trees_file)[1]["training"]["test_records"])
    assert metrics["record"]["n"] == n_test
    # The records carry CinC labels and the trees give four classes: the challenge score is reported.
    challenge = metrics["challenge"]
    assert set(challenge) == {"f1_N", "f1_A", "f1_O", "mean"}
    assert challenge["f1_A"] == pytest.approx(metrics["record"]["f1"])  # A: the records the detector calls AF
    assert challenge["f1_O"] is None and challenge["mean"] is None  # these records hold no "other rhythm"
    assert f"CinC 2017 challenge F1(N, A, O) – (N {challenge['f1_N'] * 100:.1f} %" in result.stdout


def test_challenge_score_needs_class_probabilities_and_cinc_labels():
    class_p = np.array([[0.8, 0.1, 0.05, 0.05], [0.1, 0.8, 0.05, 0.05], [0.2, 0.1, 0.6, 0.1]])
    record_of, p_af = np.array([0, 1, 2]), class_p[:, 1]
    score = challenge_score(class_p, record_of, p_af, 0.5, np.array(["N", "A", "O"]))
    assert score == {"f1_N": 1.0, "f1_A": 1.0, "f1_O": 1.0, "mean": 1.0}
    assert challenge_score(None, record_of, p_af, 0.5, np.array(["N", "A", "O"])) is None
    assert challenge_score(class_p, record_of, p_af, 0.5, np.array(["rhythm", "A", "O"])) is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not JSON"),
        (b'{"format": "afdetect-weights"}', "no 'afdetect-trees' format tag"),
        (b'{"format": "afdetect-trees", "format_version": 99}', "trees format version 99 unsupported"),
        (
            b'{"format": "afdetect-trees", "format_version": 1, "feature_names": ["hr"], "classes": ["N", "A"]}',
            "made for other features or classes",
        ),
    ],
)
def test_bad_trees_files_are_refused_with_the_reason(tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=message):
        load_trees(path)


def test_missing_and_tampered_trees_files_are_refused(trees_file: Path, tmp_path: Path):
    with pytest.raises(UsageError, match="trees file not found"):
        load_trees(tmp_path / "none.json")
    copy = tmp_path / "rhythm_trees.json"
    copy.write_bytes(trees_file.read_bytes())
    (tmp_path / "SHA256SUMS").write_text(f"{'0' * 64}  rhythm_trees.json\n")
    with pytest.raises(UsageError, match="sha256 does not match"):
        load_trees(copy)


def test_shipped_trees_match_the_manifest_and_this_version():
    path = default_trees()
    manifest = (path.parent / "SHA256SUMS").read_text()
    assert f"{sha256(path)}  {path.name}" in manifest
    members, meta = load_trees(path)
    assert meta["preprocessing"] == DEFAULT_PREPROCESSING.to_dict()
    assert all(member.booster.num_feature() == len(FEATURE_NAMES) for member in members)
    assert meta["threshold"] == pytest.approx(np.mean([member.threshold for member in members]))
    assert meta["features_version"] == FEATURES_VERSION  # trained on the features predict computes
    assert 0 < meta["threshold"] < 1


def test_trees_train_on_cached_features_only_of_this_version(windows_file: Path):
    ws = load_window_set(windows_file, mmap=False)
    computed = rhythm_features(np.asarray(ws.windows, dtype=np.float32), ws.preprocessing.model_fs)
    current = {"feature_names": list(FEATURE_NAMES), "features_version": FEATURES_VERSION}
    marked = np.full_like(computed, 7.0)  # a cache that is not what this version computes
    cached = dataclasses.replace(ws, features=marked, provenance={**ws.provenance, **current})
    np.testing.assert_array_equal(window_feature_matrix(cached), marked)
    for stale in ({**current, "features_version": FEATURES_VERSION - 1}, {"feature_names": list(FEATURE_NAMES)}):
        older = dataclasses.replace(ws, features=marked, provenance={**ws.provenance, **stale})
        np.testing.assert_allclose(window_feature_matrix(older), computed, equal_nan=True)


def test_predict_method_trees_finds_the_af_of_the_example_record(tmp_path: Path):
    subprocess.run([sys.executable, "-m", "afdetect", "example", str(tmp_path)], check=True, capture_output=True)
    episodes = tmp_path / "episodes.csv"
    result = subprocess.run(
        [sys.executable, "-m", "afdetect", "predict", str(tmp_path / "example"), "--method", "trees", "-o", "-",
         "--episodes", str(episodes)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [line.split(",") for line in result.stdout.strip().splitlines()[1:]]
    inside_af = [label for _, start, end, label, *_ in rows if float(start) >= 180 and float(end) <= 420]
    sinus = [label for _, start, end, label, *_ in rows if float(end) <= 180 or float(start) >= 420]
    assert sinus and set(sinus) == {"non-AF"}
    # The synthetic AF (180-420 s) is called in every window by the shipped trees (features version 4;
    # 14 of 15 on version 3), and the windows join into one episode that covers nearly all of it.
    assert len(inside_af) == 15 and inside_af.count("AF") >= 13
    found = [line.split(",") for line in episodes.read_text().strip().splitlines()[1:]]
    assert len(found) == 1 and float(found[0][1]) <= 195 and float(found[0][2]) >= 405
    default = subprocess.run(
        [sys.executable, "-m", "afdetect", "predict", str(tmp_path / "example"), "-o", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert default.stdout == result.stdout  # the trees are the default method


def test_the_default_method_is_the_trees_unless_a_cnn_is_asked_for():
    assert resolve_method(None) == DEFAULT_METHOD == "trees"
    assert resolve_method(None, weights="runs/trees/best.json") == "trees"
    assert resolve_method(None, variant="l") == "cnn"
    assert resolve_method(None, weights="runs/se/best.pt") == "cnn"
    assert resolve_method("rr", variant="se") == "rr"
    assert Predictor.for_method(None).meta["model"] == "rhythm_trees"
    assert Predictor.for_method(None, variant="l").meta["model"] == "ecgcnn_l"


def test_train_refuses_an_unknown_method(windows_file: Path, tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "afdetect", "train", "--data", str(windows_file), "--method", "forest",
         "--out-dir", str(tmp_path / "run")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "--method must be one of cnn, trees, got 'forest'" in result.stderr
    assert not (tmp_path / "run").exists()


def test_train_output_copy_keeps_a_manifest_beside_it_valid(trees_file: Path, tmp_path: Path):
    from afdetect.cli.training import copy_output

    listed, unlisted = tmp_path / "listed", tmp_path / "unlisted"
    for folder in (listed, unlisted):
        folder.mkdir()
    (listed / "SHA256SUMS").write_text(f"{'0' * 64}  rhythm_trees.json\n{'1' * 64}  other.pt\n")
    copy_output(trees_file, listed / "rhythm_trees.json")
    assert (listed / "SHA256SUMS").read_text() == f"{sha256(trees_file)}  rhythm_trees.json\n{'1' * 64}  other.pt\n"
    load_trees(listed / "rhythm_trees.json")  # verified against the manifest
    copy_output(trees_file, unlisted / "mine.json")  # no manifest: none is made
    assert (unlisted / "mine.json").read_bytes() == trees_file.read_bytes()
    assert not (unlisted / "SHA256SUMS").exists()


def test_trees_predictions_do_not_depend_on_how_rows_are_shared_among_threads(trees_file: Path):
    scorer = Predictor.from_trees(trees_file).scorer
    rows = np.random.default_rng(0).normal(size=(200, len(FEATURE_NAMES)))
    rows[::7, 3] = np.nan
    booster = scorer.members[0].booster
    alone = scorer.predict_rows(booster, rows, threads=1)
    assert alone.shape == (200, len(CINC_CLASSES))
    np.testing.assert_array_equal(scorer.predict_rows(booster, rows, threads=2), alone)
    np.testing.assert_array_equal(scorer.predict_rows(booster, rows, threads=3), alone)
    np.testing.assert_array_equal(scorer.predict_rows(booster, rows[:5], threads=2), alone[:5])


def test_the_run_seed_seeds_the_booster_and_is_recorded(windows_file: Path, tmp_path: Path):
    from afdetect.models.trees import TreesRecipe
    from afdetect.training.options import TrainConfig
    from afdetect.training.trees import train_trees

    ws = load_window_set(windows_file)
    recipe = TreesRecipe(n_trees=30, num_leaves=4, min_data_in_leaf=2, seed=5)

    def boosters_of(seed: int, name: str, members: int = 2) -> tuple[list[str], int, list[int]]:
        config = TrainConfig(
            data=windows_file, out_dir=tmp_path / name, val_fraction=0.2, test_fraction=0.2, seed=seed, split_seed=0
        )
        train_trees(config, ws, recipe=dataclasses.replace(recipe, members=members), threads=1)
        payload = json.loads((tmp_path / name / "best.json").read_text())
        training = payload["training"]
        return [m["booster"] for m in payload["members"]], training["recipe"]["seed"], training["member_seeds"]

    first, again, other = boosters_of(0, "a"), boosters_of(0, "b"), boosters_of(1, "c")
    assert first == again and first[1:] == (0, [0, 1])
    assert first[0][0] != first[0][1]  # each member grows its own trees
    assert other[1:] == (1, [2, 3]) and not set(other[0]) & set(first[0])  # bags of two seeds share no run
    alone = boosters_of(1, "d", members=1)  # a bag of one: the member seeded as the run
    assert alone[1:] == (1, [1]) and alone[0][0] == first[0][1]


def test_a_bag_of_no_runs_is_refused_before_any_training(windows_file: Path, tmp_path: Path):
    from afdetect.errors import ParameterError
    from afdetect.models.trees import TreesRecipe
    from afdetect.training.options import TrainConfig
    from afdetect.training.trees import train_trees

    config = TrainConfig(data=windows_file, out_dir=tmp_path / "none", val_fraction=0.2, test_fraction=0.2)
    with pytest.raises(ParameterError, match="members"):
        train_trees(config, load_window_set(windows_file), recipe=TreesRecipe(n_trees=5, members=0), threads=1)
    assert not (tmp_path / "none" / "best.json").exists()
