"""ECGCNN: output shape, conditional batch norm, SE modules, registry."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from afdetect.config import LABEL_NAMES, MODEL_FS, window_samples
from afdetect.models.ecgcnn import ECGCNN, ECGCNNConfig
from afdetect.models.frontend import log_spectrogram
from afdetect.models.layers import ConditionalBatchNorm2d, ConditionalResidualBlock, PointwiseConv2d, SEModule
from afdetect.models.registry import MODEL_CONFIGS, VARIANTS, create_model, describe_models, model_config

N_SAMPLES = window_samples(MODEL_FS)


@pytest.fixture
def tiny(tiny_model_overrides: dict[str, object]) -> ECGCNN:
    torch.manual_seed(0)
    return create_model("se", **tiny_model_overrides)


def test_model_output_shape(tiny: ECGCNN) -> None:
    tiny.eval()
    out = tiny(torch.randn(3, N_SAMPLES))
    assert out.shape == (3, len(LABEL_NAMES))
    assert torch.isfinite(out).all()
    assert tiny(torch.randn(1, N_SAMPLES)).shape == (1, 2)  # batch of one in eval mode


def test_model_trains_one_step(tiny: ECGCNN) -> None:
    tiny.train()
    x, y = torch.randn(4, N_SAMPLES), torch.tensor([0, 1, 0, 1])
    before = [p.detach().clone() for p in tiny.parameters()]
    optimizer = torch.optim.SGD(tiny.parameters(), lr=0.1)
    nn.functional.cross_entropy(tiny(x), y).backward()
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, tiny.parameters(), strict=True))


def test_conditional_batch_norm_starts_as_batch_norm_and_depends_on_z() -> None:
    torch.manual_seed(1)
    cbn = ConditionalBatchNorm2d(3, cond_size=5).eval()
    x = torch.randn(2, 3, 4, 6)
    z1, z2 = torch.randn(2, 5), torch.randn(2, 5)
    # Fresh: scale 1 + 0, shift 0, so the output is plain batch norm whatever z is.
    torch.testing.assert_close(cbn(x, z1), cbn.norm(x))
    torch.testing.assert_close(cbn(x, z1), cbn(x, z2))
    with torch.no_grad():
        cbn.affine.weight.normal_()
    scale, shift = cbn.affine(z1).chunk(2, dim=1)
    expected = (1 + scale)[:, :, None, None] * cbn.norm(x) + shift[:, :, None, None]
    torch.testing.assert_close(cbn(x, z1), expected)
    assert not torch.allclose(cbn(x, z1), cbn(x, z2))


def test_conditional_batch_norm_eval_fusion_matches_the_definition() -> None:
    # Evaluation folds the running statistics into one multiply-add; it must equal
    # scale(z) * BN(x) + shift(z) with trained (non-trivial) statistics and affine terms.
    torch.manual_seed(3)
    cbn = ConditionalBatchNorm2d(4, cond_size=5)
    with torch.no_grad():
        cbn.affine.weight.normal_()
        cbn.norm.weight.uniform_(0.5, 2.0)
        cbn.norm.bias.normal_()
        cbn.norm.running_mean.normal_()
        cbn.norm.running_var.uniform_(0.1, 3.0)
    x, z = torch.randn(3, 4, 5, 7) * 2 + 1, torch.randn(3, 5)
    scale, shift = cbn.affine(z).chunk(2, dim=1)
    cbn.eval()
    expected = (1 + scale)[:, :, None, None] * cbn.norm(x) + shift[:, :, None, None]
    torch.testing.assert_close(cbn(x, z), expected)
    # Training mode still normalises with the batch's own statistics.
    cbn.train()
    batch_stats = (1 + scale)[:, :, None, None] * nn.functional.batch_norm(
        x, None, None, cbn.norm.weight, cbn.norm.bias, training=True
    ) + shift[:, :, None, None]
    torch.testing.assert_close(cbn(x, z), batch_stats)


def test_conditioning_changes_the_cnn_output() -> None:
    torch.manual_seed(2)
    block = ConditionalResidualBlock(1, 4, cond_size=8, dropout=0.0).eval()
    for module in block.modules():
        if isinstance(module, ConditionalBatchNorm2d):
            with torch.no_grad():
                module.affine.weight.normal_()
    x = torch.randn(2, 1, 16, 20)
    out1, out2 = block(x, torch.randn(2, 8)), block(x, torch.randn(2, 8))
    assert out1.shape == (2, 4, 8, 10)  # 2x2 pooling, ceil mode
    assert not torch.allclose(out1, out2)


def test_every_cbn_layer_receives_the_lstm_code(tiny: ECGCNN) -> None:
    # The affine weights start at zero, so a non-zero gradient proves z reaches every block.
    tiny.train()
    tiny(torch.randn(4, N_SAMPLES)).sum().backward()
    cbns = [m for m in tiny.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbns) == 2 * len(tiny.blocks)
    for cbn in cbns:
        assert cbn.affine.weight.grad is not None and cbn.affine.weight.grad.abs().sum() > 0
    assert tiny.lstm.weight_ih_l0.grad.abs().sum() > 0


def test_conditioning_changes_model_output_through_the_blocks(tiny: ECGCNN) -> None:
    tiny.eval()
    for module in tiny.modules():
        if isinstance(module, ConditionalBatchNorm2d):
            with torch.no_grad():
                module.affine.weight.normal_()
    x = torch.randn(2, N_SAMPLES)
    z = tiny.encode_signal(x)
    h = tiny.spectrogram_norm(log_spectrogram(x))
    h_z, h_other = h, h
    for block in tiny.blocks:
        h_z, h_other = block(h_z, z), block(h_other, torch.zeros_like(z))
    assert not torch.allclose(h_z, h_other)


def test_se_variant_has_se_modules_and_l_none(tiny_model_overrides: dict[str, object]) -> None:
    se = create_model("se", **tiny_model_overrides)
    plain = create_model("l", **tiny_model_overrides)
    assert sum(isinstance(m, SEModule) for m in se.modules()) == len(se.blocks)
    assert not any(isinstance(m, SEModule) for m in plain.modules())
    n_se = sum(p.numel() for p in se.parameters())
    n_plain = sum(p.numel() for p in plain.parameters())
    assert n_se > n_plain


def test_se_module_gates_channels() -> None:
    se = SEModule(8, ratio=0.5)
    x = torch.randn(2, 8, 5, 5)
    y = se(x)
    gate = y / x
    assert y.shape == x.shape
    assert torch.all((gate > 0) & (gate < 1))
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate), atol=1e-5)  # one gate per channel


def test_registry_names_and_errors() -> None:
    assert set(VARIANTS) == {"se", "l", "se-rhythm", "se-rhythm-head", "resnet", "resnet-rhythm"}
    assert model_config("se") is MODEL_CONFIGS["ecgcnn_se"]
    assert model_config("ecgcnn_l").se_ratio is None
    assert model_config("se").se_ratio is not None
    with pytest.raises(ValueError, match="unknown model 'resnet18'"):
        create_model("resnet18")
    with pytest.raises(ValueError, match="unknown model"):
        model_config("")
    with pytest.raises(TypeError):
        create_model("se", no_such_field=3)
    lines = describe_models().splitlines()
    assert len(lines) == len(VARIANTS) and all("M parameters" in line for line in lines)


def test_config_round_trip() -> None:
    config = ECGCNNConfig(channels=(4, 8), lstm_hidden=8, se_ratio=0.25)
    data = config.to_dict()
    data["channels"] = list(data["channels"])  # as stored in a checkpoint
    assert ECGCNNConfig.from_dict(data) == config
    model = create_model("l", channels=(4, 8))
    assert model.config.channels == (4, 8) and model.config.se_ratio is None


def test_documented_parameter_counts_match_the_registry() -> None:
    """README's model table and `train --help` quote the parameter counts of the registry."""
    import re
    from pathlib import Path

    from typer.testing import CliRunner

    from afdetect.cli import app
    from afdetect.models.registry import count_parameters

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    help_text = CliRunner().invoke(app, ["train", "--help"], terminal_width=200).output
    for variant in ("l", "se"):
        documented = re.search(rf"\| `{variant}` \| `ecgcnn_{variant}` \|.*\| ([\d.]+) M \|", readme)
        assert documented is not None, f"README has no parameter count for {variant}"
        expected = f"{count_parameters(variant) / 1e6:.2f}"
        assert documented.group(1) == expected
        assert f"ECGCNN_{variant.upper()} ({expected} M parameters)" in " ".join(help_text.split())


@pytest.mark.parametrize("in_ch", [1, 8])
def test_pointwise_conv_is_a_1x1_convolution(in_ch: int) -> None:
    """Same parameters (checkpoint keys), values and gradients as ``nn.Conv2d(in_ch, out, 1, bias=False)``."""
    torch.manual_seed(0)
    layer = PointwiseConv2d(in_ch, 16)
    conv = nn.Conv2d(in_ch, 16, 1, bias=False)
    assert list(layer.state_dict()) == list(conv.state_dict()) == ["weight"]
    conv.load_state_dict(layer.state_dict())
    x = torch.randn(3, in_ch, 17, 41)
    for memory_format in (torch.contiguous_format, torch.channels_last):
        x_fmt = x.contiguous(memory_format=memory_format)
        torch.testing.assert_close(layer(x_fmt), conv(x_fmt))
    layer(x).square().sum().backward()
    conv(x).square().sum().backward()
    torch.testing.assert_close(layer.weight.grad, conv.weight.grad, rtol=1e-5, atol=1e-4)  # sums of 2,000 products
