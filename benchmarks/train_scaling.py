"""Data-parallel training throughput: 1 process vs N processes (gloo, CPU, 1 thread each).

Each configuration runs the training step of ``afdetect.training.loop`` — :class:`WindowDataset`
with augmentation, a seeded :class:`DistributedSampler`, DistributedDataParallel (when more
than one process), cross-entropy, RAdam, gradient clipping — for ``--warmup`` untimed and
then ``--steps`` timed optimiser steps, in processes started with ``torch.multiprocessing``
and given the environment ``torchrun`` would give them (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR=127.0.0.1``, a free ``MASTER_PORT``), so the process group
is made by :func:`afdetect.training.distributed.init_distributed` exactly as in ``afdetect train``.

Throughput is windows per second over all processes (``processes x batch x steps`` over
the wall time between two barriers); the speed-up is relative to the first ``--processes``
entry. Validation, logging and checkpoints are left out: they are not what scales.

Usage::

    python benchmarks/train_scaling.py [--data runs/cinc2017.npz] [--variant se] [--steps 20]
                                       [--warmup 3] [--batch-size 32] [--processes 1 2] [--tiny]

Without ``--data`` a synthetic windows file (``--windows`` random windows, half AF) is
written to a temporary folder. The figures mean something only on an otherwise idle machine
with at least ``max(--processes)`` free cores.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from afdetect.config import MODEL_FS, window_samples
from afdetect.models.registry import create_model
from afdetect.training import distributed
from afdetect.training.cache import WindowSet, load_window_set, save_window_set
from afdetect.training.data import WindowDataset

TINY_MODEL: dict[str, object] = {"channels": (4, 8), "lstm_hidden": 8, "lstm_layers": 1}
"""Model overrides of ``--tiny`` (to check that the script works, not to measure)."""


def write_synthetic_windows(path: Path, n_windows: int, seed: int = 0) -> Path:
    """Write ``n_windows`` random z-normalised windows (alternating AF / non-AF, one record each)."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_windows) % 2
    ws = WindowSet(
        windows=rng.standard_normal((n_windows, window_samples(MODEL_FS))).astype(np.float16),
        labels=labels,
        record_index=np.arange(n_windows),
        start_s=np.zeros(n_windows, dtype=np.float32),
        end_s=np.full(n_windows, 30.0, dtype=np.float32),
        records=np.asarray([f"synthetic/W{i:05d}" for i in range(n_windows)]),
        record_labels=np.where(labels == 1, "A", "N"),
        provenance={"source": "benchmarks/train_scaling.py synthetic windows"},
    )
    save_window_set(ws, path)
    return path


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def measure(rank: int, world_size: int, port: int, args: argparse.Namespace, result: str) -> None:
    """One process: time ``args.steps`` training steps; rank 0 writes the figures to ``result``."""
    os.environ.update(
        RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port)
    )
    torch.set_num_threads(args.threads)
    ctx = distributed.init_distributed(torch.device("cpu"))
    try:
        ws = load_window_set(args.data)
        train_idx = np.flatnonzero(ws.labels >= 0)
        torch.manual_seed(0)
        net = create_model(args.variant, **(TINY_MODEL if args.tiny else {}))
        model: nn.Module = DistributedDataParallel(net) if ctx.enabled else net
        optimizer = torch.optim.RAdam(net.parameters(), lr=1e-3, weight_decay=1e-4)
        loss_fn = nn.CrossEntropyLoss()
        dataset = WindowDataset(ws, train_idx, augment_p=args.augment_p, seed=0)
        sampler = DistributedSampler(dataset, world_size, rank, shuffle=True, seed=0)
        loader = DataLoader(dataset, args.batch_size, sampler=sampler, drop_last=True, num_workers=args.workers)
        if len(loader) == 0:
            raise SystemExit(f"{args.data}: fewer than {args.batch_size} windows per process")
        model.train()
        step, epoch, started = 0, 0, 0.0
        while step < args.warmup + args.steps:
            sampler.set_epoch(epoch)
            dataset.epoch = epoch
            for xb, yb in loader:
                if step == args.warmup:
                    distributed.barrier()
                    started = time.perf_counter()
                loss = loss_fn(model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                nn.utils.clip_grad_norm_(net.parameters(), 5.0)
                optimizer.step()
                step += 1
                if step == args.warmup + args.steps:
                    break
            epoch += 1
        distributed.barrier()
        seconds = time.perf_counter() - started
        if ctx.is_main:
            windows = world_size * args.batch_size * args.steps
            Path(result).write_text(json.dumps({"seconds": seconds, "windows": windows}))
    finally:
        distributed.shutdown(ctx)


def main() -> None:
    """Parse options, run each process count, print windows/s and speed-ups."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="windows file (default: a synthetic one)")
    parser.add_argument("--windows", type=int, default=512, help="synthetic windows when --data is not given")
    parser.add_argument("--variant", default="se", help="model variant (se or l)")
    parser.add_argument("--tiny", action="store_true", help="tiny model (to check the script, not to measure)")
    parser.add_argument("--steps", type=int, default=20, help="timed optimiser steps per process")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=32, help="windows per batch per process")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2], help="process counts to compare")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--workers", type=int, default=0, help="data-loader workers per process")
    parser.add_argument("--augment-p", type=float, default=0.4, help="augmentation probability (as in training)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.data is None:
            args.data = write_synthetic_windows(Path(tmp) / "windows.npz", args.windows)
        print(
            f"data {args.data}; model {args.variant}{' (tiny)' if args.tiny else ''}; batch {args.batch_size} "
            f"per process; {args.warmup} warm-up + {args.steps} timed steps; {args.threads} thread(s) per process"
        )
        rates: list[tuple[int, float]] = []
        for processes in args.processes:
            result = Path(tmp) / f"result_{processes}.json"
            mp.spawn(measure, args=(processes, free_port(), args, str(result)), nprocs=processes, join=True)
            figures = json.loads(result.read_text())
            rates.append((processes, figures["windows"] / figures["seconds"]))
    base = rates[0][1]
    print(f"{'processes':>9}  {'windows/s':>10}  {'speed-up':>8}")
    for processes, rate in rates:
        print(f"{processes:>9}  {rate:>10.1f}  {rate / base:>7.2f}x")


if __name__ == "__main__":
    main()
