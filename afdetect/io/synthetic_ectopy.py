"""Ectopic beats of synthetic ECG (:mod:`afdetect.io.synthetic`): premature atrial and ventricular beats.

A premature beat changes the beat times and the waves of the beat:

* **PAC** (premature atrial contraction, WFDB symbol ``A``): premature by 20-40 % of the
  RR interval it interrupts, conducted normally (the same narrow QRST) and preceded by an
  early P wave of its own focus (inverted and smaller than the sinus P wave). It resets the
  sinus node, so the next sinus beat follows one sinus cycle after it: a *non-compensatory*
  pause (the two intervals around the PAC sum to less than two sinus RR).
* **PVC** (premature ventricular contraction, ``V``): premature by 25-45 %, no P wave, a
  wide (about 140 ms) larger QRS and a T wave opposite to it. The sinus node is not reset:
  the sinus beat it displaces is not conducted and the next one comes on time, a *full
  compensatory* pause (the two intervals sum to exactly two sinus RR).
* **PVCs in AF**: the coupling interval is 55-75 % of the mean RR, and the next conducted
  beat follows one AF interval after the PVC (concealed conduction resets the AV node).

Ectopic beats are never the first or last beat of a segment and never adjacent (no couplets).
The prematurity of each ectopic beat is drawn uniformly from its range, so the coupling
interval varies from beat to beat (more than in unifocal ectopy: the harder case for a
detector of irregular rhythm).

Example
-------
>>> rng = np.random.default_rng(0)
>>> sinus = np.arange(10) * 1.0  # 60 bpm
>>> times, symbols = ectopic_beats(sinus, "sinus", 1.0, Ectopy("pvc", pattern="bigeminy"), rng)
>>> "".join(symbols), bool(np.allclose(times[2::2], sinus[2::2]))  # compensatory: sinus beats on time
('NVNVNVNVNN', True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ECTOPIC_SYMBOLS: dict[str, str] = {"pac": "A", "pvc": "V"}
"""Ectopic beat kind to its WFDB beat annotation symbol (a normal beat is ``N``)."""

PREMATURITY: dict[str, tuple[float, float]] = {"pac": (0.20, 0.40), "pvc": (0.25, 0.45)}
"""Range of prematurity (fraction of the RR interval the beat interrupts) per kind."""

PATTERN_PERIOD: dict[str, int] = {"bigeminy": 2, "trigeminy": 3}
"""Every how many beats a pattern places an ectopic beat."""

RHYTHMS: dict[str, tuple[str, ...]] = {"pac": ("sinus",), "pvc": ("sinus", "af")}
"""Rhythms that may carry each kind (PACs need a sinus node to reset)."""

MAX_BURDEN: float = 0.5
"""Largest burden: ectopic beats are never adjacent."""

# Waves (amplitude mV, centre s relative to the R peak, width s), as the sinus templates.
PAC_P_WAVE: tuple[float, float, float] = (-0.08, -0.14, 0.02)
"""A PAC's P wave: inverted, smaller and with a shorter PR interval than the sinus P wave."""
PVC_WAVES: tuple[tuple[float, float, float], ...] = ((1.3, 0.0, 0.03), (-0.5, 0.06, 0.025), (-0.45, 0.30, 0.06))
"""A PVC's complex: a broad R (about 140 ms wide), a slurred S and an inverted T wave."""
ECTOPIC_WAVES: dict[str, tuple[tuple[float, float, float], ...]] = {"A": (PAC_P_WAVE,), "V": PVC_WAVES}
"""Waves of an ectopic beat besides the normal QRST (PAC: its P wave) or instead of it (PVC)."""


@dataclass(frozen=True)
class Ectopy:
    """Ectopic beats carried by a rhythm segment.

    Attributes
    ----------
    kind : {"pac", "pvc"}
        Premature atrial or ventricular beats.
    burden : float
        Fraction of the segment's beats that are ectopic, placed at random (0 to
        :data:`MAX_BURDEN`; 0 means none). Must be 0 when ``pattern`` is given.
    pattern : {"bigeminy", "trigeminy"}, optional
        Every 2nd or every 3rd beat ectopic instead of a random placement.

    Example
    -------
    >>> Ectopy("pac", burden=0.1).active, Ectopy("pvc").active
    (True, False)
    """

    kind: str
    burden: float = 0.0
    pattern: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ECTOPIC_SYMBOLS:
            raise ValueError(f"unknown ectopy {self.kind!r}; expected one of {sorted(ECTOPIC_SYMBOLS)}")
        if not 0.0 <= self.burden <= MAX_BURDEN:
            raise ValueError(f"ectopic burden must be within 0-{MAX_BURDEN}, got {self.burden}")
        if self.pattern is not None and self.pattern not in PATTERN_PERIOD:
            raise ValueError(f"unknown pattern {self.pattern!r}; expected one of {sorted(PATTERN_PERIOD)}")
        if self.pattern is not None and self.burden > 0:
            raise ValueError("give an ectopic burden or a pattern, not both")

    @property
    def active(self) -> bool:
        """Whether any beat is ectopic (a burden of 0 and no pattern leave the rhythm as it is)."""
        return self.pattern is not None or self.burden > 0

    def check_rhythm(self, rhythm: str) -> None:
        """Raise ``ValueError`` when ``rhythm`` cannot carry this kind of ectopic beat."""
        if rhythm not in RHYTHMS[self.kind]:
            raise ValueError(f"{self.kind.upper()}s need a {' or '.join(RHYTHMS[self.kind])} rhythm, not {rhythm!r}")


def ectopic_positions(n_beats: int, ectopy: Ectopy, rng: np.random.Generator) -> np.ndarray:
    """Indices of the beats to make ectopic among ``n_beats`` (never the first or last, never adjacent).

    Parameters
    ----------
    n_beats : int
        Beats of the underlying rhythm.
    ectopy : Ectopy
        A pattern places them every 2nd or 3rd beat from the second or third; a burden
        chooses ``round(burden × n_beats)`` of them uniformly among the non-adjacent placements.
    rng : numpy.random.Generator
        Random source (not used by a pattern).

    Returns
    -------
    numpy.ndarray
        Ascending int64 indices.

    Example
    -------
    >>> ectopic_positions(10, Ectopy("pac", pattern="trigeminy"), np.random.default_rng(0)).tolist()
    [2, 5, 8]
    """
    if ectopy.pattern is not None:
        period = PATTERN_PERIOD[ectopy.pattern]
        return np.arange(period - 1, n_beats - 1, period, dtype=np.int64)
    inner = max(n_beats - 2, 0)
    k = min(int(round(ectopy.burden * n_beats)), (inner + 1) // 2)
    # k of inner - k + 1 slots, each later one moved one further: uniform over non-adjacent sets
    slots = np.sort(rng.choice(inner - k + 1, size=k, replace=False))
    return (slots + np.arange(k) + 1).astype(np.int64)


def place_ectopic(times: np.ndarray, positions: np.ndarray, coupling_s: np.ndarray, reset: bool) -> np.ndarray:
    """Move the beats at ``positions`` to ``coupling_s`` after the beat before each.

    Parameters
    ----------
    times : numpy.ndarray
        Beat times (s) of the underlying rhythm.
    positions : numpy.ndarray
        Indices of the ectopic beats (not adjacent, never the first).
    coupling_s : numpy.ndarray
        Interval (s) from the preceding beat to each ectopic beat.
    reset : bool
        ``True``: every later beat moves with the ectopic beat, so the interval after it is
        the rhythm's next interval (non-compensatory pause). ``False``: only the ectopic beat
        moves (full compensatory pause: the two intervals around it keep their sum).

    Returns
    -------
    numpy.ndarray
        The new beat times (s).

    Example
    -------
    >>> t = np.arange(5.0)
    >>> place_ectopic(t, np.array([2]), np.array([0.7]), reset=False).tolist()
    [0.0, 1.0, 1.7, 3.0, 4.0]
    >>> place_ectopic(t, np.array([2]), np.array([0.7]), reset=True).round(6).tolist()
    [0.0, 1.0, 1.7, 2.7, 3.7]
    """
    advance = times[positions] - times[positions - 1] - coupling_s
    if not reset:
        moved = times.copy()
        moved[positions] -= advance
        return moved
    step = np.zeros(len(times))
    step[positions] = advance
    return times - np.cumsum(step)


def ectopic_beats(
    times: np.ndarray, rhythm: str, mean_rr_s: float, ectopy: Ectopy, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Make some beats of a rhythm ectopic, as :mod:`this module <afdetect.io.synthetic_ectopy>` describes.

    Parameters
    ----------
    times : numpy.ndarray
        Beat times (s) of the underlying rhythm (a PAC pulls the later beats forward, so give
        more than the stretch to fill and cut the result).
    rhythm : {"sinus", "af"}
        The underlying rhythm (PACs: sinus only).
    mean_rr_s : float
        Its mean RR interval (s): in AF the coupling interval is relative to it.
    ectopy : Ectopy
        Kind, burden or pattern.
    rng : numpy.random.Generator
        Random source of the placement and the prematurity.

    Returns
    -------
    times : numpy.ndarray
        Ascending beat times (s).
    symbols : numpy.ndarray
        WFDB beat symbol of each beat: ``N``, or :data:`ECTOPIC_SYMBOLS` of the kind.
    """
    ectopy.check_rhythm(rhythm)
    positions = ectopic_positions(len(times), ectopy, rng)
    reference = mean_rr_s if rhythm == "af" else times[positions] - times[positions - 1]
    coupling = (1.0 - rng.uniform(*PREMATURITY[ectopy.kind], size=len(positions))) * reference
    reset = ectopy.kind == "pac" or rhythm == "af"
    symbols = np.full(len(times), "N")
    symbols[positions] = ECTOPIC_SYMBOLS[ectopy.kind]
    return place_ectopic(times, positions, coupling, reset), symbols
