"""Demand pacing of synthetic ECG (:mod:`afdetect.io.synthetic`): a VVI pacemaker's beats.

A VVI pacemaker senses the ventricle and paces it when no beat of its own comes within the
*escape interval* (60 / lower rate seconds) of the last beat, sensed or paced; every beat
restarts the timer. So it fills every gap longer than the escape interval with paced beats
exactly one escape interval apart:

* in **sinus rhythm slower than the lower rate** the pacemaker competes with the sinus node.
  The sinus P waves go on at their own rate (the sinus node is not reset by a ventricular
  beat); one that falls within :data:`REFRACTORY_S` of a paced beat is not conducted, the
  others are, and restart the timer (runs of paced beats broken by conducted ones);
* in **AF** it paces wherever the irregular ventricular response pauses, so every RR interval
  over the escape interval becomes exactly the escape interval: AF with a regular floor.

A paced beat (WFDB symbol ``/``) is a wide complex with a T wave opposite to it, as a
ventricular ectopic beat, led by a pacing spike (:data:`PACED_WAVES`).

Example
-------
>>> times, symbols = demand_paced_beats(np.array([0.0, 0.8, 2.6, 3.0]), np.array(list("NNNN")), Pacing(60))
>>> times.round(2).tolist(), "".join(symbols)
([0.0, 0.8, 1.8, 2.6, 3.0], 'NN/NN')
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from afdetect.io.synthetic_ectopy import PVC_WAVES

PACED_SYMBOL: str = "/"
"""WFDB beat annotation symbol of a paced beat."""

PACING_SPIKE: tuple[float, float, float] = (2.0, -0.02, 0.0005)
"""The pacing spike (amplitude mV, centre s relative to the paced complex, width s): a 2 mV
spike of about 1 ms, 20 ms before the complex, as a bipolar lead shows it unfiltered."""

PACED_WAVES: tuple[tuple[float, float, float], ...] = (PACING_SPIKE, *PVC_WAVES)
"""Waves of a paced beat (instead of the normal QRST): the spike and a wide ventricular complex."""

REFRACTORY_S: float = 0.3
"""An intrinsic beat within this time (s) after a paced beat is not conducted (the ventricle is refractory)."""

LOWER_RATE_BPM: tuple[float, float] = (30.0, 120.0)
"""Lower rates (beats per minute) a :class:`Pacing` accepts."""


@dataclass(frozen=True)
class Pacing:
    """A VVI (demand) pacemaker.

    Attributes
    ----------
    lower_rate_bpm : float
        Lower rate (beats per minute): the pacemaker paces when the ventricle has not beaten
        for ``60 / lower_rate_bpm`` seconds.

    Example
    -------
    >>> Pacing(60).escape_s, Pacing(60).label
    (1.0, 'VVI 60 bpm')
    """

    lower_rate_bpm: float

    def __post_init__(self) -> None:
        low, high = LOWER_RATE_BPM
        if not low <= self.lower_rate_bpm <= high:
            raise ValueError(f"pacing lower rate must be within {low:g}-{high:g} bpm, got {self.lower_rate_bpm}")

    @property
    def escape_s(self) -> float:
        """Escape interval (s): the longest pause the pacemaker allows."""
        return 60.0 / self.lower_rate_bpm

    @property
    def label(self) -> str:
        """``VVI 60 bpm``."""
        return f"VVI {self.lower_rate_bpm:g} bpm"


def demand_paced_beats(times: np.ndarray, symbols: np.ndarray, pacing: Pacing) -> tuple[np.ndarray, np.ndarray]:
    """The ventricular beats under demand pacing (see the module docstring).

    Parameters
    ----------
    times : numpy.ndarray
        Ascending times (s) of the intrinsic beats (those the rhythm would conduct unpaced).
    symbols : numpy.ndarray
        Their WFDB beat symbols.
    pacing : Pacing
        The pacemaker.

    Returns
    -------
    times : numpy.ndarray
        Ascending beat times (s): paced beats added, intrinsic beats in a paced beat's
        refractory period removed.
    symbols : numpy.ndarray
        Their symbols (:data:`PACED_SYMBOL` for the paced ones).
    """
    out_times: list[float] = []
    out_symbols: list[str] = []
    for time, symbol in zip(times, symbols, strict=True):
        if out_times:
            while time - out_times[-1] > pacing.escape_s:
                out_times.append(out_times[-1] + pacing.escape_s)
                out_symbols.append(PACED_SYMBOL)
            if out_symbols[-1] == PACED_SYMBOL and time - out_times[-1] < REFRACTORY_S:
                continue
        out_times.append(float(time))
        out_symbols.append(str(symbol))
    return np.asarray(out_times, dtype=float), np.asarray(out_symbols, dtype=str)
