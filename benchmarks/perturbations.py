"""The perturbations of ``benchmarks/robustness.py``: how recordings from other devices differ.

Each maps a raw record (1-D float32 mV), its sampling rate (Hz) and a seeded generator to the
perturbed record and its sampling rate; :data:`PERTURBATIONS` names the benchmark's set, in
report order.
"""

from __future__ import annotations

import inspect
import zlib
from collections.abc import Callable
from functools import partial

import numpy as np
from common import resample_signal

from afdetect.signal.filters import filtfilt_bandpass

Perturbation = Callable[[np.ndarray, float, np.random.Generator], tuple[np.ndarray, float]]
"""Maps a raw record (1-D float32 mV), its sampling rate (Hz) and a generator to the perturbed
record and its sampling rate."""


def clean(x: np.ndarray, fs: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """No perturbation: the record as CinC 2017's handheld device recorded it (the reference)."""
    return x, fs


def device_rate(x: np.ndarray, fs: float, rng: np.random.Generator, *, fs_out: float) -> tuple[np.ndarray, float]:
    """A device sampling at ``fs_out`` Hz: polyphase resampling (``scipy.signal.resample_poly``)."""
    return resample_signal(x, fs, fs_out).astype(x.dtype), float(fs_out)


def inverted(x: np.ndarray, fs: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Reversed polarity (electrodes swapped, a hand-held device held the other way round): ×-1."""
    return -x, fs


def baseline_wander(
    x: np.ndarray,
    fs: float,
    rng: np.random.Generator,
    *,
    amplitude_mv: float,
    band_hz: tuple[float, float] = (0.1, 0.5),
) -> tuple[np.ndarray, float]:
    """Electrode motion and respiration: two sines of ``amplitude_mv`` mV (peak) each, at random
    frequencies in ``band_hz`` Hz and random phases, added."""
    t = np.arange(len(x)) / fs
    freqs = rng.uniform(*band_hz, size=(2, 1))
    phases = rng.uniform(0, 2 * np.pi, size=(2, 1))
    wander = amplitude_mv * np.sin(2 * np.pi * freqs * t + phases).sum(axis=0)
    return (x + wander).astype(x.dtype), fs


def muscle_noise(
    x: np.ndarray, fs: float, rng: np.random.Generator, *, snr_db: float, band_hz: tuple[float, float] = (20.0, 150.0)
) -> tuple[np.ndarray, float]:
    """Muscle (EMG) noise: Gaussian noise band-passed to ``band_hz`` Hz (upper edge at most 0.45 ``fs``),
    its power ``snr_db`` dB below the record's (its variance, mV²)."""
    noise = filtfilt_bandpass(rng.standard_normal(len(x)), (band_hz[0], min(band_hz[1], 0.45 * fs)), fs)
    power = np.nanvar(x) / 10 ** (snr_db / 10)
    return (x + noise * np.sqrt(power / noise.var())).astype(x.dtype), fs


def mains(
    x: np.ndarray, fs: float, rng: np.random.Generator, *, freq_hz: float, amplitude_mv: float = 0.1
) -> tuple[np.ndarray, float]:
    """Mains interference: a ``freq_hz`` Hz sine of ``amplitude_mv`` mV (peak) at a random phase, added."""
    t = np.arange(len(x)) / fs
    return (x + amplitude_mv * np.sin(2 * np.pi * freq_hz * t + rng.uniform(0, 2 * np.pi))).astype(x.dtype), fs


def quantised(x: np.ndarray, fs: float, rng: np.random.Generator, *, step_mv: float) -> tuple[np.ndarray, float]:
    """A coarse ADC: every sample rounded to a multiple of ``step_mv`` mV."""
    return (np.round(x / step_mv) * step_mv).astype(x.dtype), fs


def scaled(x: np.ndarray, fs: float, rng: np.random.Generator, *, gain: float) -> tuple[np.ndarray, float]:
    """Another amplifier gain: the signal times ``gain`` (z-normalisation should undo it)."""
    return (x * gain).astype(x.dtype), fs


def truncated(x: np.ndarray, fs: float, rng: np.random.Generator, *, seconds: float) -> tuple[np.ndarray, float]:
    """A short recording, as a 12-lead resting ECG (10 s): the record's first ``seconds`` s."""
    return x[: int(round(seconds * fs))], fs


PERTURBATIONS: dict[str, Perturbation] = {
    "clean": clean,
    "rate_128hz": partial(device_rate, fs_out=128),
    "rate_250hz": partial(device_rate, fs_out=250),
    "rate_500hz": partial(device_rate, fs_out=500),
    "rate_1000hz": partial(device_rate, fs_out=1000),
    "inverted": inverted,
    "wander_2x0.5mv": partial(baseline_wander, amplitude_mv=0.5),
    "emg_20db": partial(muscle_noise, snr_db=20.0),
    "emg_10db": partial(muscle_noise, snr_db=10.0),
    "mains_50hz": partial(mains, freq_hz=50.0),
    "mains_60hz": partial(mains, freq_hz=60.0),
    "adc_20uv": partial(quantised, step_mv=0.02),
    "gain_0.3": partial(scaled, gain=0.3),
    "gain_3": partial(scaled, gain=3.0),
    "first_10s": partial(truncated, seconds=10.0),
}
"""The benchmark's perturbations, in report order; ``clean`` first (the reference)."""


def describe(perturbation: Perturbation) -> str:
    """The perturbation's meaning: its function's docstring summary and its parameters' values.

    Example
    -------
    >>> describe(PERTURBATIONS["mains_50hz"])  # doctest: +ELLIPSIS
    'Mains interference: a ``freq_hz`` Hz sine ... (freq_hz = 50.0, amplitude_mv = 0.1).'
    """
    func = getattr(perturbation, "func", perturbation)
    summary = " ".join(((func.__doc__ or "").split("\n\n")[0]).split())
    parameters = inspect.signature(func).parameters.values()
    values = {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY}
    values.update(getattr(perturbation, "keywords", {}))
    return (
        summary.rstrip(".") + (" (" + ", ".join(f"{k} = {v}" for k, v in values.items()) + ")" if values else "") + "."
    )


def noise_generator(seed: int, name: str) -> np.random.Generator:
    """The generator of one perturbation: seeded by ``seed`` and the perturbation's name (not its order)."""
    return np.random.default_rng([seed, zlib.crc32(name.encode())])
