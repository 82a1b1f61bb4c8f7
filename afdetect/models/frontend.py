"""The model's torch front end: overlapping frames and log-magnitude spectrogram of a window."""

from __future__ import annotations

import torch

from afdetect.config import (
    FRAME_LENGTH,
    FRAME_STEP,
    N_FFT,
    STFT_HOP,
)


def frame_signal(x: torch.Tensor, length: int = FRAME_LENGTH, step: int = FRAME_STEP) -> torch.Tensor:
    """Cut signals ``(batch, n_samples)`` into overlapping frames ``(batch, n_frames, length)``.

    The tail is zero-padded so the last frame reaches the end of the signal.

    Example
    -------
    >>> frame_signal(torch.zeros(2, 3840)).shape
    torch.Size([2, 35, 128])
    """
    n = x.shape[-1]
    n_frames = max(1, -(-(n - length) // step) + 1)
    pad = (n_frames - 1) * step + length - n
    if pad > 0:
        x = torch.nn.functional.pad(x, (0, pad))
    return x.unfold(-1, length, step)


def log_spectrogram(x: torch.Tensor, n_fft: int = N_FFT, hop: int = STFT_HOP) -> torch.Tensor:
    """Log-magnitude STFT of signals ``(batch, n_samples)`` as images ``(batch, 1, freq, time)``.

    Hann window of ``n_fft`` samples, ``hop`` samples apart, magnitude normalised by the
    window energy, then ``log(max(|S|, 1e-8))``.

    Example
    -------
    >>> log_spectrogram(torch.zeros(2, 3840)).shape
    torch.Size([2, 1, 17, 241])
    """
    window = torch.hann_window(n_fft, device=x.device, dtype=x.dtype)
    spec = torch.stft(x, n_fft, hop_length=hop, window=window, normalized=True, return_complex=True)
    return torch.log(spec.abs().clamp_min(1e-8)).unsqueeze(1)
