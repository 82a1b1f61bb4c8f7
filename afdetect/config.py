"""The one definition of every constant the pipeline stages share.

Every stage (segmenting, transforms, model, training, prediction) reads these values;
nothing else in the package repeats them. The input a model sees is gathered in one frozen
:class:`Preprocessing`, stored in the windows file and in the weights; prediction builds its
pipeline from the weights' copy, and a windows file and weights that disagree are refused,
so a future change here cannot silently mismatch shipped weights.

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
FS_RANGE_HZ = 50 Hz - 20 kHz
    Sampling rates a record may declare. Below 50 Hz one sample spans 20 ms, a fifth of a
    QRS complex, and the Nyquist limit (25 Hz) cuts into the QRS band (5-40 Hz): R peaks and
    RR irregularity can no longer be located. Above 20 kHz no ECG is recorded (high-resolution
    and pacemaker-spike recordings use up to 10-16 kHz); such a rate is an error in the header,
    and resampling it to 128 Hz would need a ratio the polyphase filter cannot realise.
HEADER_MAX_BYTES = 10 MB
    Largest header read. A single-segment header is a line per signal (under 10 kB); a
    multi-segment header of a month-long record, a line per segment, stays under 1 MB. A
    larger ``.hea`` is refused before it is read into memory.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

MODEL_FS: int = 128
"""Sampling rate of the model input (Hz)."""

WINDOW_S: float = 30.0
"""Window length (s)."""

HOP_S: float = 15.0
"""Hop between window starts (s)."""

MIN_RECORD_S: float = 8.0
"""Shortest record (s) that still yields one (zero-padded) window."""

FS_RANGE_HZ: tuple[float, float] = (50.0, 20_000.0)
"""Sampling rates (Hz) a record may declare (see the module docstring for the reasons)."""

HEADER_MAX_BYTES: int = 10_000_000
"""Largest header file read (bytes); larger ones are refused unread."""

BANDPASS_HZ: tuple[float, float] = (0.5, 40.0)
"""Pass band (Hz) applied to every window before normalisation."""

# LSTM frames and spectrogram, in samples at MODEL_FS. The published design (at 300 Hz) used
# frames of 256 samples every 224 (0.85 s every 0.75 s) and an STFT of 64 samples every 32
# (0.21 s every 0.11 s). The same durations at 128 Hz: frames of 1 s every 0.875 s, STFT of
# 0.25 s every 0.125 s (17 frequency bins of 4 Hz). Time resolution matters most: the CNN must
# see beat-to-beat (RR) irregularity of 0.1-0.2 s.
FRAME_LENGTH: int = 128
FRAME_STEP: int = 112
N_FFT: int = 32
STFT_HOP: int = 16

LABEL_NAMES: tuple[str, str] = ("non-AF", "AF")
"""Window labels (AF against the rest), index = class id; the classes of a two-class model."""

CINC_CLASSES: tuple[str, ...] = ("N", "A", "O", "~")
"""The four CinC 2017 classes (normal, AF, other rhythm, noisy), index = class id: the classes
of the rhythm trees and of a four-class ECGCNN (``train --classes 4``)."""

AF_CLASS: int = 1
"""Index of the AF class in both class lists, :data:`LABEL_NAMES` and :data:`CINC_CLASSES`: a
model's ``p_af`` is its probability of this class (softmax column, trees output), whichever
list it was trained on.

Example
-------
>>> LABEL_NAMES[AF_CLASS], CINC_CLASSES[AF_CLASS]
('AF', 'A')
"""

MODEL_CLASSES: dict[int, tuple[str, ...]] = {len(LABEL_NAMES): LABEL_NAMES, len(CINC_CLASSES): CINC_CLASSES}
"""The class lists an ECGCNN is trained on, by number of classes (``train --classes 2|4``)."""

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


@dataclass(frozen=True)
class Preprocessing:
    """The input a model is trained on: rates, windows, band-pass, frames, STFT and classes.

    Saved in the windows file (``provenance["preprocessing"]``) and in the weights
    (``preprocessing``); the predictor builds its pipeline from the weights' copy.

    Example
    -------
    >>> Preprocessing.from_dict({"model_fs": 128, "window_s": 30.0}) == Preprocessing()
    True
    >>> Preprocessing().differences(Preprocessing(hop_s=10.0))
    ['hop_s 15.0 vs 10.0']
    """

    model_fs: int = MODEL_FS
    window_s: float = WINDOW_S
    hop_s: float = HOP_S
    bandpass_hz: tuple[float, float] = BANDPASS_HZ
    frame_length: int = FRAME_LENGTH
    frame_step: int = FRAME_STEP
    n_fft: int = N_FFT
    stft_hop: int = STFT_HOP
    label_names: tuple[str, ...] = LABEL_NAMES

    def to_dict(self) -> dict[str, Any]:
        """Plain types (tuples as lists), as the windows file and the weights store them."""
        return {f.name: list(v) if isinstance(v := getattr(self, f.name), tuple) else v for f in fields(self)}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Preprocessing:
        """Read a stored copy back; fields a file predates take this version's defaults."""
        known = {f.name for f in fields(cls)}
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
        return cls(**kwargs)

    def differences(self, other: Preprocessing) -> list[str]:
        """``"name mine vs other"`` for each field that differs (empty when the two agree)."""
        return [
            f"{f.name} {getattr(self, f.name)} vs {getattr(other, f.name)}"
            for f in fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        ]


RECORD_AF_FRACTION: float = 0.5
"""A record is called AF (record-level metrics) when at least this fraction of its
judged windows is AF."""

# AF episodes and burden (afdetect.rhythm.episodes). Windows overlap, so each window "owns" the
# middle of its span: from the midpoint between its centre and the previous window's centre to
# the midpoint with the next one (the first window owns from the record start, the last to the
# record end). With 30 s windows every 15 s that is the window's middle 15 s; owned spans tile
# the record, so AF time adds up exactly and episode borders are unbiased at 15 s resolution.
AF_EPISODE_MIN_S: float = 30.0
"""Shortest AF episode (s) reported: the clinical definition of an AF episode (HRS/EHRA/ESC
consensus: AF lasting at least 30 s). Shorter AF stretches are dropped, except when AF fills a
whole record shorter than this (a 10-20 s strip entirely in AF, as in CinC 2017)."""
AF_EPISODE_MAX_GAP_S: float = 30.0
"""AF stretches separated by less than this (s) of non-AF or unreadable signal form one episode.
One non-AF window owns 15 s, so a single dissenting (or unreadable) window between AF windows
does not split an episode; 30 s or more of another rhythm, the length of an episode, does."""

AF_AUX_NOTE: str = "(AFIB"
"""Rhythm aux note written at the onset of a detected AF episode (PhysioNet rhythm code)."""
NON_AF_AUX_NOTE: str = "(N"
"""Rhythm aux note written where a detected AF episode ends (or at sample 0 without AF)."""
ANNOTATION_EXTENSION: str = "afd"
"""Default extension (WFDB annotator name) of the rhythm annotation files predict writes."""

EC57_START_S: float = 0.0
"""Start (s) of the EC57 episode comparison in each record. ``epicmp`` defaults to 300 s (a
5-minute learning period for adaptive devices); afdetect has no learning period and CPSC 2021
records are often shorter than 5 min, so the whole record is compared. Pass ``start_s=300`` to
``afdetect.evaluate.ec57.compare_af_episodes`` to reproduce ``epicmp``'s default."""

SUMMARY_TABLE_MAX_ROWS: int = 50
"""Most per-record rows the predict/eval summary tables print (files always hold every record)."""

# Classical RR-irregularity baseline (afdetect.signal.beats, ``--method rr``).
RR_REFRACTORY_S: float = 0.25
"""Shortest RR interval (s) the R-peak detector accepts (240 bpm)."""
RR_MIN_BEATS: int = 8
"""Fewer detected beats than this in a window give no RR features (about 7 RR intervals
are the least a short-series entropy estimate can use)."""
RR_UNDETERMINED_P: float = 0.5
"""RR score of a window with fewer than ``RR_MIN_BEATS`` beats (no rhythm evidence)."""
RR_THRESHOLD: float = 0.85
"""Default AF threshold on the RR score: F1-optimal on the CinC 2017 training records (see
``benchmarks/fit_rr_baseline.py``; the score's logistic weights are class-balanced, hence a
threshold well above 0.5). Above ``RR_UNDETERMINED_P``, so beat-less windows are non-AF."""

# Training recipe (afdetect.training.loop.TrainConfig and ``afdetect train``): the shipped weights' recipe.
TRAIN_EPOCHS: int = 50
"""Maximum training epochs (the one-cycle learning-rate schedule spans them all)."""
TRAIN_PATIENCE: int = 20
"""Early stopping: epochs without a better validation F1(AF) before training stops."""
TRAIN_BATCH: int = 64
"""Windows per training batch (per process under ``torchrun``)."""
TRAIN_LR: float = 3e-3
"""Peak learning rate of the one-cycle schedule (RAdam)."""
TRAIN_WEIGHT_DECAY: float = 1e-4
"""RAdam weight decay."""
VAL_FRACTION: float = 0.15
"""Share of each class's records that validates (early stopping and the AF threshold)."""
TEST_FRACTION: float = 0.15
"""Share of each class's records held out for testing (without K-fold cross-validation)."""
AUGMENT_P: float = 0.4
"""Probability of each augmentation (see :mod:`afdetect.training.augment`)."""
TRAIN_CLASSES: int = 2
"""Classes ECGCNN learns by default (``train --classes``): AF against the rest, as the shipped
weights; 4 learns CinC 2017's N, A, O, ~ (:data:`CINC_CLASSES`) as the original ECG-DualNet did."""

# Prediction speed and review figures (afdetect.detect.predictor, afdetect.viz.record).
INFERENCE_BATCH: int = 32
"""Windows per model forward pass in prediction. Small batches keep the CNN's feature maps in
the CPU cache: on CPU, 32 windows a pass run about 2.5× faster than 256 and need a fraction of
the memory (results do not depend on it: batch norm uses its running statistics)."""
STRIP_MAX_S: float = 600.0
"""Longest ECG strip (s) ``afdetect plot`` draws sample by sample; longer spans need ``--overview``."""
STRIP_DEFAULT_S: float = 30.0
"""Strip length (s) ``afdetect plot`` draws when only ``--start`` is given (one window)."""
OVERVIEW_MIN_S: float = 600.0
"""Records longer than this (s) get the whole-record overview when ``afdetect plot`` is given
neither ``--start`` nor ``--duration`` (shorter records get a strip: see ``STRIP_VIEW_S``)."""
STRIP_VIEW_S: float = 60.0
"""Default strip of a record up to ``OVERVIEW_MIN_S`` long: the whole record when it is no longer
than this (s), else this long, starting a window hop before its first AF window (or at 0 s)."""


DEFAULT_PREPROCESSING = Preprocessing()
"""This version's preprocessing (the constants above)."""


DEFAULT_JOBS: int = 2
"""``predict --jobs`` default. Measured on 2 cores (``benchmarks/folder_speed.py``, 1,024 CinC strips):
two workers take a folder in 3.2-3.5× a bare read against 4.3-5.1× for one, for the trees and
the CNN alike; a single record always runs in this process."""
