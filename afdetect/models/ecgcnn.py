"""ECGCNN: a dual-input network after ECG-DualNet (Rohr et al., Physiol. Meas. 2022).

An LSTM reads the z-normalised signal cut into overlapping frames; its last hidden state
``z`` conditions a residual 2-D CNN over the log-spectrogram through conditional batch
norm. Global average pooling, a linear layer to the latent size, ``z`` added back, then a
linear classifier. Both inputs are computed inside :meth:`ECGCNN.forward` from the same
signal window, so the model takes ``(batch, n_samples)`` at ``MODEL_FS`` Hz.

Hybrid variants (``rhythm_features > 0``) also take the window's rhythm features
(:func:`afdetect.signal.features.rhythm_features`, ``(batch, rhythm_features)``, NaN where
undefined). A :class:`~afdetect.models.layers.RhythmEncoder` (standardised by statistics stored in
the weights) embeds them, and ``rhythm_placement`` says where the embedding joins:

``latent``  concatenated to the LSTM latent, so it conditions the batch norm of every
            spectrogram block and is added back at the head (the latent grows by ``rhythm_size``)
``head``    concatenated to the pooled CNN + LSTM vector, just before the classifier
``both``    the two at once (one shared embedding)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from afdetect.config import FRAME_LENGTH, LABEL_NAMES
from afdetect.models.frontend import frame_signal, log_spectrogram
from afdetect.models.layers import ConditionalResidualBlock, RhythmEncoder

RHYTHM_PLACEMENTS: tuple[str, ...] = ("latent", "head", "both")
"""Where a hybrid's rhythm embedding joins the network (see the module docstring)."""


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
    rhythm_features : int
        Rhythm features per window the model takes beside the signal; 0 (the paper's
        ECGCNN_L and ECGCNN_SE) for none.
    rhythm_placement : str
        Where the rhythm embedding joins: ``latent``, ``head`` or ``both`` (module docstring).
    rhythm_size : int
        Size of the rhythm embedding.
    rhythm_dropout : float
        Dropout on the rhythm embedding.
    """

    lstm_hidden: int = 64
    lstm_layers: int = 2
    channels: tuple[int, ...] = (8, 16, 32, 64, 64)
    se_ratio: float | None = None
    dropout: float = 0.1
    lstm_dropout: float = 0.05
    n_classes: int = len(LABEL_NAMES)
    rhythm_features: int = 0
    rhythm_placement: str = "latent"
    rhythm_size: int = 32
    rhythm_dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.rhythm_placement not in RHYTHM_PLACEMENTS:
            raise ValueError(f"rhythm_placement must be one of {RHYTHM_PLACEMENTS}, got {self.rhythm_placement!r}")

    @property
    def latent_size(self) -> int:
        """Size of the vector that conditions the CNN: the LSTM's, plus the rhythm embedding's in
        the ``latent`` and ``both`` placements."""
        joins_latent = self.rhythm_features and self.rhythm_placement in ("latent", "both")
        return self.lstm_hidden + (self.rhythm_size if joins_latent else 0)

    @property
    def head_extra(self) -> int:
        """Inputs the classifier takes beside the latent: the rhythm embedding (``head``, ``both``)."""
        return self.rhythm_size if self.rhythm_features and self.rhythm_placement in ("head", "both") else 0

    def to_dict(self) -> dict:
        """Plain-types dict (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ECGCNNConfig:
        """Inverse of :meth:`to_dict` (a dict without the rhythm fields, as before them, is a plain model)."""
        return cls(**{**data, "channels": tuple(data["channels"])})


class ECGCNN(nn.Module):
    """Dual-input ECG classifier: LSTM over frames conditions a CNN over the spectrogram.

    Example
    -------
    >>> model = ECGCNN(ECGCNNConfig())
    >>> model(torch.zeros(2, 3840)).shape
    torch.Size([2, 2])
    >>> hybrid = ECGCNN(ECGCNNConfig(rhythm_features=5))
    >>> hybrid(torch.zeros(2, 3840), torch.full((2, 5), float("nan"))).shape
    torch.Size([2, 2])
    """

    def __init__(self, config: ECGCNNConfig) -> None:
        super().__init__()
        self.config = config
        latent = config.latent_size
        self.lstm = nn.LSTM(
            FRAME_LENGTH,
            config.lstm_hidden,
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
        if config.rhythm_features:
            self.rhythm = RhythmEncoder(config.rhythm_features, config.rhythm_size, config.rhythm_dropout)
        self.classifier = nn.Linear(latent + config.head_extra, config.n_classes)

    def encode_signal(self, x: torch.Tensor) -> torch.Tensor:
        """LSTM latent ``(batch, lstm_hidden)`` from signals ``(batch, n_samples)``."""
        out, _ = self.lstm(frame_signal(x))
        return out[:, -1]

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``(batch, n_classes)`` for z-normalised windows ``(batch, n_samples)``.

        A hybrid model (``config.rhythm_features > 0``) also needs the windows' rhythm
        ``features`` ``(batch, rhythm_features)``; the others ignore them.
        """
        config = self.config
        z = self.encode_signal(x)
        rhythm = None
        if config.rhythm_features:
            rhythm = self.rhythm(features)
            if config.latent_size > config.lstm_hidden:
                z = torch.cat([z, rhythm], dim=1)
        h = self.spectrogram_norm(log_spectrogram(x))
        for block in self.blocks:
            h = block(h, z)
        h = self.act(self.project(h.mean(dim=(2, 3)))) + z
        if config.head_extra:
            h = torch.cat([h, rhythm], dim=1)
        return self.classifier(h)
