"""The classical RR-irregularity baseline: R peaks, RR features, AF score, ``--method rr``."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import synth
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.config import MODEL_FS, RR_MIN_BEATS, RR_THRESHOLD, RR_UNDETERMINED_P, window_samples
from afdetect.detect import rr as rr_score
from afdetect.detect.predictor import Predictor
from afdetect.signal import beats, rr
from afdetect.signal.conditioning import condition_windows

TOLERANCE_S = 0.05
"""A detected R peak must lie within this distance (s) of a true beat."""


def conditioned(signal_mv: np.ndarray, fs: float) -> np.ndarray:
    """One raw signal (mV at ``fs`` Hz) through the real window conditioning: ``(n_samples at MODEL_FS,)``."""
    x, problems = condition_windows(signal_mv[None, :], np.array([len(signal_mv)]), fs)
    assert problems == [None]
    return x[0]


def window_of(rhythm: str, hr_bpm: float, seed: int, fs: float = 300, duration_s: float = 30) -> np.ndarray:
    return conditioned(synth.ecg_signal(fs, duration_s, rhythm, hr_bpm=hr_bpm, seed=seed), fs)


@pytest.mark.parametrize("hr_bpm", [50, 75, 100, 125, 150])
@pytest.mark.parametrize("polarity", [1, -1])
def test_detect_r_peaks_finds_every_sinus_beat(hr_bpm: float, polarity: int) -> None:
    ecg = synth.rhythm_signal(300, [("sinus", 30)], hr_bpm=hr_bpm, seed=int(hr_bpm))
    x = conditioned(polarity * ecg.signal, 300)
    found = beats.detect_r_peaks(x) / MODEL_FS
    truth = ecg.beat_times_s
    # every detection is a true beat ...
    assert np.abs(found[:, None] - truth[None, :]).min(axis=1).max() <= TOLERANCE_S
    # ... and every true beat away from the window edges is detected
    inner = truth[(truth > 0.25) & (truth < 29.75)]
    assert np.abs(inner[:, None] - found[None, :]).min(axis=1).max() <= TOLERANCE_S
    assert len(found) <= len(truth)


def test_detect_r_peaks_at_other_rates_and_in_af() -> None:
    for fs, rhythm in ((128, "sinus"), (360, "af"), (250, "af")):
        ecg = synth.rhythm_signal(fs, [(rhythm, 30)], hr_bpm=90, seed=fs)
        found = beats.detect_r_peaks(conditioned(-ecg.signal, fs)) / MODEL_FS
        inner = ecg.beat_times_s[(ecg.beat_times_s > 0.25) & (ecg.beat_times_s < 29.75)]
        assert np.abs(inner[:, None] - found[None, :]).min(axis=1).max() <= TOLERANCE_S, (fs, rhythm)
        assert np.abs(found[:, None] - ecg.beat_times_s[None, :]).min(axis=1).max() <= TOLERANCE_S


def test_detect_r_peaks_ignores_padding_and_flat_windows() -> None:
    x = window_of("sinus", 60, seed=3, duration_s=30)
    padded = np.zeros(window_samples())
    padded[: 12 * MODEL_FS] = x[: 12 * MODEL_FS]
    peaks = beats.detect_r_peaks(padded)
    assert len(peaks) >= 10
    assert peaks.max() < 12 * MODEL_FS
    assert len(beats.detect_r_peaks(np.zeros(window_samples()))) == 0
    with pytest.raises(ValueError, match="1-D"):
        beats.detect_r_peaks(np.zeros((2, 3840)))


def test_rr_features_of_known_series() -> None:
    regular = rr.rr_features(np.arange(0, 3840, 96))  # 0.75 s RR: 80 bpm
    assert regular["heart_rate_bpm"] == pytest.approx(80.0)
    assert regular["cv"] == 0.0
    assert regular["nrmssd"] == 0.0
    assert regular["tpr"] == 0.0
    assert regular["sampen"] == 0.0
    # alternating long/short RR: every interior interval is a turning point
    alternating = np.concatenate([[0], np.cumsum(np.tile([96, 128], 12))])  # 24 RR: 0.75, 1.0, ...
    f = rr.rr_features(alternating)
    assert f["tpr"] == 1.0
    assert f["median_abs_drr"] == pytest.approx(0.25 / 0.875)
    assert f["pnn50"] == 1.0


def test_rr_features_with_too_few_beats_are_nan() -> None:
    f = rr.rr_features(np.arange(RR_MIN_BEATS - 1) * 128)
    assert f["n_beats"] == RR_MIN_BEATS - 1
    assert all(np.isnan(v) for k, v in f.items() if k != "n_beats")
    assert set(f) == set(rr.FEATURE_NAMES)
    assert np.isfinite(rr.rr_features(np.arange(RR_MIN_BEATS) * 128)["cosen"])


def test_sample_entropy_grows_tolerance_until_enough_matches() -> None:
    rng = np.random.default_rng(0)
    irregular = rng.uniform(0.4, 1.2, 30)
    sampen, r = rr.sample_entropy_rr(irregular)
    assert sampen > 1.0
    assert r >= rr.SAMPEN_R_START_S
    m = len(irregular) - 1
    d2 = np.maximum(
        np.abs(irregular[:m, None] - irregular[None, :m]), np.abs(irregular[1:, None] - irregular[None, 1:])
    )
    matches = np.count_nonzero(d2[np.triu_indices(m, 1)] <= r)
    assert matches >= rr.SAMPEN_MIN_MATCHES
    assert rr.sample_entropy_rr(np.full(20, 0.8)) == (0.0, rr.SAMPEN_R_START_S)


def test_af_windows_score_above_sinus_windows() -> None:
    sinus = [window_of("sinus", hr, seed=10 + i) for i, hr in enumerate((55, 70, 90, 110, 140))]
    af = [window_of("af", hr, seed=20 + i) for i, hr in enumerate((55, 70, 90, 110, 140))]
    p = rr_score.rr_af_probability(np.stack(sinus + af))
    assert p.shape == (10,)
    assert np.all((p >= 0) & (p <= 1))
    assert p[5:].min() > p[:5].max()
    assert np.all(p[:5] < RR_THRESHOLD)
    assert np.all(p[5:] >= RR_THRESHOLD)


def test_windows_with_too_few_beats_get_the_undetermined_score() -> None:
    few = np.zeros(window_samples())
    few[: 9 * MODEL_FS] = window_of("sinus", 40, seed=5, duration_s=9)  # 9 s at 40 bpm: about 6 beats
    assert len(beats.detect_r_peaks(few)) < RR_MIN_BEATS
    batch = np.stack([few, np.zeros(window_samples()), window_of("af", 90, seed=6)])
    p = rr_score.rr_af_probability(batch)
    assert p[:2].tolist() == [RR_UNDETERMINED_P, RR_UNDETERMINED_P]
    assert RR_UNDETERMINED_P < RR_THRESHOLD  # so they are labelled non-AF
    assert np.isnan(rr.window_features(batch)["cosen"][:2]).all()
    assert rr_score.rr_af_probability(batch, undetermined=0.0)[:2].tolist() == [0.0, 0.0]


def test_window_features_match_one_window_at_a_time() -> None:
    full = window_of("af", 80, seed=7)
    padded = np.zeros(window_samples())
    padded[: 20 * MODEL_FS] = window_of("sinus", 70, seed=8, duration_s=20)
    batch = np.stack([full, padded, full])
    features = rr.window_features(batch, chunk=2)
    for i, x in enumerate(batch):
        peaks = beats.detect_r_peaks(x)
        one = rr.rr_features(peaks)
        for name in rr.FEATURE_NAMES:
            assert features[name][i] == pytest.approx(one[name], nan_ok=True), (i, name)
        assert features["qrs_corr"][i] == pytest.approx(rr.qrs_consistency(x, peaks))
    with pytest.raises(ValueError, match="n, n_samples"):
        rr.window_features(np.zeros(3840))


def test_qrs_consistency_is_low_for_noise() -> None:
    clean = window_of("af", 80, seed=9)
    noise = conditioned(np.random.default_rng(9).normal(0, 1, 9000), 300)
    assert rr.qrs_consistency(clean, beats.detect_r_peaks(clean)) > 0.9
    assert rr.qrs_consistency(noise, beats.detect_r_peaks(noise)) < 0.8


def test_rr_predictor_labels_records(sinus_record: Path, af_record: Path) -> None:
    predictor = Predictor.rr_baseline()
    assert predictor.threshold == RR_THRESHOLD
    assert predictor.predict_record(sinus_record)["label"].tolist() == ["non-AF"]
    assert predictor.predict_record(af_record)["label"].tolist() == ["AF"]
    assert Predictor.for_method("rr", threshold=0.3).threshold == 0.3


def test_cli_predict_method_rr_writes_csv(sinus_record: Path, af_record: Path) -> None:
    result = CliRunner().invoke(app, ["predict", str(sinus_record), str(af_record), "--method", "rr", "-o", "-"])
    assert result.exit_code == 0, result.output
    lines = result.stdout[result.stdout.index("record,start_s") :]
    table = pd.read_csv(io.StringIO(lines))
    assert list(table.columns) == ["record", "start_s", "end_s", "label", "p_af", "problem"]
    assert table["label"].tolist() == ["non-AF", "AF"]
    assert table["p_af"].between(0, 1).all()


def test_cli_rejects_unknown_method_and_bad_threshold(sinus_record: Path) -> None:
    result = CliRunner().invoke(app, ["predict", str(sinus_record), "--method", "svm"])
    assert result.exit_code == 2
    assert "--method" in result.output
    result = CliRunner().invoke(app, ["predict", str(sinus_record), "--method", "rr", "--threshold", "1.5"])
    assert result.exit_code == 2


def test_cli_eval_method_rr_on_windows_file(windows_file: Path, tiny_weights: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["eval", str(windows_file), "--method", "rr", "--out-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["threshold"] == RR_THRESHOLD
    assert metrics["window"]["n"] == 24
    assert metrics["window"]["auroc"] == 1.0
    assert metrics["window"]["f1"] == 1.0
    # --split needs the record split of a weights file
    result = CliRunner().invoke(app, ["eval", str(windows_file), "--method", "rr", "--split", "test"])
    assert result.exit_code == 2
    assert "--weights" in result.output
    # ... which --weights supplies (the tiny weights hold no val/test records: train is everything)
    out_dir = tmp_path / "train"
    args = ["eval", str(windows_file), "--method", "rr", "--split", "train", "--weights", str(tiny_weights)]
    result = CliRunner().invoke(app, [*args, "--out-dir", str(out_dir)])
    assert result.exit_code == 0, result.output
    assert json.loads((out_dir / "metrics.json").read_text())["window"]["n"] == 24


def test_rr_baseline_on_real_cinc_records(shared_data: Path) -> None:
    predictor = Predictor.rr_baseline()
    normal = predictor.predict_record(shared_data / "cinc2017" / "A00001")  # REFERENCE: N
    af = predictor.predict_record(shared_data / "cinc2017" / "A00004")  # REFERENCE: A
    assert normal["label"].tolist() == ["non-AF"]
    assert af["label"].tolist() == ["AF"]


def test_fit_score_learns_the_direction_skips_beatless_windows_and_scores_with_it() -> None:
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 200)
    # AF windows are more irregular (cosen, tpr) and faster; qrs_corr carries no signal.
    features = {
        "cosen": rng.normal(-2.0, 0.5, 400) + 1.5 * y,
        "tpr": rng.normal(0.4, 0.1, 400) + 0.2 * y,
        "heart_rate_bpm": rng.normal(75, 10, 400) + 20 * y,
        "qrs_corr": rng.normal(0.95, 0.02, 400),
    }
    features["cosen"][:5] = np.nan  # windows with too few beats are left out of the fit
    score = rr_score.fit_score(features, y)
    assert score.weights[0] > 0 and score.weights[1] > 0 and score.weights[2] > 0
    assert abs(score.weights[3]) < score.weights[0]
    assert score.mean[2] == pytest.approx(np.mean(features["heart_rate_bpm"][5:]))
    p = rr_score.score_features(features, score=score)
    assert np.all(p[:5] == RR_UNDETERMINED_P)
    assert p[y == 1].mean() > 0.8 > 0.2 > p[(y == 0) & ~np.isnan(features["cosen"])].mean()
    # The shipped coefficients are the default score.
    np.testing.assert_array_equal(
        rr_score.score_features(features), rr_score.score_features(features, score=rr_score.RRScore())
    )
    with pytest.raises(ValueError, match="both classes"):
        rr_score.fit_score(features, np.zeros(400))
