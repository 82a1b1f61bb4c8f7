"""K-fold cross-validation by record: the fold split, its CLI options and ``benchmarks/crossval.py --quick``."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from conftest import load_benchmark
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.detect.predictor import Predictor
from afdetect.errors import EXIT_USAGE, UsageError
from afdetect.evaluate.records import evaluate, select_split
from afdetect.models.trees import load_trees
from afdetect.models.weights import load_weights
from afdetect.signal.features import FEATURES_VERSION
from afdetect.training.cache import load_window_set
from afdetect.training.options import TrainConfig
from afdetect.training.splits import record_folds, split_records

OLD_TRUTH = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0])
OLD_SPLITS = {
    (0, 0.15, 0.15): "01010200000000221000",
    (1, 0.2, 0.25): "01102022001000200102",
    (7, 0.3, 0.1): "00201100010110100020",
}
"""``split_records(OLD_TRUTH, val, test, seed)`` of the code before K-fold support (computed then)."""
OLD_SPLIT_40 = "1200001120002002000000010000110020002000"
"""``split_records((arange(40) % 5 == 0), 0.15, 0.15, seed=11)`` of the code before K-fold support."""


def _load_script() -> ModuleType:
    return load_benchmark("crossval")


@pytest.fixture(scope="module")
def crossval() -> ModuleType:
    return _load_script()


@pytest.fixture(scope="module")
def crossval_folds() -> ModuleType:
    """The fold-training part of the script (``benchmarks/crossval_folds.py``)."""
    return load_benchmark("crossval_folds")


@pytest.fixture(scope="module")
def crossval_eval() -> ModuleType:
    """The evaluation part of the script (``benchmarks/crossval_eval.py``)."""
    return load_benchmark("crossval_eval")


@pytest.fixture(scope="module")
def crossval_report() -> ModuleType:
    """The report part of the script (``benchmarks/crossval_report.py``)."""
    return load_benchmark("crossval_report")


def _digits(split: np.ndarray) -> str:
    return "".join(str(v) for v in split.tolist())


def test_no_folds_gives_exactly_the_old_split() -> None:
    for (seed, val, test), expected in OLD_SPLITS.items():
        assert _digits(split_records(OLD_TRUTH, val, test, seed)) == expected
        assert _digits(split_records(OLD_TRUTH, val, test, seed, folds=0, fold=0)) == expected
    truth = (np.arange(40) % 5 == 0).astype(int)
    assert _digits(split_records(truth, 0.15, 0.15, 11)) == OLD_SPLIT_40


@pytest.mark.parametrize("folds", [2, 3, 5])
def test_folds_partition_the_records(folds: int) -> None:
    truth = np.array([1] * 11 + [0] * 32)[np.random.default_rng(5).permutation(43)]
    splits = [split_records(truth, 0.2, 0.15, seed=4, folds=folds, fold=k) for k in range(folds)]
    tested = np.stack([s == 2 for s in splits])
    np.testing.assert_array_equal(tested.sum(axis=0), np.ones(len(truth)))  # each record in exactly one test fold
    sizes = tested.sum(axis=1)
    assert sizes.max() - sizes.min() <= 1
    af_per_fold = tested[:, truth == 1].sum(axis=1)
    assert af_per_fold.min() >= 11 // folds and af_per_fold.max() <= -(-11 // folds)  # AF spread over the folds
    for k, split in enumerate(splits):
        assert set(np.unique(split).tolist()) == {0, 1, 2}
        for cls in (0, 1):  # validation: val_fraction of the other records of each class, at least one
            rest = (truth == cls) & (split != 2)
            assert (split[rest] == 1).sum() == max(1, round(rest.sum() * 0.2)), (k, cls)
        # the test fold of fold k does not depend on which fold is asked for
        np.testing.assert_array_equal(split == 2, record_folds(truth, folds, np.random.default_rng(4)) == k)
    again = split_records(truth, 0.2, 0.15, seed=4, folds=folds, fold=1)
    np.testing.assert_array_equal(again, splits[1])
    other_seed = split_records(truth, 0.2, 0.15, seed=5, folds=folds, fold=1)
    assert not np.array_equal(other_seed == 2, splits[1] == 2)


def test_record_folds_deal_each_class_evenly() -> None:
    truth = np.array([0] * 7 + [1] * 3)
    folds = record_folds(truth, 3, np.random.default_rng(0))
    assert sorted(np.bincount(folds).tolist()) == [3, 3, 4]
    assert np.bincount(folds[truth == 1], minlength=3).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="at least 2"):
        record_folds(truth, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="fold must lie"):
        split_records(truth, 0.2, 0.0, seed=0, folds=3, fold=3)


@pytest.mark.parametrize(
    ("folds", "fold", "option"),
    [(1, 0, "folds must"), (-2, 0, "folds must"), (3, 3, "fold must"), (3, -1, "fold must"), (0, 2, "fold 2 needs")],
)
def test_train_config_refuses_bad_folds(windows_file: Path, folds: int, fold: int, option: str) -> None:
    config = TrainConfig(data=windows_file, out_dir=Path("unused"), folds=folds, fold=fold)
    with pytest.raises(UsageError, match=option):
        config.validate()
    TrainConfig(data=windows_file, out_dir=Path("unused"), folds=3, fold=2).validate()


def test_cli_refuses_fold_not_below_folds(tmp_path: Path, windows_file: Path) -> None:
    out = tmp_path / "run"
    args = ["train", "--data", str(windows_file), "--out-dir", str(out), "--folds", "2", "--fold", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == EXIT_USAGE, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "--fold" in errors[0] and "[0, 1]" in errors[0], result.stderr
    assert not out.exists()  # refused before anything was written


def test_subsample_windows_keeps_whole_records_of_both_classes(crossval: ModuleType, windows_file: Path) -> None:
    ws = load_window_set(windows_file)
    small = crossval.subsample_windows(ws, 8, seed=0)
    assert len(small) < len(ws)
    assert set(small.record_targets().tolist()) == {0, 1}
    per_record = {str(r): int(n) for r, n in zip(ws.records, np.bincount(ws.record_index), strict=True)}
    for row, name in enumerate(small.records):
        assert (small.record_index == row).sum() == per_record[str(name)]  # every window of a kept record
        original = np.flatnonzero(ws.records == name)[0]
        np.testing.assert_array_equal(small.windows[small.record_index == row], ws.windows[ws.record_index == original])


def test_subsample_windows_keeps_the_cached_features(crossval: ModuleType, windows_file: Path) -> None:
    ws = load_window_set(windows_file, mmap=False)
    ws.features = np.arange(len(ws) * 3, dtype=np.float32).reshape(len(ws), 3)
    small = crossval.subsample_windows(ws, 8, seed=0)
    for row, name in enumerate(small.records):
        original = np.flatnonzero(ws.records == name)[0]
        np.testing.assert_array_equal(
            small.features[small.record_index == row], ws.features[ws.record_index == original]
        )


@pytest.mark.parametrize("argv", [["--only-fold", "3"], ["--only-fold", "-1"], ["--folds", "2", "--only-fold", "2"]])
def test_only_fold_must_be_a_fold(crossval: ModuleType, argv: list[str]) -> None:
    with pytest.raises(UsageError, match="--only-fold"):
        crossval.parse_args(argv)
    assert crossval.parse_args(["--only-fold", "2", "--variants", "se-rhythm"]).only_fold == 2


def test_only_fold_trains_one_fold_and_does_not_evaluate(
    crossval: ModuleType, tmp_path: Path, windows_file: Path
) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["--quick", "--windows", str(windows_file), "--runs", str(runs), "--out", str(out), "--variants", "trees"]
    assert crossval.main([*argv, "--only-fold", "1"]) == 0
    assert (runs / "trees" / "fold_1" / "done.json").is_file()
    assert not (runs / "trees" / "fold_0").exists() and not (out / "crossval.json").exists()


def test_quick_run_trains_evaluates_and_resumes(
    crossval: ModuleType, tmp_path: Path, windows_file: Path, crossval_eval: ModuleType, crossval_report: ModuleType
) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["--quick", "--windows", str(windows_file), "--runs", str(runs), "--out", str(out)]
    assert crossval.main(argv) == 0
    results = json.loads((out / "crossval.json").read_text())
    report = (out / "crossval.md").read_text()
    ws = load_window_set(windows_file)

    assert [f["fold"] for f in results["folds"]] == [0, 1]
    assert results["pooled"]["records"] == len(ws.records)  # every record tested once
    assert results["pooled"]["windows"] == int((ws.labels >= 0).sum())
    assert sum(f["windows"] for f in results["folds"]) == results["pooled"]["windows"]
    for method in ("se", "l", "trees", "rr"):
        pooled = results["pooled"]["methods"][method]
        for level in ("window", "record"):
            for name in ("sensitivity", "specificity", "ppv", "f1", "accuracy", "auroc"):
                assert name in pooled[level]
        assert pooled["window"]["tp"] + pooled["window"]["fn"] == int((ws.labels == 1).sum())
        assert pooled["record"]["n"] == len(ws.records)
        assert all(method in f["methods"] for f in results["folds"])
        assert 0 <= pooled["window"]["ece"] <= 1 and 0 <= pooled["window"]["brier"] <= 1
        assert f"| {crossval_report.METHODS[method]} | {pooled['window']['ece']:.3f} |" in report
    for heading in ("## Pooled over the 2 test folds", "## Per fold", "## Mean ± SD", "original work"):
        assert heading in report
    assert "ECGCNN_SE (original work) | MIT-BIH AFDB, their validation split | 93.60 % | 76.05 %" in report
    assert "| 1 | 6 (3) |" in report  # fold 1: 6 test records, 3 of them AF
    challenge = results["pooled"]["challenge"]
    assert list(challenge) == ["trees"]  # the two-class ECGCNN gives no four-class calls
    assert 0 <= challenge["trees"]["f1_A"] <= 1  # no O records here
    assert "### Challenge score of the four-class methods" in report and "| Rhythm trees | " in report
    assert not list(out.glob("*.part")) and not list(out.glob(".*"))

    # the weights of each fold hold out exactly that fold, and `eval --split test` selects it
    truth = ws.record_targets()
    for fold in range(2):
        _, meta = load_weights(runs / "se" / f"fold_{fold}" / "best.pt", "se")
        assert (meta["training"]["folds"], meta["training"]["fold"]) == (2, fold)
        expected = record_folds(truth, 2, np.random.default_rng(0)) == fold
        np.testing.assert_array_equal(select_split(ws, "test", meta), expected)
        assert not set(meta["training"]["val_records"]) & set(ws.records[expected].tolist())
        _, trees_meta = load_trees(runs / "trees" / f"fold_{fold}" / "best.json")  # the same folds for the trees
        np.testing.assert_array_equal(select_split(ws, "test", trees_meta), expected)
        assert trees_meta["training"]["val_records"] == meta["training"]["val_records"]

    # every method's test-fold p_af per window, and the strata drawn from them
    windows = np.load(out / "crossval_windows.npz")
    assert sorted(windows["window"].tolist()) == np.flatnonzero(ws.labels >= 0).tolist()  # each window once
    trees = results["pooled"]["methods"]["trees"]["window"]
    called = windows["p_af_trees"] >= windows["threshold_trees"]
    assert int(called[ws.labels[windows["window"]] == 1].sum()) == trees["tp"]
    strata = load_benchmark("rate_strata")
    assert strata.main([str(out)]) == 0
    table = json.loads((out / "rate_strata.json").read_text())
    af_windows = sum(band["n"] for band in table["trees"]["af_by_rate"].values())
    assert af_windows + table["trees"]["af_rate_unknown"]["n"] == int((ws.labels == 1).sum())
    assert table["trees"]["non_af_by_class"]["N"]["n"] == int(
        ((ws.labels == 0) & (ws.record_labels[ws.record_index] == "N")).sum()
    )
    assert "| class | windows | se | l | trees | rr |" in (out / "rate_strata.md").read_text()

    # a blend scores its parts exactly as crossval did (each at its own fold thresholds)
    assert load_benchmark("blend").main([str(out), "trees", "se"]) == 0
    rows = {tuple(c.strip() for c in line.split("|")[1:3]): line.split("|")[6].strip()
            for line in (out / "blend_trees+se.md").read_text().splitlines() if line.startswith("| ")}  # fmt: skip
    for method in ("trees", "se"):
        for level in ("window", "record"):
            assert rows[(method, level)] == crossval_report.pct(results["pooled"]["methods"][method][level]["f1"])
    assert ("trees + se", "record") in rows
    assert strata.main([str(out), "--blend", "trees", "se"]) == 0  # the blend's strata beside its parts
    blended = json.loads((out / "rate_strata.json").read_text())["trees+se"]["af_by_rate"]
    assert sum(band["n"] for band in blended.values()) == af_windows

    # pooling one fold reproduces afdetect.evaluate.records's metrics of that fold
    predictor = Predictor.from_weights(runs / "l" / "fold_0" / "best.pt", variant="l")
    mask = select_split(ws, "test", predictor.meta)
    result = evaluate(predictor, ws, mask)
    pooled = crossval_eval.pooled_metrics([crossval_eval.fold_part(result, ws, mask)])
    for level in ("window", "record"):
        for name, value in getattr(result, level).items():
            assert pooled[level][name] == pytest.approx(value, nan_ok=True), (level, name)

    # resumable: finished folds are skipped (weights untouched), another recipe is refused
    best = runs / "se" / "fold_1" / "best.pt"
    stamp = best.stat().st_mtime_ns
    assert crossval.main(argv) == 0
    assert best.stat().st_mtime_ns == stamp
    with pytest.raises(UsageError, match="epochs: 1 there, 2 now"):
        crossval.main([*argv, "--epochs", "2"])


def test_quick_run_of_four_class_ecgcnn(crossval: ModuleType, tmp_path: Path, windows_file: Path) -> None:
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["--quick", "--windows", str(windows_file), "--runs", str(runs), "--out", str(out), "--variants", "se"]
    assert crossval.main([*argv, "--classes", "4"]) == 0
    results = json.loads((out / "crossval.json").read_text())
    assert results["run"]["classes"] == 4
    for fold in range(2):
        _, meta = load_weights(runs / "se" / f"fold_{fold}" / "best.pt", "se")
        assert meta["classes"] == ["N", "A", "O", "~"] and meta["training"]["recipe"]["classes"] == 4
        assert "challenge" in results["folds"][fold]["methods"]["se"]
    assert list(results["pooled"]["challenge"]) == ["se"]
    assert "| ECGCNN_SE | " in (out / "crossval.md").read_text()
    # the folds were trained on four classes: a two-class run of the same folder is refused
    with pytest.raises(UsageError, match="classes: 4 there, 2 now"):
        crossval.main(argv)


def test_split_seed_keeps_the_folds_and_changes_the_training(
    crossval: ModuleType, tmp_path: Path, windows_file: Path
) -> None:
    argv = ["--quick", "--windows", str(windows_file), "--variants", "se"]
    metas = {}
    for tag, seeds in {"seed0": [], "seed1": ["--seed", "1", "--split-seed", "0"], "other": ["--seed", "1"]}.items():
        runs, out = tmp_path / tag / "runs", tmp_path / tag / "out"
        assert crossval.main([*argv, *seeds, "--runs", str(runs), "--out", str(out)]) == 0
        model, meta = load_weights(runs / "se" / "fold_0" / "best.pt", "se")
        metas[tag] = (meta["training"], model.state_dict())
    (same, weights0), (again, weights1), (other, _) = metas.values()
    assert again["test_records"] == same["test_records"] and again["val_records"] == same["val_records"]
    assert again["split_seed"] == 0 and again["recipe"]["seed"] == 1 and again["recipe"]["split_seed"] == 0
    assert any(not torch.equal(weights0[k], weights1[k]) for k in weights0)  # another initialisation
    assert other["test_records"] != same["test_records"]  # --seed alone deals other folds
    report = (tmp_path / "seed1" / "out" / "crossval.md").read_text()
    assert "2 folds, seed 1 (folds of seed 0), " in report


def test_folds_from_before_the_classes_option_count_as_two_classes(crossval_folds: ModuleType, tmp_path: Path) -> None:
    config = TrainConfig(data=tmp_path / "w.npz", out_dir=tmp_path / "run")
    wanted = crossval_folds.recipe(config)
    before = {k: v for k, v in wanted.items() if k != "classes"}  # a done.json written before --classes
    crossval_folds._check_recipe(tmp_path, before, wanted)
    with pytest.raises(UsageError, match="classes: 2 there, 4 now"):
        crossval_folds._check_recipe(tmp_path, before, crossval_folds.recipe(TrainConfig(data=config.data, classes=4)))
    assert "classes" not in crossval_folds.recipe(TrainConfig(data=config.data, method="trees"))


def test_trees_folds_serve_runs_of_any_cnn_recipe(crossval_folds: ModuleType, tmp_path: Path) -> None:
    # the trees read no epochs, batches or classes: a trees fold trained beside 50-epoch CNNs is
    # reused by a run whose CNNs train 40 epochs on four classes; its split keys still count
    trees = TrainConfig(data=tmp_path / "w.npz", method="trees")
    stored = crossval_folds.recipe(trees)
    assert not set(stored) & set(crossval_folds.CNN_ONLY_KEYS)
    crossval_folds._check_recipe(
        tmp_path, {**stored, "epochs": 50}, crossval_folds.recipe(replace(trees, epochs=40, classes=4))
    )
    with pytest.raises(UsageError, match="seed: 0 there, 1 now"):
        crossval_folds._check_recipe(tmp_path, stored, crossval_folds.recipe(replace(trees, seed=1)))


def test_folds_that_read_the_features_must_have_this_features_version(
    crossval_folds: ModuleType, tmp_path: Path
) -> None:
    data = tmp_path / "w.npz"
    assert "features_version" not in crossval_folds.recipe(TrainConfig(data=data))  # ECGCNN_SE reads no features
    for config in (TrainConfig(data=data, method="trees"), TrainConfig(data=data, variant="se-rhythm")):
        wanted = crossval_folds.recipe(config)
        assert wanted["features_version"] == FEATURES_VERSION
        crossval_folds._check_recipe(tmp_path, wanted, wanted)
        before = {k: v for k, v in wanted.items() if k != "features_version"}  # a fold from before the key
        with pytest.raises(UsageError, match=f"features_version: 1 there, {FEATURES_VERSION} now"):
            crossval_folds._check_recipe(tmp_path, before, wanted)


def test_a_fold_serves_runs_naming_its_windows_file_by_another_path(
    crossval_folds: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    relative = crossval_folds.recipe(TrainConfig(data=Path("runs/w.npz")))
    absolute = crossval_folds.recipe(TrainConfig(data=tmp_path / "runs" / "w.npz"))
    assert relative["data"] != absolute["data"]
    crossval_folds._check_recipe(tmp_path, relative, absolute)  # the same file
    with pytest.raises(UsageError, match=r"data: 'runs/w\.npz' there"):
        crossval_folds._check_recipe(
            tmp_path, relative, crossval_folds.recipe(TrainConfig(data=tmp_path / "other.npz"))
        )
