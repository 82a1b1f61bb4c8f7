"""``benchmarks/seed_spread.py``: cross-validated figures at several training seeds on the same folds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import load_benchmark

from afdetect.errors import UsageError


def _report(folder: Path, seed: int, f1: float, *, split_seed: int = 0, challenge: float | None = 0.83) -> Path:
    """A minimal crossval.py report folder: trees (with a challenge score) and the RR baseline."""
    folder.mkdir(parents=True)
    record = {"f1": f1, "sensitivity": 0.85, "ppv": 0.82, "auroc": 0.985}
    report = {
        "run": {"windows_file": "runs/cinc2017.npz", "folds": 3, "split_seed": split_seed, "seed": seed},
        "pooled": {
            "methods": {"trees": {"record": record}, "rr": {"record": {**record, "f1": 0.68}}},
            "challenge": {} if challenge is None else {"trees": {"mean": challenge}},
        },
    }
    (folder / "crossval.json").write_text(json.dumps(report))
    return folder


def test_spread_gives_each_seed_the_mean_sd_and_the_runs_at_the_bar(tmp_path: Path) -> None:
    bench = load_benchmark("seed_spread")
    folders = [_report(tmp_path / f"s{seed}", seed, f1) for seed, f1 in ((0, 0.8391), (1, 0.8403), (2, 0.8342))]
    out = tmp_path / "out"
    assert bench.main([*map(str, folders), "--out", str(out)]) == 0
    result = json.loads((out / "seed_spread.json").read_text())["methods"]
    trees = result["trees"]
    assert [run["seed"] for run in trees["runs"]] == [0, 1, 2]
    assert trees["spread"]["f1"]["mean"] == pytest.approx((0.8391 + 0.8403 + 0.8342) / 3)
    assert trees["spread"]["f1"]["sd"] == pytest.approx(0.0032316, abs=1e-7)
    assert (trees["spread"]["f1"]["min"], trees["spread"]["f1"]["max"]) == (0.8342, 0.8403)
    assert trees["at_bar"] == 1  # only seed 1 reaches 0.84
    assert result["rr"]["spread"]["challenge"]["mean"] is None  # the RR baseline has no challenge score
    text = (out / "seed_spread.md").read_text()
    assert "| 1 | 84.03 % |" in text and "Runs with record F1(AF) ≥ 84.0 %: 1 of 3." in text


def test_reports_of_other_test_folds_are_refused(tmp_path: Path) -> None:
    bench = load_benchmark("seed_spread")
    first = _report(tmp_path / "a", 0, 0.84)
    other = _report(tmp_path / "b", 1, 0.84, split_seed=1)
    with pytest.raises(UsageError, match="split_seed"):
        bench.main([str(first), str(other)])


def test_a_repeated_training_seed_is_refused(tmp_path: Path) -> None:
    bench = load_benchmark("seed_spread")
    with pytest.raises(UsageError, match=r"b[/\\]crossval\.json: training seed 0 repeats"):
        bench.main([str(_report(tmp_path / "a", 0, 0.84)), str(_report(tmp_path / "b", 0, 0.83))])


def test_a_folder_without_a_report_is_named(tmp_path: Path) -> None:
    bench = load_benchmark("seed_spread")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match=r"no crossval\.json"):
        bench.main([str(_report(tmp_path / "a", 0, 0.84)), str(tmp_path / "empty")])
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(UsageError, match=r"no crossval\.json"):
        bench.main([str(tmp_path / "a"), str(tmp_path / "file")])
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "crossval.json").write_text("{")
    with pytest.raises(UsageError, match="not JSON"):
        bench.main([str(tmp_path / "a"), str(tmp_path / "broken")])
    with pytest.raises(SystemExit):
        bench.main([str(tmp_path / "a")])  # one report has no spread
