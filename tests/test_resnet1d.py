"""The signal ResNet (``resnet``): layers, registry, weights round trip, training, and ``--method blend``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.config import AF_CLASS, CINC_CLASSES
from afdetect.detect.blend import BLEND_THRESHOLD, BlendScorer, blend_class_probabilities
from afdetect.detect.predictor import Predictor
from afdetect.errors import EXIT_OK, EXIT_USAGE, UsageError
from afdetect.models.calibration import log_odds
from afdetect.models.files import sha256
from afdetect.models.layers import ResidualBlock1d
from afdetect.models.registry import build_model, config_from_dict, create_model, model_config
from afdetect.models.resnet1d import SignalResNet, SignalResNetConfig
from afdetect.models.trees import default_trees
from afdetect.models.weights import load_weights, save_weights
from afdetect.training.cache import load_window_set
from afdetect.training.loop import train
from afdetect.training.options import TrainConfig

TINY = {"widths": (4, 8, 8)}


def test_residual_block_halves_time_and_changes_channels() -> None:
    block = ResidualBlock1d(4, 8, kernel=7, stride=2)
    assert block(torch.randn(2, 4, 100)).shape == (2, 8, 50)
    same = ResidualBlock1d(8, 8, kernel=5)
    assert isinstance(same.skip, torch.nn.Identity)
    assert same(torch.randn(1, 8, 33)).shape == (1, 8, 33)


def test_resnet_takes_windows_of_any_length_and_ignores_features() -> None:
    torch.manual_seed(0)
    model = create_model("resnet", n_classes=4, **TINY).eval()
    assert isinstance(model, SignalResNet) and model.config.rhythm_features == 0
    x = torch.randn(3, 3840)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (3, 4)
        torch.testing.assert_close(model(x, torch.ones(3, 5)), out)
        assert model(torch.randn(2, 1200)).shape == (2, 4)  # a 9 s record's real part
    # the default: stem stride 4 then five halvings leave 30 steps of a 30 s window at 128 Hz
    full = create_model("resnet")
    assert full.blocks(full.stem(torch.zeros(1, 1, 3840))).shape == (1, 96, 30)


def test_resnet_config_round_trip_and_registry_build() -> None:
    config = SignalResNetConfig(widths=(4, 8), n_classes=4)
    data = config.to_dict()
    data["widths"] = list(data["widths"])  # as stored in a checkpoint
    assert config_from_dict("resnet1d", data) == config
    assert type(build_model(config)) is SignalResNet
    assert model_config("resnet") is model_config("resnet1d")


def test_resnet_weights_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = create_model("resnet", n_classes=4, **TINY).eval()
    path = tmp_path / "r.pt"
    save_weights(path, model, "resnet1d", 0.4, {"val_records": [], "test_records": []})
    loaded, meta = load_weights(path, "resnet")
    assert meta["model"] == "resnet1d" and meta["classes"] == list(CINC_CLASSES)
    x = torch.randn(2, 3840)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), model(x))
    with pytest.raises(UsageError, match="not the requested 'ecgcnn_se'"):
        load_weights(path, "se")


@pytest.fixture(scope="module")
def resnet_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny four-class signal ResNet trained one epoch on the shared synthetic windows file."""
    windows_file = request.getfixturevalue("windows_file")
    out = tmp_path_factory.mktemp("resnet")
    config = TrainConfig(
        data=windows_file, out_dir=out, variant="resnet", classes=4, epochs=1, batch_size=8, device="cpu",
        augment_p=0.0, val_fraction=0.2, test_fraction=0.2, model_overrides=dict(TINY),
    )  # fmt: skip
    train(config)
    return out / "best.pt"


def test_train_writes_loadable_four_class_resnet(resnet_run: Path, windows_file: Path) -> None:
    model, meta = load_weights(resnet_run, "resnet")
    assert meta["classes"] == list(CINC_CLASSES) and 0 < meta["threshold"] < 1
    assert isinstance(model, SignalResNet) and not model.training


class _Fixed:
    """A four-class scorer that gives every window the same class probabilities."""

    classes = CINC_CLASSES

    def __init__(self, p: list[float]) -> None:
        self.p = np.array(p)

    def class_probabilities(self, x: np.ndarray) -> np.ndarray:
        return np.tile(self.p, (len(x), 1))

    def af_probability(self, class_p: np.ndarray) -> np.ndarray:
        return class_p[:, AF_CLASS]


def test_blend_averages_log_odds_relative_to_each_threshold() -> None:
    x = np.zeros((2, 3840))
    a, b = _Fixed([0.1, 0.7, 0.1, 0.1]), _Fixed([0.6, 0.1, 0.2, 0.1])
    class_p = BlendScorer([(a, 0.5), (b, 0.2)]).class_probabilities(x)
    z = ((log_odds(0.7) - log_odds(0.5)) + (log_odds(0.1) - log_odds(0.2))) / 2
    np.testing.assert_allclose(class_p[:, AF_CLASS], 1 / (1 + np.exp(-z)))
    np.testing.assert_allclose(class_p.sum(axis=1), 1.0)
    # the other classes keep the members' geometric-mean order: N (0.1, 0.6) ahead of O (0.1, 0.2)
    assert class_p[0, 0] > class_p[0, 2] > 0
    # a member at exactly its threshold leaves the decision to the other
    at_threshold = BlendScorer([(a, 0.7), (b, 0.2)])
    assert at_threshold(x)[0] < BLEND_THRESHOLD
    assert BlendScorer([(a, 0.7), (_Fixed([0.2, 0.3, 0.3, 0.2]), 0.2)])(x)[0] > BLEND_THRESHOLD


def test_blend_of_one_member_keeps_its_calls() -> None:
    p = np.array([[0.2, 0.3, 0.4, 0.1], [0.1, 0.8, 0.05, 0.05]])
    out = blend_class_probabilities([p], [p[:, 1]], [0.5])
    assert ((out[:, 1] >= 0.5) == (p[:, 1] >= 0.5)).all()


def test_blend_refuses_members_without_cinc_classes() -> None:
    class TwoClass(_Fixed):
        classes = ("non-AF", "AF")

    with pytest.raises(ValueError, match="CinC classes"):
        BlendScorer([(TwoClass([0.5, 0.5]), 0.5)])
    with pytest.raises(ValueError, match="at least one member"):
        BlendScorer([])


def test_blend_predictor_scores_records_and_refuses_a_two_class_cnn(
    trees_file: Path, resnet_run: Path, tiny_weights: Path, windows_file: Path
) -> None:
    predictor = Predictor.from_blend(trees_file, resnet_run)
    assert predictor.threshold == BLEND_THRESHOLD and predictor.meta["members"] == ["rhythm_trees", "resnet1d"]
    assert predictor.provenance()["weights_sha256"].count("+") == 1
    x = np.asarray(load_window_set(windows_file).windows[:4], dtype=np.float32)
    p = predictor.scorer(x)
    assert p.shape == (4,) and ((p > 0) & (p < 1)).all()
    with pytest.raises(UsageError, match="CNN of the CinC classes"):
        Predictor.from_blend(trees_file, tiny_weights)


def test_cli_predict_method_blend(trees_file: Path, resnet_run: Path, sinus_record: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["predict", str(sinus_record), "--method", "blend", "--weights", str(resnet_run), "-o", "-"]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_OK, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.startswith("record,") and rows
    digests = "+".join(sha256(path)[:12] for path in (default_trees(), resnet_run))
    assert f"model blend, weights sha256 {digests}, AF threshold 0.500" in result.stderr
    bad = runner.invoke(app, ["predict", str(sinus_record), "--method", "blend", "--weights", str(tmp_path / "no.pt")])
    assert bad.exit_code == EXIT_USAGE and "no.pt" in bad.stderr
