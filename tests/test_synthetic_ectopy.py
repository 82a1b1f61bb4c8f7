"""Synthetic ectopic beats (afdetect.io.synthetic_ectopy) and the unchanged default generator."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from afdetect.io.synthetic import beat_times, rhythm_signal, segment_beats
from afdetect.io.synthetic_ectopy import PREMATURITY, Ectopy, ectopic_positions
from afdetect.io.synthetic_files import write_example_record

FS = 250


def _digest(values: np.ndarray | bytes) -> str:
    data = values if isinstance(values, bytes) else np.ascontiguousarray(values).tobytes()
    return hashlib.sha256(data).hexdigest()[:16]


def _sinus_and_ectopic(kind: str, seed: int, **ectopy: object) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The underlying sinus beats (drawn past the segment), and a 120 s segment of them with ``kind`` ectopy."""
    ectopy_ = Ectopy(kind, **ectopy)  # type: ignore[arg-type]
    times, symbols = segment_beats(0, 120, "sinus", 60, np.random.default_rng(seed), ectopy=ectopy_)
    sinus = beat_times(0, 400, "sinus", 60, np.random.default_rng(seed))  # the same draws, further
    return sinus, times, symbols


def test_default_generator_output_is_unchanged(tmp_path: Path) -> None:
    # Digests of the generator before ectopy existed: signal rounded to 1 nV, the example's files.
    ecg = rhythm_signal(FS, [("sinus", 20), ("af", 20), ("flutter", 10), ("sinus", 10)], hr_bpm=80, seed=11)
    assert _digest(np.round(ecg.signal, 6)) == "4dcb03f08f6000fd"
    assert _digest(np.round(ecg.beat_times_s, 9)) == "da0b6f3758ba92ac"
    assert set(ecg.beat_symbols) == {"N"}
    record = write_example_record(tmp_path)
    assert _digest(record.with_suffix(".dat").read_bytes()) == "1818ea52fe70ca87"
    assert _digest(record.with_suffix(".atr").read_bytes()) == "635682ae395296ac"


@pytest.mark.parametrize("ectopy", [None, Ectopy("pvc"), Ectopy("pac", burden=0.0)])
def test_no_ectopy_and_zero_burden_give_the_plain_signal(ectopy: Ectopy | None) -> None:
    plain = rhythm_signal(FS, [("sinus", 30), ("af", 30)], seed=4)
    same = rhythm_signal(FS, [("sinus", 30, ectopy), ("af", 30, None)], seed=4)
    np.testing.assert_array_equal(same.signal, plain.signal)
    np.testing.assert_array_equal(same.beat_times_s, plain.beat_times_s)


@pytest.mark.parametrize("kind", ["pac", "pvc"])
@pytest.mark.parametrize("burden", [0.05, 0.1, 0.2, 0.3])
def test_burden_is_the_share_of_ectopic_beats(kind: str, burden: float) -> None:
    for seed in range(3):
        ecg = rhythm_signal(FS, [("sinus", 300, Ectopy(kind, burden))], hr_bpm=75, seed=seed)
        symbols = ecg.beat_symbols
        assert set(symbols) == {"N", {"pac": "A", "pvc": "V"}[kind]}
        assert abs(np.mean(symbols != "N") - burden) < 0.03
        assert not ((symbols[1:] != "N") & (symbols[:-1] != "N")).any(), "no two ectopic beats in a row"


def test_pvc_pause_is_fully_compensatory() -> None:
    sinus, times, symbols = _sinus_and_ectopic("pvc", seed=5, burden=0.2)
    # The sinus beats stay where they were: each PVC replaces one, the next comes on time.
    normal = np.flatnonzero(symbols == "N")
    index = np.searchsorted(sinus, times[normal])
    np.testing.assert_array_equal(sinus[index], times[normal])
    pvcs = np.flatnonzero(symbols == "V")
    pvcs = pvcs[pvcs < len(times) - 1]
    assert len(pvcs) > 10
    before, after = np.searchsorted(sinus, times[pvcs - 1]), np.searchsorted(sinus, times[pvcs + 1])
    assert (after - before == 2).all(), "the two intervals around a PVC span exactly two sinus RR"
    np.testing.assert_array_equal(times[pvcs + 1] - times[pvcs - 1], sinus[after] - sinus[before])
    sinus_rr = sinus[before + 1] - sinus[before]
    prematurity = 1 - (times[pvcs] - times[pvcs - 1]) / sinus_rr
    low, high = PREMATURITY["pvc"]
    assert (prematurity >= low - 1e-9).all() and (prematurity <= high + 1e-9).all()


def test_pac_resets_the_sinus_node() -> None:
    sinus, times, symbols = _sinus_and_ectopic("pac", seed=6, burden=0.2)
    rr, sinus_rr = np.diff(times), np.diff(sinus)[: len(times) - 1]
    pacs = np.flatnonzero(symbols == "A")
    # Every interval but those ending at a PAC is the sinus rhythm's own, in order: the interval
    # after a PAC is one sinus cycle (reset), not the rest of two (compensation).
    plain = np.ones(len(rr), dtype=bool)
    plain[pacs - 1] = False
    np.testing.assert_allclose(rr[plain], sinus_rr[plain], atol=1e-9)
    prematurity = 1 - rr[pacs - 1] / sinus_rr[pacs - 1]
    low, high = PREMATURITY["pac"]
    assert (prematurity >= low - 1e-9).all() and (prematurity <= high + 1e-9).all()
    inner = pacs[pacs < len(rr)]
    assert (rr[inner - 1] + rr[inner] < sinus_rr[inner - 1] + sinus_rr[inner] - 0.15).all(), "non-compensatory"


@pytest.mark.parametrize("kind", ["pac", "pvc"])
def test_bigeminy_alternates_and_trigeminy_every_third(kind: str) -> None:
    symbol = {"pac": "A", "pvc": "V"}[kind]
    ecg = rhythm_signal(FS, [("sinus", 60, Ectopy(kind, pattern="bigeminy"))], hr_bpm=70, seed=2)
    symbols, rr = ecg.beat_symbols[:-1], np.diff(ecg.beat_times_s)
    assert (symbols[0::2] == "N").all() and (symbols[1::2] == symbol).all()
    n = len(rr) // 2
    assert (rr[0 : 2 * n : 2] < 0.9 * rr[1 : 2 * n : 2]).all(), "short coupling, long pause, in turn"
    ecg = rhythm_signal(FS, [("sinus", 60, Ectopy(kind, pattern="trigeminy"))], hr_bpm=70, seed=2)
    symbols = ecg.beat_symbols[:-1]
    assert (symbols[2::3] == symbol).all() and (symbols[0::3] == "N").all() and (symbols[1::3] == "N").all()


def test_ectopic_waves() -> None:
    ecg = rhythm_signal(FS, [("sinus", 60, Ectopy("pac", pattern="trigeminy"))], hr_bpm=60, seed=1, noise_mv=0.0)
    at = np.round(ecg.beat_times_s * FS).astype(int)
    p_at = at - round(0.15 * FS)
    p_at, symbols = p_at[p_at >= 0], ecg.beat_symbols[p_at >= 0]
    assert (ecg.signal[p_at[symbols == "N"]] > 0.1).all(), "upright sinus P waves"
    assert (ecg.signal[p_at[symbols == "A"]] < -0.05).all(), "inverted PAC P waves"

    ecg = rhythm_signal(FS, [("sinus", 60, Ectopy("pvc", pattern="bigeminy"))], hr_bpm=60, seed=1, noise_mv=0.0)
    at = np.round(ecg.beat_times_s * FS).astype(int)[1:-1]
    symbols = ecg.beat_symbols[1:-1]

    def qrs_width_s(r: int) -> float:
        """Time (s) within ±0.1 s of R that the signal spends beyond a fifth of the R peak's size."""
        around = ecg.signal[r - 25 : r + 26]
        return float((np.abs(around) > 0.2 * np.abs(ecg.signal[r])).sum() / FS)

    normal = [qrs_width_s(r) for r in at[symbols == "N"]]
    pvc = [qrs_width_s(r) for r in at[symbols == "V"]]
    assert max(normal) < 0.05 and 0.11 < min(pvc) < 0.17, "narrow sinus QRS, wide (~140 ms) PVC"
    assert (ecg.signal[at[symbols == "V"]] > 1.2).all() and (ecg.signal[at[symbols == "N"]] < 1.1).all()
    t_wave = at + round(0.3 * FS)
    assert (ecg.signal[t_wave[symbols == "V"]] < -0.3).all() and (ecg.signal[t_wave[symbols == "N"]] > 0.2).all()
    assert (np.abs(ecg.signal[at[symbols == "V"] - round(0.16 * FS)]) < 0.05).all(), "no P wave before a PVC"


def test_af_with_pvcs_keeps_af_intervals() -> None:
    mean_rr = 60 / 110
    ecg = rhythm_signal(FS, [("af", 300, Ectopy("pvc", burden=0.2))], hr_bpm=110, seed=3)
    symbols, rr = ecg.beat_symbols, np.diff(ecg.beat_times_s)
    pvcs = np.flatnonzero(symbols == "V")
    assert abs(len(pvcs) / len(symbols) - 0.2) < 0.03
    coupling = rr[pvcs - 1] / mean_rr
    assert (coupling >= 0.55 - 1e-9).all() and (coupling <= 0.75 + 1e-9).all()
    after = rr[pvcs[pvcs < len(rr)]] / mean_rr
    assert (after >= 0.55 - 1e-9).all() and (after <= 1.45 + 1e-9).all(), "one AF interval after each PVC"
    conducted = rr[symbols[1:] == "N"] / mean_rr
    assert 0.2 < np.std(conducted) / np.mean(conducted) < 0.32, "the conducted beats stay irregular"


def test_ectopic_positions_are_never_adjacent_nor_at_the_ends() -> None:
    rng = np.random.default_rng(0)
    for n in (2, 3, 7, 50):
        positions = ectopic_positions(n, Ectopy("pvc", burden=0.5), rng)
        assert ((positions >= 1) & (positions <= n - 2)).all() and (np.diff(positions) >= 2).all()
    assert len(ectopic_positions(50, Ectopy("pvc", burden=0.5), rng)) == 24  # all that fit in 48 inner beats


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Ectopy("pjc"), "unknown ectopy"),
        (lambda: Ectopy("pac", burden=0.6), "within 0-0.5"),
        (lambda: Ectopy("pac", burden=0.1, pattern="bigeminy"), "not both"),
        (lambda: Ectopy("pac", pattern="quadrigeminy"), "unknown pattern"),
        (lambda: rhythm_signal(FS, [("af", 30, Ectopy("pac", 0.1))]), "need a sinus rhythm"),
        (lambda: rhythm_signal(FS, [("flutter", 30, Ectopy("pvc", 0.1))]), "sinus or af"),
    ],
)
def test_impossible_ectopy_is_refused(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
