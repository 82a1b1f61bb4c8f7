"""Single-purpose layers that the models (ECGCNN, SignalResNet) are composed of."""

from __future__ import annotations

import torch
from torch import nn


class ConditionalBatchNorm2d(nn.Module):
    """Batch norm whose scale and shift are predicted from a conditioning vector.

    ``y = scale(z) * BN(x) + shift(z)``, with ``(scale, shift)`` from one bias-free linear
    layer on ``z``. The scale is parameterised as ``1 + delta`` so a fresh layer starts as
    plain batch norm.

    Parameters
    ----------
    channels : int
        Feature-map channels.
    cond_size : int
        Size of the conditioning vector ``z``.
    """

    def __init__(self, channels: int, cond_size: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels, affine=True)
        self.affine = nn.Linear(cond_size, 2 * channels, bias=False)
        nn.init.zeros_(self.affine.weight)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        delta_scale, shift = self.affine(z).chunk(2, dim=1)
        scale = 1 + delta_scale
        norm = self.norm
        if norm.training or norm.running_var is None:
            return scale[:, :, None, None] * norm(x) + shift[:, :, None, None]
        # Evaluation: batch norm with running statistics is a per-channel affine map
        # (x * a + b), so scale(z) * (x * a + b) + shift(z) is one fused multiply-add per
        # sample and channel: the same values to float32 rounding, one pass over x instead of three.
        a = norm.weight * torch.rsqrt(norm.running_var + norm.eps)
        b = norm.bias - norm.running_mean * a
        return torch.addcmul((scale * b + shift)[:, :, None, None], x, (scale * a)[:, :, None, None])


class PointwiseConv2d(nn.Conv2d):
    """Bias-free 1×1 convolution computed as one matrix product over the channel axis.

    The same layer (parameters, checkpoint keys, values) as ``nn.Conv2d(in_ch, out_ch, 1,
    bias=False)``; only the kernel differs. On CPU, oneDNN's 1×1 convolution from a single input
    channel (the first residual block's skip path over the spectrogram) takes about 20× as
    long as the equivalent product, and was the most expensive operation of the whole model.
    The output is channels-last (the layout the product produces), which the other layers
    accept in either mode.

    Parameters
    ----------
    in_ch, out_ch : int
        Input and output channels.
    """

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__(in_ch, out_ch, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x.permute(0, 2, 3, 1) @ self.weight.flatten(1).T).permute(0, 3, 1, 2)


class SEModule(nn.Module):
    """Squeeze-and-excitation: reweight channels by a gate computed from their means.

    Parameters
    ----------
    channels : int
        Feature-map channels.
    ratio : float
        Bottleneck width as a fraction of ``channels`` (at least 4 units).
    """

    def __init__(self, channels: int, ratio: float = 1 / 16) -> None:
        super().__init__()
        hidden = max(4, int(round(channels * ratio)))
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * gate[:, :, None, None]


class ConditionalResidualBlock(nn.Module):
    """Residual 2-D conv block over the spectrogram, normalised conditionally on ``z``.

    conv3x3 → CBN → PReLU → Dropout2d → conv3x3 → CBN → [SE] ; skip (1×1 conv when the
    channel count changes) ; add → PReLU → Dropout2d → 2×2 average pooling.
    """

    def __init__(
        self, in_ch: int, out_ch: int, cond_size: int, dropout: float = 0.0, se_ratio: float | None = None
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.norm1 = ConditionalBatchNorm2d(out_ch, cond_size)
        self.act1 = nn.PReLU(out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1, bias=False)
        self.norm2 = ConditionalBatchNorm2d(out_ch, cond_size)
        self.se = SEModule(out_ch, se_ratio) if se_ratio else nn.Identity()
        self.skip = PointwiseConv2d(in_ch, out_ch) if in_ch != out_ch else nn.Identity()
        self.act2 = nn.PReLU(out_ch)
        self.drop = nn.Dropout2d(dropout)
        self.pool = nn.AvgPool2d(2, ceil_mode=True)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.act1(self.norm1(self.conv1(x), z)))
        h = self.se(self.norm2(self.conv2(h), z))
        return self.pool(self.drop(self.act2(h + self.skip(x))))


class FeatureScaling(nn.Module):
    """Standardise a feature vector with statistics stored in the model: ``(f - center) / scale``.

    The statistics are buffers (saved in the weights, not trained), fitted once on the
    training windows by :meth:`fit`: the median and the interquartile range over 1.349 (the SD
    of a normal distribution with that IQR), robust to the heavy tails of rhythm features.
    Undefined values (NaN) become 0 (the median) after standardising, and every value is
    clipped to ``±clip`` so one outlying window cannot dominate.

    Parameters
    ----------
    n_features : int
        Length of the feature vector.
    clip : float
        Largest absolute standardised value.

    Example
    -------
    >>> scaling = FeatureScaling(2)
    >>> scaling.fit(torch.tensor([[0.0, 1.0], [2.0, float("nan")], [4.0, 3.0]]))
    >>> scaling(torch.tensor([[2.0, float("nan")]])).tolist()
    [[0.0, 0.0]]
    """

    def __init__(self, n_features: int, clip: float = 5.0) -> None:
        super().__init__()
        self.clip = clip
        self.register_buffer("center", torch.zeros(n_features))
        self.register_buffer("scale", torch.ones(n_features))

    @torch.no_grad()
    def fit(self, features: torch.Tensor, min_scale: float = 1e-6) -> None:
        """Set ``center`` and ``scale`` from training features ``(n, n_features)`` (NaN ignored).

        A column that is constant or always undefined gets scale 1 (and center 0 when undefined).
        """
        q = torch.nanquantile(features.double(), torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64), dim=0)
        center = torch.nan_to_num(q[1], nan=0.0)
        scale = (q[2] - q[0]) / 1.349
        scale = torch.where(torch.isfinite(scale) & (scale > min_scale), scale, torch.ones_like(scale))
        self.center.copy_(center.float())
        self.scale.copy_(scale.float())

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        z = (features - self.center) / self.scale
        return torch.nan_to_num(z, nan=0.0, posinf=self.clip, neginf=-self.clip).clamp(-self.clip, self.clip)


class RhythmEncoder(nn.Module):
    """Embed a window's rhythm features: standardise → linear → PReLU → dropout.

    Parameters
    ----------
    n_features : int
        Rhythm features per window (:data:`afdetect.signal.features.FEATURE_NAMES`).
    size : int
        Embedding size.
    dropout : float
        Dropout on the embedding during training.
    """

    def __init__(self, n_features: int, size: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.scaling = FeatureScaling(n_features)
        self.linear = nn.Linear(n_features, size)
        self.act = nn.PReLU()
        self.drop = nn.Dropout(dropout)

    def forward(self, features: torch.Tensor | None) -> torch.Tensor:
        """Embedding ``(batch, size)`` of raw features ``(batch, n_features)`` (NaN allowed).

        Raises ``ValueError`` naming the expected shape when ``features`` is missing or of
        another length (a hybrid model called without the windows' rhythm features).
        """
        n_features = self.linear.in_features
        if features is None or features.ndim != 2 or features.shape[-1] != n_features:
            got = None if features is None else tuple(features.shape)
            raise ValueError(f"this model needs rhythm features (batch, {n_features}); got {got}")
        return self.drop(self.act(self.linear(self.scaling(features.to(self.linear.weight.dtype)))))


class ResidualBlock1d(nn.Module):
    """Two 1-D convolutions with batch norm and a skip path: ``relu(bn(conv(relu(bn(conv(x))))) + skip(x))``.

    The first convolution has ``stride``; the skip path is a strided 1×1 convolution with batch
    norm where the shape changes, else the identity.

    Parameters
    ----------
    in_ch, out_ch : int
        Input and output channels.
    kernel : int
        Convolution kernel (samples, odd).
    stride : int
        Stride of the first convolution (2 halves the time axis).
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        pad = kernel // 2
        self.conv1 = nn.Conv1d(in_ch, out_ch, kernel, stride, pad, bias=False)
        self.norm1 = nn.BatchNorm1d(out_ch)
        self.conv2 = nn.Conv1d(out_ch, out_ch, kernel, 1, pad, bias=False)
        self.norm2 = nn.BatchNorm1d(out_ch)
        self.act = nn.ReLU()
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or in_ch != out_ch:
            self.skip = nn.Sequential(nn.Conv1d(in_ch, out_ch, 1, stride, bias=False), nn.BatchNorm1d(out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.norm1(self.conv1(x)))
        return self.act(self.norm2(self.conv2(h)) + self.skip(x))
