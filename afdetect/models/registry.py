"""Model registry: variants are named configs of one :class:`ECGCNN` class.

======  ==============  ===========================================  ===========
name    CLI variant     what                                         parameters
======  ==============  ===========================================  ===========
ecgcnn_l   ``l``        baseline ECGCNN_L (size S of ECG-DualNet)     see below
ecgcnn_se  ``se``       ECGCNN_L + squeeze-and-excitation per block   see below
======  ==============  ===========================================  ===========

``python -c "from afdetect.models import describe_models; print(describe_models())"``
prints the parameter counts.
"""

from __future__ import annotations

from afdetect.models.ecgcnn import ECGCNN, ECGCNNConfig

MODEL_CONFIGS: dict[str, ECGCNNConfig] = {
    "ecgcnn_l": ECGCNNConfig(se_ratio=None),
    "ecgcnn_se": ECGCNNConfig(se_ratio=1 / 16),
}
"""Named variants. Both use compact widths (blocks 8-16-32-64-64, LSTM 64×2), a quarter of
ECG-DualNet's smallest published size S (16-32-64-128-256, LSTM 128×2): on two CPU cores they
train several times faster per epoch, learned faster in our trials, and keep day-long Holter
records well inside the speed target. Larger widths are one override away:
``create_model("ecgcnn_se", channels=(16, 32, 64, 128, 256), lstm_hidden=128)``."""


VARIANTS: dict[str, str] = {"l": "ecgcnn_l", "se": "ecgcnn_se"}
"""CLI variant name to registry name."""


def create_model(name: str, **overrides: object) -> ECGCNN:
    """Build a registered model, optionally overriding config fields.

    Parameters
    ----------
    name : str
        Registry name (``ecgcnn_l``, ``ecgcnn_se``) or CLI variant (``l``, ``se``).
    **overrides
        Config fields to change, e.g. ``channels=(8, 16)`` for a tiny test model.

    Example
    -------
    >>> model = create_model("ecgcnn_se")
    """
    config = model_config(name)
    if overrides:
        config = ECGCNNConfig.from_dict({**config.to_dict(), **overrides})
    return ECGCNN(config)


def model_config(name: str) -> ECGCNNConfig:
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
        f"{variant:>3}  {name:<10} {count_parameters(name) / 1e6:.2f} M parameters"
        for variant, name in VARIANTS.items()
    )
