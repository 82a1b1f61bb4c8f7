"""Model registry: variants are named configs of a model class (ECGCNN, or SignalResNet).

=====================  ==================  ==========================================================
name                   CLI variant         what
=====================  ==================  ==========================================================
ecgcnn_l               ``l``               baseline ECGCNN_L (size S of ECG-DualNet), as the paper
ecgcnn_se              ``se``              ECGCNN_L + squeeze-and-excitation per block, as the paper
ecgcnn_se_rhythm       ``se-rhythm``       hybrid: ECGCNN_SE + the window's rhythm features, joined
                                           to the LSTM latent (they condition every block's batch norm)
ecgcnn_se_rhythm_head  ``se-rhythm-head``  hybrid: the rhythm features joined at the classifier head
resnet1d               ``resnet``          a compact 1-D residual CNN over the signal alone
                                           (:mod:`afdetect.models.resnet1d`), the CNN half of
                                           ``--method blend``
resnet1d_rhythm        ``resnet-rhythm``   hybrid: ``resnet`` + the window's rhythm features, joined
                                           to the pooled signal vector at the classifier
=====================  ==================  ==========================================================

``python -c "from afdetect.models import describe_models; print(describe_models())"``
prints the parameter counts.
"""

from __future__ import annotations

from torch import nn

from afdetect.models.ecgcnn import ECGCNN, ECGCNNConfig
from afdetect.models.resnet1d import SignalResNet, SignalResNetConfig
from afdetect.signal.features import FEATURE_NAMES

RHYTHM_FEATURE_COUNT: int = len(FEATURE_NAMES)
"""Rhythm features per window the hybrids take. Hybrid weights store the feature names and are
refused when they differ from this version's."""

ModelConfig = ECGCNNConfig | SignalResNetConfig
"""A registered model's config; its type names the model class (:data:`ARCHITECTURES`)."""

ARCHITECTURES: dict[type, type[nn.Module]] = {ECGCNNConfig: ECGCNN, SignalResNetConfig: SignalResNet}
"""The model class each config type builds."""

MODEL_CONFIGS: dict[str, ModelConfig] = {
    "ecgcnn_l": ECGCNNConfig(se_ratio=None),
    "ecgcnn_se": ECGCNNConfig(se_ratio=1 / 16),
    "ecgcnn_se_rhythm": ECGCNNConfig(se_ratio=1 / 16, rhythm_features=RHYTHM_FEATURE_COUNT, rhythm_placement="latent"),
    "ecgcnn_se_rhythm_head": ECGCNNConfig(
        se_ratio=1 / 16, rhythm_features=RHYTHM_FEATURE_COUNT, rhythm_placement="head"
    ),
    "resnet1d": SignalResNetConfig(),
    "resnet1d_rhythm": SignalResNetConfig(rhythm_features=RHYTHM_FEATURE_COUNT),
}
"""Named variants. Both use compact widths (blocks 8-16-32-64-64, LSTM 64×2), a quarter of
ECG-DualNet's smallest published size S (16-32-64-128-256, LSTM 128×2): on two CPU cores they
train several times faster per epoch, learned faster in our trials, and keep day-long Holter
records well inside the speed target. Larger widths are one override away:
``create_model("ecgcnn_se", channels=(16, 32, 64, 128, 256), lstm_hidden=128)``."""


VARIANTS: dict[str, str] = {
    "l": "ecgcnn_l",
    "se": "ecgcnn_se",
    "se-rhythm": "ecgcnn_se_rhythm",
    "se-rhythm-head": "ecgcnn_se_rhythm_head",
    "resnet": "resnet1d",
    "resnet-rhythm": "resnet1d_rhythm",
}
"""CLI variant name to registry name."""


def create_model(name: str, **overrides: object) -> nn.Module:
    """Build a registered model, optionally overriding config fields.

    Parameters
    ----------
    name : str
        Registry name (``ecgcnn_l``, ``ecgcnn_se`` ...) or CLI variant (``l``, ``se``, ``resnet`` ...).
    **overrides
        Config fields to change, e.g. ``channels=(8, 16)`` for a tiny test model.

    Example
    -------
    >>> model = create_model("ecgcnn_se")
    """
    config = model_config(name)
    if overrides:
        config = type(config).from_dict({**config.to_dict(), **overrides})
    return build_model(config)


def build_model(config: ModelConfig) -> nn.Module:
    """The model a config describes (an untrained instance of its :data:`ARCHITECTURES` class).

    Example
    -------
    >>> type(build_model(SignalResNetConfig())).__name__
    'SignalResNet'
    """
    return ARCHITECTURES[type(config)](config)


def config_from_dict(name: str, data: dict) -> ModelConfig:
    """The config stored as ``data`` (a weights file's ``model_config``) of registered model ``name``."""
    return type(model_config(name)).from_dict(data)


def model_config(name: str) -> ModelConfig:
    """Config of a registered model (registry name or CLI variant)."""
    key = VARIANTS.get(name, name)
    if key not in MODEL_CONFIGS:
        known = ", ".join([*VARIANTS, *MODEL_CONFIGS])
        raise ValueError(f"unknown model {name!r}; expected one of {known}")
    return MODEL_CONFIGS[key]


def count_parameters(name: str) -> int:
    """Trainable parameters of a registered model."""
    return sum(p.numel() for p in create_model(name).parameters() if p.requires_grad)


def describe_models() -> str:
    """One line per variant: CLI name, registry name, parameter count."""
    return "\n".join(
        f"{variant:>14}  {name:<21} {count_parameters(name) / 1e6:.2f} M parameters"
        for variant, name in VARIANTS.items()
    )


def is_hybrid(name: str) -> bool:
    """Whether a registered model also takes rhythm features (``se-rhythm`` ...)."""
    return model_config(name).rhythm_features > 0
