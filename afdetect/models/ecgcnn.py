"""ECGCNN: a dual-input network after ECG-DualNet (Rohr et al., Physiol. Meas. 2022).

An LSTM reads the z-normalised signal cut into overlapping frames; its last hidden state
``z`` conditions a residual 2-D CNN over the log-spectrogram through conditional batch
norm. Global average pooling, a linear layer to the latent size, ``z`` added back, then a
linear classifier. Both inputs are computed inside :meth:`ECGCNN.forward` from the same
signal window, so the model takes ``(batch, n_samples)`` at ``MODEL_FS`` Hz.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from afdetect.config import FRAME_LENGTH, LABEL_NAMES
from afdetect.models.frontend import frame_signal, log_spectrogram
from afdetect.models.layers import ConditionalResidualBlock


@dataclass(frozen=True)
class ECGCNNConfig:
    """Hyper-parameters of one ECGCNN variant.

    Attributes
    ----------
    lstm_hidden : int
        LSTM hidden size; also the latent size ``z`` (conditioning and residual head).
    lstm_layers : int
        Stacked LSTM layers.
    channels : tuple of int
        Output channels of each spectrogram residual block (input: 1 channel).
    se_ratio : float or None
        Squeeze-and-excitation bottleneck ratio; ``None`` for no SE block.
    dropout : float
        Dropout2d rate in the residual blocks.
    lstm_dropout : float
        Dropout between LSTM layers.
    n_classes : int
        Output classes.
    """

    lstm_hidden: int = 64
    lstm_layers: int = 2
    channels: tuple[int, ...] = (8, 16, 32, 64, 64)
    se_ratio: float | None = None
    dropout: float = 0.1
    lstm_dropout: float = 0.05
    n_classes: int = len(LABEL_NAMES)

    def to_dict(self) -> dict:
        """Plain-types dict (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ECGCNNConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "channels": tuple(data["channels"])})


class ECGCNN(nn.Module):
    """Dual-input ECG classifier: LSTM over frames conditions a CNN over the spectrogram.

    Example
    -------
    >>> model = ECGCNN(ECGCNNConfig())
    >>> model(torch.zeros(2, 3840)).shape
    torch.Size([2, 2])
    """

    def __init__(self, config: ECGCNNConfig) -> None:
        super().__init__()
        self.config = config
        latent = config.lstm_hidden
        self.lstm = nn.LSTM(
            FRAME_LENGTH,
            latent,
            num_layers=config.lstm_layers,
            batch_first=True,
            dropout=config.lstm_dropout if config.lstm_layers > 1 else 0.0,
        )
        self.spectrogram_norm = nn.BatchNorm2d(1)
        in_channels = (1, *config.channels[:-1])
        self.blocks = nn.ModuleList(
            ConditionalResidualBlock(i, o, latent, config.dropout, config.se_ratio)
            for i, o in zip(in_channels, config.channels, strict=True)
        )
        self.project = nn.Linear(config.channels[-1], latent)
        self.act = nn.PReLU()
        self.classifier = nn.Linear(latent, config.n_classes)

    def encode_signal(self, x: torch.Tensor) -> torch.Tensor:
        """Latent vector ``z`` ``(batch, lstm_hidden)`` from signals ``(batch, n_samples)``."""
        out, _ = self.lstm(frame_signal(x))
        return out[:, -1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``(batch, n_classes)`` for z-normalised windows ``(batch, n_samples)``."""
        z = self.encode_signal(x)
        h = self.spectrogram_norm(log_spectrogram(x))
        for block in self.blocks:
            h = block(h, z)
        h = self.act(self.project(h.mean(dim=(2, 3))))
        return self.classifier(h + z)
