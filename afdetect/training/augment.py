"""Training-time augmentation of conditioned windows (z-normalised, ``MODEL_FS`` Hz).

Each step models a way real recordings differ from the training set's device, and each is
applied independently with probability ``p``; the result is z-normalised again, as
prediction's conditioning would. All randomness comes from the ``rng`` passed in, so a
seeded run is reproducible (and resumable) whatever the data-loader workers do.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from afdetect.config import MODEL_FS
from afdetect.signal.beats import signal_lengths
from afdetect.signal.conditioning import normalise


def flip_polarity(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Invert the signal (leads such as aVR, or reversed electrodes, show inverted QRS)."""
    return -x


def stretch_time(x: np.ndarray, rng: np.random.Generator, max_change: float = 0.15) -> np.ndarray:
    """Resample by a random factor in ``1 ± max_change`` (heart-rate and device-clock jitter).

    The window keeps its length: a stretched signal is cropped, a compressed one padded by
    reflection.
    """
    factor = rng.uniform(1 - max_change, 1 + max_change)
    n = len(x)
    positions = np.arange(n) / factor
    positions = np.abs(positions) % (2 * (n - 1))
    positions = np.where(positions > n - 1, 2 * (n - 1) - positions, positions)
    return np.interp(positions, np.arange(n), x).astype(np.float32)


def shift_time(x: np.ndarray, rng: np.random.Generator, max_shift_s: float = 3.0) -> np.ndarray:
    """Shift by up to ``max_shift_s`` seconds (either way), filling by reflection."""
    shift = int(rng.integers(-max_shift_s * MODEL_FS, max_shift_s * MODEL_FS + 1))
    if shift == 0:
        return x
    padded = np.pad(x, abs(shift), mode="reflect")
    start = abs(shift) + shift
    return padded[start : start + len(x)]


def add_baseline_wander(x: np.ndarray, rng: np.random.Generator, max_amplitude: float = 0.5) -> np.ndarray:
    """Add a slow sine (0.05-0.5 Hz) of up to ``max_amplitude`` standard deviations (breathing, motion)."""
    t = np.arange(len(x)) / MODEL_FS
    freq = rng.uniform(0.05, 0.5)
    return (x + rng.uniform(0, max_amplitude) * np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi))).astype(
        np.float32
    )


def add_noise(x: np.ndarray, rng: np.random.Generator, max_std: float = 0.15) -> np.ndarray:
    """Add white Gaussian noise of up to ``max_std`` signal standard deviations (EMG, electrode noise)."""
    return (x + rng.normal(0, rng.uniform(0, max_std), len(x))).astype(np.float32)


def add_powerline(x: np.ndarray, rng: np.random.Generator, max_amplitude: float = 0.1) -> np.ndarray:
    """Add a mains-like tone (aliased 50/60 Hz lands anywhere below 64 Hz at 128 Hz)."""
    t = np.arange(len(x)) / MODEL_FS
    freq = rng.uniform(30, 63)
    return (x + rng.uniform(0, max_amplitude) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def scale_amplitude(x: np.ndarray, rng: np.random.Generator, low: float = 0.7, high: float = 1.3) -> np.ndarray:
    """Scale the second half of the window against the first (gain change within a window)."""
    gain = np.ones(len(x), dtype=np.float32)
    gain[rng.integers(len(x) // 4, 3 * len(x) // 4) :] = rng.uniform(low, high)
    return x * gain


def cutout(x: np.ndarray, rng: np.random.Generator, fraction: float = 0.05) -> np.ndarray:
    """Zero a random stretch of ``fraction`` of the window (lead-off moments, dropped packets)."""
    n = int(len(x) * fraction)
    start = int(rng.integers(0, len(x) - n))
    out = x.copy()
    out[start : start + n] = 0
    return out


AUGMENTATIONS: tuple[Callable[[np.ndarray, np.random.Generator], np.ndarray], ...] = (
    flip_polarity,
    stretch_time,
    shift_time,
    add_baseline_wander,
    add_noise,
    add_powerline,
    scale_amplitude,
    cutout,
)


def augment_window(x: np.ndarray, rng: np.random.Generator, p: float = 0.4) -> np.ndarray:
    """Apply each augmentation with probability ``p``, then z-normalise.

    Example
    -------
    >>> rng = np.random.default_rng(0)
    >>> augment_window(np.sin(np.arange(3840) / 20).astype("f4"), rng).shape
    (3840,)
    """
    x = np.asarray(x, dtype=np.float32)
    for step in AUGMENTATIONS:
        if rng.random() < p:
            x = step(x, rng)
    return normalise(x)


def crop_signal(
    windows: np.ndarray, drop_s: float, *, at_start: bool, min_signal_s: float, fs: float = MODEL_FS
) -> np.ndarray:
    """Windows less ``drop_s`` seconds of their real signal at the start or at the end.

    A window cropped at the start has the rest of its signal moved to the front; either way the
    freed stretch joins the zero-padded tail, as a shorter recording's would. Windows with under
    ``min_signal_s`` seconds of real signal are returned whole.

    Parameters
    ----------
    windows : numpy.ndarray
        ``(n, samples)`` conditioned windows at ``fs`` Hz, each zero-padded after its real signal.
    drop_s : float
        Seconds of signal removed.
    at_start : bool
        Remove them at the start (else at the end).
    min_signal_s : float
        Shortest real signal (s) that is cropped.
    fs : float
        Sampling rate (Hz).

    Returns
    -------
    numpy.ndarray
        float32 ``(n, samples)``.

    Example
    -------
    >>> x = np.arange(1, 3841, dtype="f4")[None]  # 30 s of signal at 128 Hz
    >>> y = crop_signal(x, 6.0, at_start=True, min_signal_s=20.0)
    >>> float(y[0, 0]), float(y[0, 3071]), float(y[0, 3072])
    (769.0, 3840.0, 0.0)
    >>> float(crop_signal(x, 6.0, at_start=False, min_signal_s=20.0)[0, 3071])
    3072.0
    """
    out = np.array(windows, dtype=np.float32)
    drop = int(round(drop_s * fs))
    lengths = signal_lengths(out)
    for i in np.flatnonzero(lengths >= min_signal_s * fs):
        keep = lengths[i] - drop
        if at_start:
            out[i, :keep] = out[i, drop : lengths[i]]
        out[i, keep : lengths[i]] = 0.0
    return out
