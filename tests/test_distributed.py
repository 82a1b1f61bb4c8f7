"""Distributed data-parallel training (afdetect.training.distributed, train() under torchrun), --amp, mapped data.

The main test launches a real 2-process ``gloo`` training of a tiny ECGCNN on the CPU with
``torchrun`` (``tests/dist_train_worker.py``), resumes it in the same launch, then checks
that both processes hold identical models, that only rank 0 wrote the run files, and that
the weights work in ``afdetect predict``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from typer.testing import CliRunner

from afdetect.cli import app
from afdetect.errors import UsageError
from afdetect.models.weights import load_weights
from afdetect.training import distributed
from afdetect.training.cache import load_window_set
from afdetect.training.data import WindowDataset
from afdetect.training.loop import METRIC_COLUMNS, train
from afdetect.training.options import TrainConfig

WORKER = Path(__file__).resolve().parent / "dist_train_worker.py"
"""Script each torchrun process runs (trains, then resumes; dumps its model per epoch)."""

TORCHRUN_TIMEOUT_S = 180
"""Generous limit for the 2-process launch (about 10-20 s on a busy 2-core machine)."""


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory: pytest.TempPathFactory, windows_file: Path) -> Path:
    """Out dir of ``torchrun --nproc_per_node 2``: 1 epoch, then resumed to 2 epochs (gloo, CPU)."""
    out_dir = tmp_path_factory.mktemp("ddp_run")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command += [str(WORKER), str(windows_file), str(out_dir), "1", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TORCHRUN_TIMEOUT_S, check=False)
    assert done.returncode == 0, f"torchrun failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return out_dir


def test_ranks_hold_identical_models_after_training(two_process_run: Path) -> None:
    rank0 = torch.load(two_process_run / "rank0.pt", weights_only=True)
    rank1 = torch.load(two_process_run / "rank1.pt", weights_only=True)
    assert rank0.keys() == rank1.keys()
    for name in rank0:  # parameters (DDP) and batch-norm buffers (broadcast from rank 0)
        assert torch.equal(rank0[name], rank1[name]), name
    last = torch.load(two_process_run / "last.pt", weights_only=True)
    assert last["epoch"] == 2
    for name in rank0:
        assert torch.equal(last["model"][name], rank0[name]), name
    # 16 training windows dealt to 2 processes, 4 per batch: 2 optimiser steps per epoch, not 4
    assert last["scheduler"]["total_steps"] == 2
    assert all(int(s["step"]) == 4 for s in last["optimizer"]["state"].values())


def test_run_files_written_once_by_rank_zero(two_process_run: Path) -> None:
    with (two_process_run / "metrics.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2]  # epoch 1 kept by the resumed run
    assert tuple(rows[0]) == METRIC_COLUMNS
    assert all(np.isfinite(float(r["train_loss"])) for r in rows)
    assert (two_process_run / "curves.png").stat().st_size > 0
    assert not list(two_process_run.glob(".*.part")), "temporary files left behind"
    last = torch.load(two_process_run / "last.pt", weights_only=True)
    assert len(last["torch_rng_ranks"]) == 2
    assert not torch.equal(last["torch_rng_ranks"][0], last["torch_rng_ranks"][1]), "ranks share a dropout stream"
    _, meta = load_weights(two_process_run / "best.pt")
    assert meta["training"]["world_size"] == 2


def test_collectives_inside_the_process_group(two_process_run: Path) -> None:
    for rank in (0, 1):
        checks = json.loads((two_process_run / f"rank{rank}.json").read_text())
        assert checks["world_size"] == 2
        assert checks["mean_rank"] == pytest.approx(0.5)
        assert checks["gathered_rows"] == [0.0, 1.0, 1.0]  # 1 row from rank 0, 2 from rank 1, in rank order


def test_distributed_weights_work_in_predict_cli(two_process_run: Path, sinus_record: Path, tmp_path: Path) -> None:
    out_csv = tmp_path / "pred.csv"
    result = CliRunner().invoke(
        app, ["predict", str(sinus_record), "--weights", str(two_process_run / "best.pt"), "-o", str(out_csv)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert rows, "no prediction rows"
    assert list(rows[0])[:5] == ["record", "start_s", "end_s", "label", "p_af"]
    assert all(0.0 <= float(r["p_af"]) <= 1.0 for r in rows if r["p_af"])


def test_launch_env_from_torchrun_variables() -> None:
    assert distributed.launch_env({"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}) == distributed.LaunchEnv(3, 4, 1)
    assert distributed.launch_env({}) is None
    assert distributed.launch_env({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None  # one process
    with pytest.raises(UsageError, match="not integers"):
        distributed.launch_env({"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(UsageError, match="inconsistent"):
        distributed.launch_env({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def test_single_process_needs_no_process_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in distributed.LAUNCH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    ctx = distributed.init_distributed(torch.device("cpu"))
    assert (ctx.enabled, ctx.is_main, ctx.world_size, ctx.device) == (False, True, 1, torch.device("cpu"))
    assert not torch.distributed.is_initialized()
    distributed.barrier()
    rows = torch.arange(6.0).reshape(3, 2)
    assert distributed.all_gather_rows(rows) is rows
    assert distributed.all_reduce_sum([1.5, 2]) == [1.5, 2.0]
    assert distributed.all_reduce_mean(2.5) == 2.5
    assert distributed.is_main()
    distributed.shutdown(ctx)


def test_rank_reads_rank_from_environment_before_init(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.get_rank() == 1
    assert not distributed.is_main()


@pytest.mark.parametrize("n,world", [(10, 3), (2, 4), (0, 2), (7, 1)])
def test_validation_shards_cover_in_rank_order(n: int, world: int) -> None:
    parts = [distributed.shard(n, rank, world) for rank in range(world)]
    assert np.concatenate(parts).tolist() == list(range(n))
    assert max(map(len, parts)) - min(map(len, parts)) <= 1


def test_rank_device_uses_local_rank_gpu() -> None:
    assert distributed.rank_device(torch.device("cpu"), 1) == torch.device("cpu")
    with pytest.raises(UsageError, match="CUDA_VISIBLE_DEVICES"):
        distributed.rank_device(torch.device("cuda", 1), 0)
    if torch.cuda.device_count() < 8:
        with pytest.raises(UsageError, match="one process per GPU"):
            distributed.rank_device(torch.device("cuda"), 7)


def test_amp_refused_on_cpu(windows_file: Path, tmp_path: Path) -> None:
    config = TrainConfig(data=windows_file, out_dir=tmp_path / "run", device="cpu", amp=True)
    with pytest.raises(UsageError, match=r"^amp .* needs a CUDA device"):
        train(config)
    assert not (tmp_path / "run").exists()
    result = CliRunner().invoke(
        app, ["train", "--data", str(windows_file), "--out-dir", str(tmp_path / "cli"), "--device", "cpu", "--amp"]
    )
    assert result.exit_code == 2
    assert "CUDA" in result.output
    assert not (tmp_path / "cli").exists()


def test_window_dataset_pickles_the_map_not_the_windows(windows_file: Path) -> None:
    ws = load_window_set(windows_file)
    assert isinstance(ws.windows, np.memmap)
    dataset = WindowDataset(ws, np.arange(len(ws)), augment_p=0.5, seed=3)
    dataset.epoch = 2
    blob = pickle.dumps(dataset)
    assert len(pickle.dumps(ws.windows)) >= ws.windows.nbytes  # what a plain memmap would cost
    assert len(blob) < ws.windows.nbytes / 4
    restored = pickle.loads(blob)
    assert isinstance(restored.windows(), np.memmap)
    assert dataset.ws.windows is ws.windows  # pickling left the original alone
    for i in (0, 5, len(ws) - 1):
        (x0, y0), (x1, y1) = dataset[i], restored[i]
        assert torch.equal(x0, x1)
        assert y0 == y1


def test_spawned_loader_workers_read_the_map(windows_file: Path) -> None:
    dataset = WindowDataset(load_window_set(windows_file), np.arange(8))
    in_process = torch.cat([x for x, _ in DataLoader(dataset, batch_size=4)])
    spawned = DataLoader(dataset, batch_size=4, num_workers=1, multiprocessing_context="spawn")
    assert torch.equal(torch.cat([x for x, _ in spawned]), in_process)
