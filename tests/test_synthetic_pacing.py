"""Synthetic demand pacing (afdetect.io.synthetic_pacing) and its place in rhythm_signal."""

from __future__ import annotations

import numpy as np
import pytest

from afdetect.io.synthetic import rhythm_signal
from afdetect.io.synthetic_pacing import PACED_SYMBOL, REFRACTORY_S, Pacing, demand_paced_beats

FS = 250


def test_pauses_over_the_escape_interval_are_paced_and_the_timer_restarts() -> None:
    times = np.array([0.0, 0.9, 3.5, 4.2])
    paced, symbols = demand_paced_beats(times, np.array(list("NNNN")), Pacing(60))
    np.testing.assert_allclose(paced, [0.0, 0.9, 1.9, 2.9, 3.5, 4.2])  # paced 1 s after the last beat, twice
    assert "".join(symbols) == "NN//NN"
    assert np.diff(paced).max() <= 1.0


def test_a_beat_in_the_refractory_period_is_not_conducted() -> None:
    times = np.array([0.0, 1.0 + REFRACTORY_S / 2, 2.0 + REFRACTORY_S + 0.1])
    paced, symbols = demand_paced_beats(times, np.array(list("NNN")), Pacing(60))
    # 1.15 s comes 0.15 s after the paced beat at 1.0 s: dropped; 2.4 s comes 0.4 s after the one at 2.0 s: conducted
    np.testing.assert_allclose(paced, [0.0, 1.0, 2.0, 2.4])
    assert "".join(symbols) == "N//N"


def test_a_rhythm_faster_than_the_lower_rate_is_left_alone() -> None:
    plain = rhythm_signal(FS, [("sinus", 60)], hr_bpm=80, seed=3)
    paced = rhythm_signal(FS, [("sinus", 60)], hr_bpm=80, seed=3, pacing=Pacing(50))
    np.testing.assert_array_equal(paced.signal, plain.signal)
    assert set(paced.beat_symbols) == {"N"}


def test_paced_af_keeps_its_irregular_short_intervals_under_a_regular_ceiling() -> None:
    ecg = rhythm_signal(FS, [("af", 300)], hr_bpm=65, seed=2, pacing=Pacing(60))
    rr, symbols = np.diff(ecg.beat_times_s), ecg.beat_symbols[1:]
    assert 0.2 < (symbols == PACED_SYMBOL).mean() < 0.6
    np.testing.assert_allclose(rr[symbols == PACED_SYMBOL], 1.0)  # every paced beat ends a 1 s pause
    intrinsic = rr[symbols == "N"]
    assert intrinsic.max() <= 1.0 and intrinsic.std() / intrinsic.mean() > 0.15


def test_paced_beats_are_wide_complexes_led_by_a_spike_and_sinus_p_waves_go_on() -> None:
    ecg = rhythm_signal(FS, [("sinus", 120)], hr_bpm=50, seed=1, noise_mv=0.0, pacing=Pacing(60))
    at = np.round(ecg.beat_times_s * FS).astype(int)
    paced = at[(ecg.beat_symbols == PACED_SYMBOL) & (at > FS) & (at < len(ecg.signal) - FS)]
    assert len(paced) > 20
    assert (ecg.signal[paced - round(0.02 * FS)] > 1.5).all(), "a 2 mV pacing spike 20 ms before the complex"
    t_wave = ecg.signal[paced + round(0.3 * FS)]  # inverted; a dissociated P wave (+0.15 mV) may ride on it
    assert (ecg.signal[paced] > 1.2).all() and (t_wave < -0.2).all() and np.median(t_wave) < -0.4
    # the sinus node is not reset: some P waves fall without a conducted beat after them
    assert (ecg.beat_symbols == "N").sum() < 120 * 50 / 60 - 10


@pytest.mark.parametrize("rate", [0, 29.9, 120.1, -60])
def test_implausible_lower_rates_are_refused(rate: float) -> None:
    with pytest.raises(ValueError, match="lower rate must be within 30-120 bpm"):
        Pacing(rate)
