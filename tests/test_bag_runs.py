"""benchmarks/bag_runs.py: one-run cross-validation reports composed into bags of runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import load_benchmark

from afdetect.errors import UsageError


def _run(p_af: list[float], threshold: float) -> dict[str, np.ndarray]:
    class_p = np.tile([0.7, 0.0, 0.2, 0.1], (len(p_af), 1))
    class_p[:, 1] = p_af
    return {
        "window": np.arange(len(p_af)),
        "p_af_trees": np.array(p_af),
        "threshold_trees": np.full(len(p_af), threshold),
        "class_p_trees": class_p,
    }


def test_a_bag_calls_on_the_mean_p_af_against_the_mean_threshold() -> None:
    bench = load_benchmark("bag_runs")
    record_index, truth, labels = np.array([0, 1]), np.array([1, 0]), np.array(["A", "N"])
    first, second = _run([0.45, 0.6], 0.5), _run([0.45, 0.1], 0.4)
    assert bench.bag_figures([first], record_index, truth, labels)["f1"] == 0.0  # misses the AF, calls the N
    bag = bench.bag_figures([first, second], record_index, truth, labels)
    # mean p_af 0.45 and 0.35 against the mean threshold 0.45: the AF record called, the N one not
    assert (bag["f1"], bag["sensitivity"], bag["ppv"]) == (1.0, 1.0, 1.0)


def test_a_folder_without_a_report_and_a_bag_of_none_are_refused(tmp_path: Path) -> None:
    bench = load_benchmark("bag_runs")
    (tmp_path / "a").mkdir()
    with pytest.raises(UsageError, match=r"no crossval\.json"):
        bench.main([str(tmp_path / "a"), "--members", "2"])
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path / "a"), "--members", "0"])
