"""ECGCNN on CinC 2017's four classes (``train --classes 4``): targets, training, the weights' class
list, p_af as P(A), the challenge score in ``eval``; two-class weights unchanged (tiny models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import synth
import torch
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.config import AF_CLASS, CINC_CLASSES, LABEL_NAMES, MODEL_CLASSES, MODEL_FS, window_samples
from afdetect.detect.cnn import ModelScorer
from afdetect.detect.predictor import Predictor
from afdetect.errors import EXIT_OK, EXIT_USAGE, UsageError
from afdetect.evaluate.records import evaluate
from afdetect.models.registry import VARIANTS, create_model
from afdetect.models.weights import default_weights, load_weights, save_weights
from afdetect.signal.conditioning import bandpass, normalise
from afdetect.signal.features import FEATURE_NAMES, FEATURES_VERSION, rhythm_features
from afdetect.training.cache import WindowSet, load_window_set, save_window_set
from afdetect.training.distributed import DistContext
from afdetect.training.loop import Trainer, train
from afdetect.training.options import TrainConfig
from afdetect.training.targets import balanced_class_weights, class_targets, four_class_targets

TINY = {"channels": (4, 8), "lstm_hidden": 8, "lstm_layers": 1, "rhythm_size": 4}

RECORDS: tuple[tuple[str, str, tuple[int, int]], ...] = (
    *((f"cinc/N{i}", "N", (0, 0)) for i in range(3)),
    *((f"cinc/A{i}", "A", (1, 1)) for i in range(3)),
    *((f"cinc/O{i}", "O", (0, 0)) for i in range(3)),
    *((f"cinc/X{i}", "~", (0, 0)) for i in range(2)),
    ("afdb/r0", "AF", (1, -1)),
    ("afdb/r1", "non-AF", (0, 0)),
    ("afdb/r2", "AF", (0, 1)),
)
"""Records of ``fourclass_windows``: name, record label (CinC class, or the source label of a
rhythm-annotated record) and the binary labels of its two windows (-1: left out)."""

EXPECTED_TARGETS = [0] * 6 + [1] * 6 + [2] * 6 + [3] * 4 + [1, -1] + [0, 0] + [0, 1]
"""``four_class_targets`` of ``fourclass_windows``: CinC windows take their record's class, annotated
windows are A (1) when AF and N (0) otherwise, left-out windows -1."""


def _signal(label: str, binary: int, seed: int) -> np.ndarray:
    """A 30 s signal of the record label's kind (flutter for ``O``, noise on sinus for ``~``)."""
    rhythm = {"A": "af", "O": "flutter"}.get(label, "af" if binary == 1 else "sinus")
    signal = synth.ecg_signal(MODEL_FS, 30, rhythm, hr_bpm=60 + seed % 30, seed=seed)
    if label == "~":
        signal = signal + np.random.default_rng(seed).normal(0, 1.0, len(signal))
    return signal


@pytest.fixture(scope="module")
def fourclass_windows(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Windows file of ``RECORDS`` (two windows each), with their rhythm features cached."""
    n = window_samples(MODEL_FS)
    windows, labels, index, starts = [], [], [], []
    for r, (_, label, binary) in enumerate(RECORDS):
        for w, y in enumerate(binary):
            windows.append(normalise(bandpass(_signal(label, y, 100 * r + w)[None, :n]))[0])
            labels.append(y)
            index.append(r)
            starts.append(15.0 * w)
    x = np.asarray(windows, dtype=np.float32)
    ws = WindowSet(
        windows=x.astype(np.float16),
        labels=np.asarray(labels),
        record_index=np.asarray(index),
        start_s=np.asarray(starts, dtype=np.float32),
        end_s=np.asarray(starts, dtype=np.float32) + 30,
        records=np.asarray([name for name, _, _ in RECORDS]),
        record_labels=np.asarray([label for _, label, _ in RECORDS]),
        provenance={
            "source": "tests/test_fourclass.py",
            "feature_names": list(FEATURE_NAMES),
            "features_version": FEATURES_VERSION,
        },
        features=rhythm_features(x, MODEL_FS),
    )
    path = tmp_path_factory.mktemp("fourclass") / "windows.npz"
    save_window_set(ws, path)
    return path


@pytest.fixture(scope="module")
def cinc_windows(fourclass_windows: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fourclass_windows`` without the rhythm-annotated records: CinC labels only, as the challenge score needs."""
    ws = load_window_set(fourclass_windows, mmap=False)
    cinc = np.isin(ws.record_labels, CINC_CLASSES)
    assert cinc[: cinc.sum()].all()  # the CinC records come first
    rows = cinc[ws.record_index]
    subset = WindowSet(
        ws.windows[rows], ws.labels[rows], ws.record_index[rows], ws.start_s[rows], ws.end_s[rows],
        ws.records[cinc], ws.record_labels[cinc], ws.provenance, ws.features[rows],
    )  # fmt: skip
    path = tmp_path_factory.mktemp("cinc") / "windows.npz"
    save_window_set(subset, path)
    return path


def _config(data: Path, out_dir: Path, **kwargs: object) -> TrainConfig:
    options: dict[str, object] = {
        "epochs": 2,
        "batch_size": 8,
        "device": "cpu",
        "augment_p": 0.0,
        "val_fraction": 0.3,
        "test_fraction": 0.2,
        "classes": 4,
        "model_overrides": dict(TINY),
    }
    options.update(kwargs)
    return TrainConfig(data=data, out_dir=out_dir, **options)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fourclass_run(fourclass_windows: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Run folder of a tiny four-class ``se`` trained for two epochs on ``fourclass_windows``."""
    out = tmp_path_factory.mktemp("fourclass_run")
    train(_config(fourclass_windows, out))
    return out


def test_class_one_is_af_in_both_class_lists() -> None:
    assert LABEL_NAMES[AF_CLASS] == "AF" and CINC_CLASSES[AF_CLASS] == "A"
    assert MODEL_CLASSES == {2: LABEL_NAMES, 4: CINC_CLASSES}


def test_four_class_targets_of_cinc_and_annotated_records(fourclass_windows: Path) -> None:
    ws = load_window_set(fourclass_windows)
    assert four_class_targets(ws).tolist() == EXPECTED_TARGETS
    np.testing.assert_array_equal(class_targets(ws, 4), EXPECTED_TARGETS)
    np.testing.assert_array_equal(class_targets(ws, 2), ws.labels)  # two classes: the binary labels
    with pytest.raises(ValueError, match="no class list of 3 classes"):
        class_targets(ws, 3)


def test_balanced_class_weights_generalise_the_binary_rule() -> None:
    counts = np.array([30, 10])
    np.testing.assert_allclose(balanced_class_weights(counts), counts.sum() / (2 * counts))
    np.testing.assert_allclose(balanced_class_weights(np.array([40, 10, 20, 0])), [0.4375, 1.75, 0.875, 17.5])


def test_trainer_feeds_four_class_targets_and_weights(fourclass_windows: Path, tmp_path: Path) -> None:
    ws = load_window_set(fourclass_windows)
    config = _config(fourclass_windows, tmp_path / "run", seed=4)
    trainer = Trainer(config, ws, DistContext(device=torch.device("cpu")))
    assert trainer.net.config.n_classes == 4 and trainer.net.classifier.out_features == 4
    targets = np.asarray(EXPECTED_TARGETS)
    in_train = trainer.split[ws.record_index] == 0
    # seed 4's split trains on O and ~ records and on the annotated record with a left-out window
    assert {2, 3} <= set(targets[in_train].tolist()) and in_train[targets < 0].all()
    dataset = trainer.train_set
    np.testing.assert_array_equal(dataset.indices, np.flatnonzero(in_train & (targets >= 0)))  # -1 left out
    fed = np.array([int(dataset[i][-1]) for i in range(len(dataset))])
    np.testing.assert_array_equal(fed, targets[dataset.indices])  # the network learns the four classes
    counts = np.bincount(fed, minlength=4)
    np.testing.assert_allclose(trainer.class_weights.numpy(), len(fed) / (4 * np.maximum(counts, 1)), rtol=1e-6)
    np.testing.assert_array_equal(trainer.val_y, ws.labels[trainer.val_idx])  # validation judges AF vs the rest
    row, val, _, threshold = trainer.validate()
    assert np.isfinite(row["val_loss"]) and 0 <= val["f1"] <= 1 and 0 < threshold <= 1


def test_four_class_weights_store_and_recreate_the_head(fourclass_run: Path, fourclass_windows: Path) -> None:
    model, meta = load_weights(fourclass_run / "best.pt", "se")
    assert meta["classes"] == list(CINC_CLASSES) and model.config.n_classes == 4
    assert meta["training"]["recipe"]["classes"] == 4
    ws = load_window_set(fourclass_windows)
    train_records = (
        set(ws.records.tolist()) - set(meta["training"]["val_records"]) - set(meta["training"]["test_records"])
    )
    in_train = np.isin(ws.records[ws.record_index], sorted(train_records))
    targets = np.asarray(EXPECTED_TARGETS)
    expected = {name: int(np.sum(targets[in_train] == i)) for i, name in enumerate(CINC_CLASSES)}
    assert meta["training"]["train_windows"] == expected


def test_p_af_is_the_probability_of_a(fourclass_run: Path, fourclass_windows: Path) -> None:
    predictor = Predictor.from_weights(fourclass_run / "best.pt")
    scorer = predictor.scorer
    x = np.asarray(load_window_set(fourclass_windows).windows[:8], dtype=np.float32)
    class_p = scorer.class_probabilities(x)
    assert scorer.classes == CINC_CLASSES and class_p.shape == (8, 4)
    np.testing.assert_allclose(class_p.sum(axis=1), 1, rtol=1e-5)
    calibration = predictor.meta["calibration"]  # fitted on the validation windows, stored in the weights
    np.testing.assert_allclose(scorer(x), calibration.apply(class_p[:, predictor.meta["classes"].index("A")]))
    np.testing.assert_array_equal(scorer.af_probability(class_p), scorer(x))  # what eval takes as p_af
    with torch.inference_mode():
        manual = torch.softmax(scorer.model(torch.from_numpy(x)), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(class_p[:, 1], manual, rtol=1e-5, atol=1e-7)
    assert not np.allclose(class_p[:, 1], class_p[:, 0])  # not P(N)


def test_eval_gives_the_challenge_score_of_a_four_class_ecgcnn(
    fourclass_run: Path, fourclass_windows: Path, cinc_windows: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    predictor = Predictor.from_weights(fourclass_run / "best.pt")
    result = evaluate(predictor, load_window_set(cinc_windows))
    assert result.class_p is not None and result.challenge is not None
    np.testing.assert_array_equal(result.p_af, predictor.meta["calibration"].apply(result.class_p[:, AF_CLASS]))
    assert set(result.challenge) == {"f1_N", "f1_A", "f1_O", "mean"}
    assert evaluate(predictor, load_window_set(fourclass_windows)).challenge is None  # not all labels are CinC's
    two_class = evaluate(Predictor.from_weights(tiny_weights), load_window_set(cinc_windows))
    assert two_class.class_p is None and two_class.challenge is None  # AF against the rest: no four-class calls

    runner = CliRunner()
    out = tmp_path / "eval"
    args = ["eval", str(cinc_windows), "--weights", str(fourclass_run / "best.pt"), "--out-dir", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_OK, result.stderr
    assert "CinC 2017 challenge F1(N, A, O)" in result.stdout
    assert "challenge" in json.loads((out / "metrics.json").read_text())
    result = runner.invoke(app, ["eval", str(cinc_windows), "--weights", str(tiny_weights), "--out-dir", str(out)])
    assert result.exit_code == EXIT_OK and "challenge" not in result.stdout


@pytest.mark.parametrize("variant", ["l", "se-rhythm", "se-rhythm-head"])
def test_every_variant_trains_on_four_classes(variant: str, fourclass_windows: Path, tmp_path: Path) -> None:
    train(_config(fourclass_windows, tmp_path, variant=variant, epochs=1))
    model, meta = load_weights(tmp_path / "best.pt", variant)
    assert meta["model"] == VARIANTS[variant] and meta["classes"] == list(CINC_CLASSES)
    ws = load_window_set(fourclass_windows)
    x = np.asarray(ws.windows[:3], dtype=np.float32)
    scorer = ModelScorer(model)
    assert scorer.class_probabilities(x).shape == (3, 4)
    np.testing.assert_array_equal(scorer(x), scorer.class_probabilities(x)[:, AF_CLASS])


def test_cli_train_classes_4_then_predict(fourclass_windows: Path, cinc_like_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    run_dir = tmp_path / "run"
    args = ["train", "--data", fourclass_windows, "--out-dir", run_dir, "--classes", "4", "--epochs", "1",
            "--batch-size", "8", "--device", "cpu", "--augment-p", "0", "--val-fraction", "0.3"]  # fmt: skip
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == EXIT_OK, result.stderr
    assert load_weights(run_dir / "best.pt")[1]["classes"] == list(CINC_CLASSES)
    result = runner.invoke(
        app, ["predict", str(cinc_like_dir / "F0"), "--weights", str(run_dir / "best.pt"), "-o", "-"]
    )
    assert result.exit_code == EXIT_OK, result.stderr
    rows = result.stdout.splitlines()[1:]
    assert len(rows) == 1 and rows[0].split(",")[3] in LABEL_NAMES  # still AF or non-AF per window


def test_two_class_weights_load_and_score_as_before(tiny_weights: Path, tmp_path: Path) -> None:
    for variant in ("se", "l"):  # the shipped weights predate the class list
        model, meta = load_weights(default_weights(variant), variant)
        assert "classes" not in torch.load(default_weights(variant), weights_only=True)
        assert meta["classes"] == list(LABEL_NAMES) and model.config.n_classes == 2
    payload = torch.load(tiny_weights, weights_only=True)
    assert payload["classes"] == list(LABEL_NAMES)  # written by save_weights now
    older = tmp_path / "older.pt"
    torch.save({k: v for k, v in payload.items() if k != "classes"}, older)
    x = np.stack([normalise(bandpass(synth.ecg_signal(MODEL_FS, 30, r, seed=s)[None, :3840]))[0] for r, s in
                  (("sinus", 1), ("af", 2), ("af", 3))]).astype(np.float32)  # fmt: skip
    new, old = Predictor.from_weights(tiny_weights), Predictor.from_weights(older)
    assert old.meta["classes"] == list(LABEL_NAMES) and old.scorer.classes == LABEL_NAMES
    np.testing.assert_array_equal(new.scorer(x), old.scorer(x))
    with torch.inference_mode():
        manual = torch.softmax(old.scorer.model(torch.from_numpy(x)), dim=1)[:, 1].numpy()
    np.testing.assert_allclose(old.scorer(x), manual, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    ("classes", "n_classes", "problem"),
    [
        (["A", "N", "O", "~"], 4, r"class list \['A', 'N', 'O', '~'\] has no AF class at index 1"),
        (["AF", "non-AF"], 2, "has no AF class at index 1"),
        ("N,A,O,~", 4, "has no AF class at index 1"),
        (["N", "AF"], 2, "is not one afdetect trains"),
        (["non-AF", "AF"], 4, "class list of 2 names for a model of 4 outputs"),
        (list(CINC_CLASSES), 2, "class list of 4 names for a model of 2 outputs"),
    ],
)
def test_a_bad_class_list_is_refused(classes: object, n_classes: int, problem: str, tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    save_weights(good, create_model("se", **{**TINY, "n_classes": n_classes}), "se", 0.5, {})
    bad = tmp_path / "bad.pt"
    torch.save({**torch.load(good, weights_only=True), "classes": classes}, bad)
    with pytest.raises(UsageError, match=problem) as caught:
        load_weights(bad)
    assert caught.value.path == str(bad) and "\n" not in str(caught.value)
    result = CliRunner().invoke(app, ["predict", str(synth_record(tmp_path)), "--weights", str(bad), "-o", "-"])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == EXIT_USAGE and len(errors) == 1 and str(bad) in errors[0], result.stderr


def synth_record(directory: Path) -> Path:
    """A 30 s sinus record to predict on."""
    return synth.write_record(directory, "rec", MODEL_FS, synth.ecg_signal(MODEL_FS, 30, seed=1), ["ECG"])


def test_train_refuses_other_classes(fourclass_windows: Path, fourclass_run: Path) -> None:
    with pytest.raises(UsageError, match=r"^classes must be one of 2, 4, got 3"):
        _config(fourclass_windows, fourclass_run, classes=3).validate()
    with pytest.raises(UsageError, match="n_classes contradicts classes 4"):
        _config(fourclass_windows, fourclass_run, model_overrides={**TINY, "n_classes": 2}).validate()
    with pytest.raises(UsageError, match="was trained with --classes 4, not 2"):
        train(_config(fourclass_windows, fourclass_run, classes=2, epochs=3, resume=True))
