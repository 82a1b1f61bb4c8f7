"""Hybrid ECGCNN (``se-rhythm``): rhythm features beside the signal, their standardisation in the
weights, training from the cached features, scoring through the predictor (tiny models)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from afdetect.config import MODEL_FS, window_samples
from afdetect.detect.inference import predict_proba
from afdetect.detect.predictor import Predictor
from afdetect.errors import UsageError
from afdetect.models.ecgcnn import ECGCNN, ECGCNNConfig
from afdetect.models.layers import FeatureScaling
from afdetect.models.registry import VARIANTS, create_model, is_hybrid, model_config
from afdetect.models.weights import default_weights, load_weights, save_weights
from afdetect.signal.features import FEATURE_NAMES, FEATURES_VERSION, rhythm_features
from afdetect.training.cache import load_window_set, save_window_set
from afdetect.training.loop import train
from afdetect.training.options import TrainConfig

N_SAMPLES = window_samples(MODEL_FS)
TINY = {"channels": (4, 8), "lstm_hidden": 8, "lstm_layers": 1, "rhythm_size": 4}


def _config(data: Path, out_dir: Path, variant: str = "se-rhythm", **kwargs: object) -> TrainConfig:
    options: dict[str, object] = {"epochs": 1, "batch_size": 8, "device": "cpu", "augment_p": 0.0}
    options.update(kwargs)
    return TrainConfig(data=data, out_dir=out_dir, variant=variant, model_overrides=dict(TINY), **options)


def test_registry_keeps_the_paper_variants_and_adds_hybrids() -> None:
    assert {"l", "se", "se-rhythm", "se-rhythm-head"} <= set(VARIANTS)
    for name in ("l", "se"):
        assert model_config(name).rhythm_features == 0 and not is_hybrid(name)
        assert not any("rhythm" in key for key in create_model(name).state_dict())
    assert model_config("se-rhythm").rhythm_placement == "latent"
    assert model_config("se-rhythm-head").rhythm_placement == "head"
    hybrids = [v for v in VARIANTS if v.startswith("se-")]
    assert hybrids and all(is_hybrid(v) and model_config(v).se_ratio == model_config("se").se_ratio for v in hybrids)
    assert model_config("se-rhythm").rhythm_features == len(FEATURE_NAMES)  # this version's features


@pytest.mark.parametrize("variant", ["l", "se"])
def test_shipped_paper_weights_load_unchanged(variant: str) -> None:
    """The shipped l/se weights (saved before the rhythm fields existed) still load into the same model."""
    model, meta = load_weights(default_weights(variant), variant)
    assert "feature_names" not in meta and model.config.rhythm_features == 0
    assert set(model.state_dict()) == set(create_model(variant).state_dict())


def test_feature_scaling_median_iqr_nan_and_clip() -> None:
    scaling = FeatureScaling(3, clip=5.0)
    train = torch.tensor([[1.0, 7.0, float("nan")], [2.0, 7.0, float("nan")], [3.0, 7.0, float("nan")]])
    scaling.fit(train)
    # column 0: median 2, IQR 1 (1.5 .. 2.5) -> scale 1/1.349; column 1 constant, column 2 undefined: scale 1
    torch.testing.assert_close(scaling.center, torch.tensor([2.0, 7.0, 0.0]))
    torch.testing.assert_close(scaling.scale, torch.tensor([1 / 1.349, 1.0, 1.0]))
    out = scaling(torch.tensor([[3.0, float("nan"), 100.0], [-1e6, 8.0, float("inf")]]))
    torch.testing.assert_close(out, torch.tensor([[1.349, 0.0, 5.0], [-5.0, 1.0, 5.0]]))
    assert set(scaling.state_dict()) == {"center", "scale"}  # the statistics travel in the weights


@pytest.mark.parametrize("placement", ["latent", "head", "both"])
def test_hybrid_output_depends_on_the_features(placement: str) -> None:
    torch.manual_seed(0)
    model = ECGCNN(ECGCNNConfig(channels=(4, 8), lstm_hidden=8, rhythm_features=6, rhythm_placement=placement))
    nn_init = torch.nn.init
    nn_init.normal_(model.rhythm.linear.weight)
    for block in model.blocks:  # CBN starts as plain BN: give the conditioning something to do
        nn_init.normal_(block.norm1.affine.weight, std=0.5)
    model.eval()
    x = torch.randn(2, N_SAMPLES)
    a = model(x, torch.zeros(2, 6))
    b = model(x, torch.full((2, 6), 3.0))
    assert a.shape == (2, 2) and not torch.allclose(a, b)
    torch.testing.assert_close(model(x, torch.full((2, 6), float("nan"))), a)  # undefined -> median (0)
    cond = model.blocks[0].norm1.affine.in_features
    assert cond == (8 if placement == "head" else 8 + model.config.rhythm_size)
    assert model.classifier.in_features == cond + (model.config.rhythm_size if placement != "latent" else 0)
    with pytest.raises(ValueError, match="needs rhythm features"):
        model(x)
    with pytest.raises(ValueError, match="rhythm_placement"):
        ECGCNNConfig(rhythm_features=6, rhythm_placement="tail")


def test_train_hybrid_stores_scaling_and_predictor_computes_the_features(
    featured_windows: Path, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    train(_config(featured_windows, out))
    model, meta = load_weights(out / "best.pt", "se-rhythm")
    assert meta["feature_names"] == list(FEATURE_NAMES)
    ws = load_window_set(featured_windows)
    held_out = {*meta["training"]["val_records"], *meta["training"]["test_records"]}
    train_records = np.flatnonzero([name not in held_out for name in ws.records])
    assert len(train_records) == meta["training"]["train_records"]
    rows = np.isin(ws.record_index, train_records) & (ws.labels >= 0)
    median = np.nan_to_num(np.nanmedian(ws.features[rows].astype(np.float64), axis=0), nan=0.0)
    np.testing.assert_allclose(model.rhythm.scaling.center.numpy(), median, rtol=1e-5, atol=1e-6)
    predictor = Predictor.from_weights(out / "best.pt", variant="se-rhythm")
    x = np.asarray(ws.windows[:5], dtype=np.float32)
    expected = predict_proba(model, x, features=rhythm_features(x, MODEL_FS))
    np.testing.assert_allclose(predictor.scorer(x), predictor.scorer.calibration.apply(expected), atol=1e-6)
    assert not np.allclose(predict_proba(model, x, features=np.zeros((5, len(FEATURE_NAMES)))), expected)


def test_train_hybrid_refuses_a_windows_file_without_features(windows_file: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no cached rhythm features"):
        train(_config(windows_file, tmp_path / "run"))


def test_train_hybrid_refuses_features_of_another_version(featured_windows: Path, tmp_path: Path) -> None:
    ws = load_window_set(featured_windows, mmap=False)
    fewer = dataclasses.replace(
        ws, provenance={**ws.provenance, "feature_names": list(FEATURE_NAMES[:-1])}, features=ws.features[:, :-1]
    )
    # The same names computed another way (a file from before FEATURES_VERSION, or another version).
    unversioned = dataclasses.replace(
        ws, provenance={k: v for k, v in ws.provenance.items() if k != "features_version"}
    )
    older = dataclasses.replace(ws, provenance={**ws.provenance, "features_version": FEATURES_VERSION - 1})
    for name, stale in {"fewer": fewer, "unversioned": unversioned, "older": older}.items():
        path = tmp_path / f"{name}.npz"
        save_window_set(stale, path)
        with pytest.raises(UsageError, match="of another afdetect version"):
            train(_config(path, tmp_path / f"run_{name}"))


def test_hybrid_weights_with_other_feature_names_are_refused(tmp_path: Path) -> None:
    model = create_model("se-rhythm", **TINY)
    with pytest.raises(ValueError, match="feature names"):
        save_weights(tmp_path / "none.pt", model, "se-rhythm", 0.5, {})
    other = [f"x{i}" for i in range(len(FEATURE_NAMES))]
    save_weights(tmp_path / "other.pt", model, "se-rhythm", 0.5, {}, feature_names=other)
    with pytest.raises(UsageError, match="other rhythm features"):
        load_weights(tmp_path / "other.pt")
    save_weights(tmp_path / "ok.pt", model, "se-rhythm", 0.5, {}, feature_names=FEATURE_NAMES)
    loaded, _ = load_weights(tmp_path / "ok.pt", "se-rhythm")
    assert dataclasses.asdict(loaded.config) == dataclasses.asdict(model.config)
