"""Training: record-wise split, files written, resume, data set and helpers (tiny model, 1-2 epochs)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from afdetect.detect.inference import predict_proba
from afdetect.errors import UsageError
from afdetect.models.registry import create_model
from afdetect.models.weights import load_weights
from afdetect.training.cache import load_window_set, save_window_set
from afdetect.training.data import WindowDataset
from afdetect.training.loop import METRIC_COLUMNS, resolve_device, train
from afdetect.training.options import TrainConfig
from afdetect.training.splits import split_records


def _config(windows_file: Path, out_dir: Path, overrides: dict[str, object], **kwargs: object) -> TrainConfig:
    options: dict[str, object] = {"epochs": 2, "batch_size": 8, "device": "cpu", "augment_p": 0.5}
    options.update(kwargs)
    return TrainConfig(data=windows_file, out_dir=out_dir, model_overrides=dict(overrides), **options)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_split_records_is_stratified_and_deterministic() -> None:
    truth = np.array([0] * 20 + [1] * 10)
    split = split_records(truth, 0.2, 0.1, seed=3)
    assert set(split.tolist()) == {0, 1, 2}
    for cls, n in ((0, 20), (1, 10)):
        members = split[truth == cls]
        assert (members == 1).sum() == round(n * 0.2)
        assert (members == 2).sum() == round(n * 0.1)
    np.testing.assert_array_equal(split, split_records(truth, 0.2, 0.1, seed=3))
    assert not np.array_equal(split, split_records(truth, 0.2, 0.1, seed=4))
    assert (split_records(truth, 0.2, 0.0, seed=0) == 2).sum() == 0


def test_train_writes_files_and_splits_by_record(
    tmp_path: Path, windows_file: Path, tiny_model_overrides: dict[str, object]
) -> None:
    stages: list[str] = []
    out = tmp_path / "run"
    best = train(_config(windows_file, out, tiny_model_overrides), lambda stage, done, total: stages.append(stage))
    for name in ("last.pt", "best.pt", "metrics.csv", "curves.png"):
        assert (out / name).is_file(), name
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p.name for p in out.iterdir() if p.name.endswith(".part")]  # no temporary files left
    rows = _rows(out / "metrics.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert list(rows[0]) == list(METRIC_COLUMNS)
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)
    assert stages.count("epoch") == 2 and "train" in stages
    assert best["epoch"] in (1, 2) and 0 <= best["val_f1"] <= 1

    model, meta = load_weights(out / "best.pt", "se")
    assert meta["threshold"] == pytest.approx(best["threshold"])
    assert model.config.channels == (4, 8)
    training = meta["training"]
    ws = load_window_set(windows_file)
    all_records = {str(r) for r in ws.records}
    val, test = set(training["val_records"]), set(training["test_records"])
    assert val and test and not val & test  # no record in two splits
    assert val | test <= all_records
    assert training["train_records"] + len(val) + len(test) == len(all_records)
    truth = dict(zip(ws.records.tolist(), ws.record_targets().tolist(), strict=True))
    assert {truth[r] for r in val} == {0, 1} and {truth[r] for r in test} == {0, 1}  # stratified
    n_train_windows = sum(training["train_windows"].values())
    train_records = all_records - val - test
    in_train = np.isin(ws.records[ws.record_index], sorted(train_records)) & (ws.labels >= 0)
    assert n_train_windows == in_train.sum()  # the windows trained on come from train records only


def test_resume_continues_where_the_run_stopped(
    tmp_path: Path, windows_file: Path, tiny_model_overrides: dict[str, object]
) -> None:
    full = tmp_path / "full"
    train(_config(windows_file, full, tiny_model_overrides))

    class StopTrainingError(Exception):
        pass

    def stop_after_first(epoch: int, model: torch.nn.Module) -> None:
        if epoch == 1:
            raise StopTrainingError

    part = tmp_path / "part"
    with pytest.raises(StopTrainingError):
        train(_config(windows_file, part, tiny_model_overrides), on_epoch_end=stop_after_first)
    assert len(_rows(part / "metrics.csv")) == 1
    train(_config(windows_file, part, tiny_model_overrides, resume=True))
    resumed, uninterrupted = _rows(part / "metrics.csv"), _rows(full / "metrics.csv")
    assert [r["epoch"] for r in resumed] == ["1", "2"]
    for a, b in zip(resumed, uninterrupted, strict=True):
        for key in ("train_loss", "val_loss", "val_f1", "lr"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=1e-4, abs=1e-6), key


def test_resume_refuses_windows_of_other_preprocessing(
    tmp_path: Path, windows_file: Path, tiny_model_overrides: dict[str, object]
) -> None:
    out = tmp_path / "run"
    train(_config(windows_file, out, tiny_model_overrides, epochs=1))
    ws = load_window_set(windows_file, mmap=False)
    assert load_weights(out / "best.pt")[1]["preprocessing"] == ws.preprocessing.to_dict()  # the windows' own
    ws.provenance = {**ws.provenance, "preprocessing": {**ws.preprocessing.to_dict(), "hop_s": 10.0}}
    other = tmp_path / "other.npz"
    save_window_set(ws, other)
    with pytest.raises(UsageError, match=r"other preprocessing .*hop_s 15.0 vs 10.0"):
        train(_config(other, out, tiny_model_overrides, epochs=2, resume=True))


def test_train_refuses_bad_options_and_data(
    tmp_path: Path, windows_file: Path, tiny_model_overrides: dict[str, object]
) -> None:
    for bad, name in (({"epochs": 0}, "epochs"), ({"lr": -1.0}, "lr"), ({"val_fraction": 1.0}, "val_fraction")):
        with pytest.raises(UsageError, match=rf"^{name} must"):
            train(_config(windows_file, tmp_path / "x", tiny_model_overrides, **bad))
    with pytest.raises(UsageError, match="unknown model"):
        train(_config(windows_file, tmp_path / "x", tiny_model_overrides, variant="big"))
    with pytest.raises(UsageError, match="windows file not found"):
        train(_config(tmp_path / "none.npz", tmp_path / "x", tiny_model_overrides))
    # Too small a validation fraction leaves no validation record.
    with pytest.raises(UsageError, match="too few labelled windows"):
        train(_config(windows_file, tmp_path / "x", tiny_model_overrides, val_fraction=0.01, test_fraction=0.0))
    assert not (tmp_path / "x" / "best.pt").exists()


def test_window_dataset_augmentation_is_seeded(windows_file: Path) -> None:
    ws = load_window_set(windows_file)
    plain = WindowDataset(ws, np.array([3, 5]))
    x, y = plain[1]
    assert x.dtype == torch.float32 and y == int(ws.labels[5])
    np.testing.assert_array_equal(x.numpy(), np.asarray(ws.windows[5], dtype=np.float32))
    a, b = WindowDataset(ws, np.array([3]), 1.0, seed=1), WindowDataset(ws, np.array([3]), 1.0, seed=1)
    assert torch.equal(a[0][0], b[0][0])  # same seed, epoch and window: same augmentation
    b.epoch = 1
    assert not torch.equal(a[0][0], b[0][0])  # another epoch: another augmentation
    assert not torch.equal(a[0][0], plain[0][0])


def test_predict_proba(tiny_model_overrides: dict[str, object]) -> None:
    model = create_model("se", **tiny_model_overrides)
    x = np.random.default_rng(0).normal(size=(5, 3840)).astype(np.float32)
    p = predict_proba(model, x, batch_size=2)
    assert p.shape == (5,) and np.all((p >= 0) & (p <= 1))
    np.testing.assert_allclose(p, predict_proba(model, x, batch_size=5), atol=1e-6)  # batching does not matter
    assert predict_proba(model, np.zeros((0, 3840), dtype=np.float32)).shape == (0,)


def test_resolve_device() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda")
    with pytest.raises(UsageError, match="not a torch device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="no CUDA device"):
            resolve_device("cuda")
