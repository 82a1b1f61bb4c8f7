"""SignalResNet: a compact 1-D residual CNN over the conditioned signal alone.

A strided stem, then residual blocks that each halve the time axis and widen the channels,
global average and max pooling, dropout and a linear classifier. It reads nothing but the
z-normalised window (``(batch, n_samples)`` at ``MODEL_FS`` Hz), so its errors differ from
those of the rhythm trees, which read hand-made features of the same window: that is what
makes the two worth averaging (``--method blend``). A hybrid config (``rhythm_features > 0``,
registry ``resnet1d_rhythm``) also joins the window's rhythm features at the classifier; it
learns faster but errs where the trees do, so it blends worse (``benchmarks/results/EXPERIMENTS.md``).

With the default widths (16-24-32-48-64-96), a stem of stride 4 and kernels of 7, a 30 s
window at 128 Hz ends as 96 channels over 30 steps (one per second); the receptive field of
a step is about 6 s, several beats.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from afdetect.config import LABEL_NAMES
from afdetect.models.layers import ResidualBlock1d, RhythmEncoder


@dataclass(frozen=True)
class SignalResNetConfig:
    """Hyper-parameters of one SignalResNet.

    Attributes
    ----------
    widths : tuple of int
        Channels of the stem, then of each residual block (each halves the time axis).
    stem_kernel : int
        Stem convolution kernel (samples at ``MODEL_FS``).
    stem_stride : int
        Stem stride (4: 128 Hz becomes 32 feature steps a second).
    kernel : int
        Kernel of the residual blocks' convolutions.
    dropout : float
        Dropout before the classifier.
    n_classes : int
        Output classes.
    rhythm_features : int
        Rhythm features per window the model also takes (0: the signal alone). A hybrid embeds
        them (:class:`~afdetect.models.layers.RhythmEncoder`) and joins the embedding to the
        pooled signal vector before the classifier.
    rhythm_size : int
        Size of the rhythm embedding.
    rhythm_dropout : float
        Dropout on the rhythm embedding.
    """

    widths: tuple[int, ...] = (16, 24, 32, 48, 64, 96)
    stem_kernel: int = 15
    stem_stride: int = 4
    kernel: int = 7
    dropout: float = 0.3
    n_classes: int = len(LABEL_NAMES)
    rhythm_features: int = 0
    rhythm_size: int = 32
    rhythm_dropout: float = 0.1

    def to_dict(self) -> dict:
        """Plain-types dict (for checkpoints)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SignalResNetConfig:
        """Inverse of :meth:`to_dict`."""
        return cls(**{**data, "widths": tuple(data["widths"])})


class SignalResNet(nn.Module):
    """1-D residual CNN classifier of z-normalised windows.

    Example
    -------
    >>> model = SignalResNet(SignalResNetConfig(n_classes=4))
    >>> model(torch.zeros(2, 3840)).shape
    torch.Size([2, 4])
    """

    def __init__(self, config: SignalResNetConfig) -> None:
        super().__init__()
        self.config = config
        first = config.widths[0]
        self.stem = nn.Sequential(
            nn.Conv1d(1, first, config.stem_kernel, config.stem_stride, config.stem_kernel // 2, bias=False),
            nn.BatchNorm1d(first),
            nn.ReLU(),
        )
        self.blocks = nn.Sequential(
            *(
                ResidualBlock1d(i, o, config.kernel, stride=2)
                for i, o in zip(config.widths[:-1], config.widths[1:], strict=True)
            )
        )
        self.dropout = nn.Dropout(config.dropout)
        joined = 2 * config.widths[-1]
        if config.rhythm_features:
            self.rhythm = RhythmEncoder(config.rhythm_features, config.rhythm_size, config.rhythm_dropout)
            joined += config.rhythm_size
        self.classifier = nn.Linear(joined, config.n_classes)

    def forward(self, x: torch.Tensor, features: torch.Tensor | None = None) -> torch.Tensor:
        """Class logits ``(batch, n_classes)`` for z-normalised windows ``(batch, n_samples)``.

        A hybrid (``config.rhythm_features > 0``) also needs the windows' rhythm ``features``
        ``(batch, rhythm_features)`` (NaN allowed); a signal-only model ignores them.
        """
        h = self.blocks(self.stem(x[:, None]))
        pooled = self.dropout(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))
        if self.config.rhythm_features:
            pooled = torch.cat([pooled, self.rhythm(features)], dim=1)
        return self.classifier(pooled)
