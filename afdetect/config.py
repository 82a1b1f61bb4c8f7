"""The one definition of every constant the pipeline stages share.

Every stage (segmenting, transforms, model, training, prediction) reads these values;
nothing else in the package repeats them. Checkpoints store the values they were trained
with, and prediction uses the checkpoint's copy, so a future change here cannot silently
mismatch shipped weights.

Choices
-------
MODEL_FS = 128 Hz
    The model rate. Every record is resampled to it (polyphase). AF evidence (RR
    irregularity, absent P waves, fibrillatory f-waves of 4-9 Hz) lies far below 64 Hz,
    and 128 Hz is the lowest rate among common Holter devices, so no device's signal is
    ever asked for detail it does not have.
WINDOW_S = 30 s, HOP_S = 15 s
    30 s is the conventional minimum duration of an AF episode (HRS/EHRA consensus) and the
    length of most CinC 2017 recordings; 25-60 beats give a stable irregularity picture.
    Half-window hop gives every sample two looks and episode borders to 15 s resolution.
MIN_RECORD_S = 8 s
    A record shorter than one window but at least this long yields one zero-padded window
    (about 8-10 beats at normal rates; CinC 2017's shortest is 9 s). Shorter is refused.
"""

from __future__ import annotations

MODEL_FS: int = 128
"""Sampling rate of the model input (Hz)."""

WINDOW_S: float = 30.0
"""Window length (s)."""

HOP_S: float = 15.0
"""Hop between window starts (s)."""

MIN_RECORD_S: float = 8.0
"""Shortest record (s) that still yields one (zero-padded) window."""

BANDPASS_HZ: tuple[float, float] = (0.5, 40.0)
"""Pass band (Hz) applied to every window before normalisation."""

# LSTM frames and spectrogram (figures of the published design, in samples at MODEL_FS).
FRAME_LENGTH: int = 256
FRAME_STEP: int = 224
N_FFT: int = 64
STFT_HOP: int = 32

LABEL_NAMES: tuple[str, str] = ("non-AF", "AF")
"""Class names, index = class id."""

UNREADABLE: str = "unreadable"
"""Label of a window the signal-quality check refuses."""

IGNORE_LABEL: int = -1
"""Window label for windows left out of training and window-level metrics
(straddling a rhythm change, touching atrial flutter, or unlabelled)."""

# Window labelling from rhythm intervals (fractions of the window).
AF_MIN_FRACTION: float = 0.9
"""A window is AF when at least this fraction of it lies in AF."""
NON_AF_MAX_FRACTION: float = 0.1
"""A window is non-AF when at most this fraction lies in AF (and none in flutter)."""

# Signal-quality limits for a window (physical units, mV).
FLAT_STD_MV: float = 0.01
"""A window whose standard deviation is below this (mV) is flat."""
CLIP_FRACTION: float = 0.2
"""A window with more than this fraction of samples at its extreme values is clipped."""
MAX_INVALID_FRACTION: float = 0.1
"""A window with more than this fraction of invalid (NaN) samples is unreadable."""

AF_RHYTHMS: frozenset[str] = frozenset({"(AFIB", "(AF"})
"""Rhythm aux notes that mean atrial fibrillation."""
FLUTTER_RHYTHMS: frozenset[str] = frozenset({"(AFL"})
"""Rhythm aux notes that mean atrial flutter (left out of AF labels, as in EC57)."""

CINC_LABEL_MAP: dict[str, int] = {"N": 0, "O": 0, "~": 0, "A": 1}
"""CinC 2017 record labels to classes: AF against everything else (normal, other, noisy)."""


def window_samples(fs: float = MODEL_FS, window_s: float = WINDOW_S) -> int:
    """Number of samples in one window at ``fs`` Hz."""
    return int(round(window_s * fs))


RECORD_AF_FRACTION: float = 0.5
"""A record is called AF (record-level metrics) when at least this fraction of its
judged windows is AF."""
