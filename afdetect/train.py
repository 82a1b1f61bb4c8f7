"""Training: record-wise split, class-balanced loss, augmentation, atomic checkpoints, resume.

One run writes into ``out_dir``:

``last.pt``        full training state after the last complete epoch (for ``--resume``)
``best.pt``        weights file (see :mod:`afdetect.checkpoint`) of the best epoch so far
``metrics.csv``    per-epoch loss, accuracy, F1, AUROC, learning rate, seconds
``curves.png``     the same as plots

The best epoch is the one with the highest validation F1(AF) at the validation-optimal
threshold; that threshold ships in the weights. Records are split into train, validation
and test by record (stratified by AF), never by window; the test records are not used in
any way during training, and their names are stored in the weights so ``afdetect eval
--split test`` can evaluate on them honestly.

K-fold cross-validation (``folds=K``, ``fold=k``): the records are dealt into K folds
stratified by record-level AF truth (see :func:`record_folds`); fold ``k`` is the test
fold and ``val_fraction`` of the other records (stratified) validate. Training the K runs
``fold=0 .. K-1`` with one seed tests every record exactly once
(``benchmarks/crossval.py`` does this and pools the results).

Under ``torchrun`` the same function trains data-parallel (see :mod:`afdetect.distributed`):

* every process holds one replica (:class:`~torch.nn.parallel.DistributedDataParallel`) on
  its own device (``cuda:LOCAL_RANK``, or the CPU with the ``gloo`` backend);
* a :class:`~torch.utils.data.DistributedSampler` seeded with ``--seed`` (and
  ``set_epoch`` each epoch) deals the record-wise training split out to the processes;
  ``--batch-size`` is per process, so one optimiser step sees ``batch_size * WORLD_SIZE``
  windows (the learning rate is not rescaled);
* the training loss is summed over all processes; validation is sharded: each process
  scores a contiguous share of the validation windows, the logits are gathered, and every
  process computes the same metrics (so early stopping agrees everywhere without messages);
* only rank 0 writes ``last.pt``, ``best.pt``, ``metrics.csv`` and ``curves.png`` and reports
  progress; ``--resume`` loads ``last.pt`` in every process.

Outside ``torchrun`` nothing of this runs and results are those of a single process.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import mmap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from afdetect import distributed
from afdetect.augment import augment_window
from afdetect.checkpoint import save_weights
from afdetect.config import (
    AUGMENT_P,
    TEST_FRACTION,
    TRAIN_BATCH,
    TRAIN_EPOCHS,
    TRAIN_LR,
    TRAIN_PATIENCE,
    TRAIN_WEIGHT_DECAY,
    VAL_FRACTION,
)
from afdetect.dataset import WindowSet, load_window_set
from afdetect.distributed import DistContext
from afdetect.errors import UsageError
from afdetect.fileio import atomic_open, atomic_path
from afdetect.inference import predict_logits
from afdetect.metrics import best_threshold, binary_metrics, record_metrics
from afdetect.models import create_model, model_config
from afdetect.plots import plot_history

METRIC_COLUMNS = (
    "epoch",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "val_f1",
    "val_auroc",
    "val_threshold",
    "val_record_f1",
    "lr",
    "seconds",
)


@dataclass
class TrainConfig:
    """Options of a training run (the CLI's ``train`` flags).

    ``batch_size`` is per process under ``torchrun``. ``amp`` (mixed precision: float16
    autocast and gradient scaling) needs a CUDA device; :func:`train` refuses it on the CPU.
    ``folds`` ≥ 2 turns on K-fold cross-validation with ``fold`` (0-based) as the test fold;
    ``test_fraction`` is then unused (the test fold holds about ``1 / folds`` of the
    records). ``folds = 0`` (default) is the plain train/validation/test split.
    """

    data: Path
    out_dir: Path
    variant: str = "se"
    epochs: int = TRAIN_EPOCHS
    batch_size: int = TRAIN_BATCH
    lr: float = TRAIN_LR
    weight_decay: float = TRAIN_WEIGHT_DECAY
    val_fraction: float = VAL_FRACTION
    test_fraction: float = TEST_FRACTION
    seed: int = 0
    patience: int = TRAIN_PATIENCE
    augment_p: float = AUGMENT_P
    device: str = "auto"
    num_workers: int = 0
    resume: bool = False
    amp: bool = False
    model_overrides: dict[str, Any] = field(default_factory=dict)
    folds: int = 0
    fold: int = 0

    def validate(self) -> None:
        """Check option ranges; raise :class:`UsageError` naming the bad option."""
        try:
            model_config(self.variant)
        except ValueError as exc:
            raise UsageError(None, f"--variant: {exc}") from None
        checks = [
            (self.epochs >= 1, "--epochs must be at least 1"),
            (self.batch_size >= 2, "--batch-size must be at least 2"),
            (self.lr > 0, "--lr must be positive"),
            (0 < self.val_fraction < 1, "--val-fraction must lie in (0, 1)"),
            (0 <= self.test_fraction < 1 - self.val_fraction, "--test-fraction must lie in [0, 1 - val)"),
            (0 <= self.augment_p <= 1, "--augment-p must lie in [0, 1]"),
            (
                self.folds == 0 or self.folds >= 2,
                f"--folds must be 0 (no cross-validation) or at least 2, got {self.folds}",
            ),
            (self.folds >= 2 or self.fold == 0, f"--fold {self.fold} needs --folds (K-fold cross-validation)"),
            (
                self.folds < 2 or 0 <= self.fold < self.folds,
                f"--fold must lie in [0, --folds - 1] = [0, {self.folds - 1}], got {self.fold}",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise UsageError(None, message)


def record_folds(record_truth: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Deal records into ``folds`` folds, stratified by record-level AF truth.

    The members of each class are shuffled and dealt round-robin; each class starts
    dealing where the previous one stopped, so fold sizes differ by at most one record
    overall and each class's count by at most one per fold.

    Parameters
    ----------
    record_truth : numpy.ndarray
        ``(r,)`` record-level truth (1 AF, 0 non-AF).
    folds : int
        Number of folds K (≥ 2).
    rng : numpy.random.Generator
        Source of the shuffles (consumed: one permutation per class, in class order).

    Returns
    -------
    numpy.ndarray
        ``(r,)`` int64 fold (0 .. K-1) of each record.

    Example
    -------
    >>> np.bincount(record_folds(np.array([0] * 6 + [1] * 3), 3, np.random.default_rng(0))).tolist()
    [3, 3, 3]
    """
    if folds < 2:
        raise ValueError(f"folds must be at least 2, got {folds}")
    fold_of = np.zeros(len(record_truth), dtype=np.int64)
    start = 0
    for cls in np.unique(record_truth):
        members = rng.permutation(np.flatnonzero(record_truth == cls))
        fold_of[members] = (start + np.arange(len(members))) % folds
        start = (start + len(members)) % folds
    return fold_of


def split_records(
    record_truth: np.ndarray, val_fraction: float, test_fraction: float, seed: int, folds: int = 0, fold: int = 0
) -> np.ndarray:
    """Assign each record to train (0), validation (1) or test (2), stratified by AF truth.

    With ``folds = 0`` ``test_fraction`` of each class is tested and ``val_fraction``
    validates. With ``folds = K ≥ 2`` the records are dealt into K stratified folds
    (:func:`record_folds`, the same for every ``fold`` of one ``seed``), fold ``fold`` is
    the test split (``test_fraction`` is unused), and ``val_fraction`` of each class of the
    other records validates (at least one record of a class with two or more, and at
    least one left for training).

    Example
    -------
    >>> split_records(np.array([0] * 8 + [1] * 4), 0.25, 0.25, seed=0).tolist().count(1)
    3
    >>> split_records(np.array([0] * 8 + [1] * 4), 0.25, 0.0, seed=0, folds=4, fold=1).tolist().count(2)
    3
    """
    rng = np.random.default_rng(seed)
    if folds:
        if not 0 <= fold < folds:
            raise ValueError(f"fold must lie in [0, {folds - 1}], got {fold}")
        split = np.where(record_folds(record_truth, folds, rng) == fold, 2, 0).astype(np.int64)
        for cls in np.unique(record_truth):
            members = rng.permutation(np.flatnonzero((record_truth == cls) & (split == 0)))
            n_val = min(len(members) - 1, max(1, int(round(len(members) * val_fraction))))
            split[members[: max(n_val, 0)]] = 1
        return split
    split = np.zeros(len(record_truth), dtype=np.int64)
    for cls in np.unique(record_truth):
        members = rng.permutation(np.flatnonzero(record_truth == cls))
        n_val = int(round(len(members) * val_fraction))
        n_test = int(round(len(members) * test_fraction))
        split[members[:n_val]] = 1
        split[members[n_val : n_val + n_test]] = 2
    return split


class WindowDataset(Dataset):
    """Labelled windows of a :class:`WindowSet`, augmented when ``augment_p > 0``.

    The augmentation generator of window ``i`` in epoch ``e`` is seeded by
    ``(seed, e, i)``, so results do not depend on workers, order or resumption.

    A memory-mapped ``windows`` array (as :func:`~afdetect.dataset.load_window_set` returns)
    stays mapped: pickling the data set (DataLoader workers started by ``spawn`` or
    ``forkserver``) sends the map's file name, offset, dtype and shape instead of the
    windows (``np.memmap`` itself pickles a full copy), and each worker maps the file again
    on first access.

    Example
    -------
    >>> ds = WindowDataset(load_window_set("windows.npz"), np.arange(10))  # doctest: +SKIP
    >>> x, y = ds[0]  # doctest: +SKIP
    """

    def __init__(self, ws: WindowSet, indices: np.ndarray, augment_p: float = 0.0, seed: int = 0) -> None:
        self.ws, self.indices, self.augment_p, self.seed = ws, indices, augment_p, seed
        self.epoch = 0
        self._map_spec: tuple[str, str, tuple[int, ...], int, str] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        windows = self.ws.windows
        if isinstance(windows, np.memmap) and isinstance(windows.base, mmap.mmap) and windows.filename:
            order = "F" if windows.flags.f_contiguous and not windows.flags.c_contiguous else "C"
            state["_map_spec"] = (str(windows.filename), windows.dtype.str, windows.shape, windows.offset, order)
            state["ws"] = dataclasses.replace(self.ws, windows=None)
        return state

    def windows(self) -> np.ndarray:
        """The windows array, mapped again from its file after unpickling."""
        if self.ws.windows is None and self._map_spec is not None:
            filename, dtype, shape, offset, order = self._map_spec
            self.ws.windows = np.memmap(filename, dtype=dtype, mode="r", shape=shape, offset=offset, order=order)
        return self.ws.windows

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        index = int(self.indices[i])
        x = np.asarray(self.windows()[index], dtype=np.float32)
        if self.augment_p > 0:
            x = augment_window(x, np.random.default_rng([self.seed, self.epoch, index]), self.augment_p)
        return torch.from_numpy(x), int(self.ws.labels[index])


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise UsageError(
            None, f"--device {device!r} is not a torch device (expected auto, cpu, cuda, cuda:N)"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise UsageError(None, "--device cuda requested but no CUDA device is available")
    return resolved


def train(
    config: TrainConfig,
    progress: Callable[[str, int, int], None] | None = None,
    on_epoch_end: Callable[[int, nn.Module], None] | None = None,
) -> dict[str, Any]:
    """Train one variant; return the best epoch's summary.

    Run in one process, or in each process of a ``torchrun`` launch (see the module
    docstring); the process group is joined here and left before returning.

    Parameters
    ----------
    config : TrainConfig
        Run options.
    progress : callable, optional
        ``progress(stage, done, total)`` called per batch (stage ``train`` or ``val``) and
        per epoch (stage ``epoch``); only in rank 0 under ``torchrun``.
    on_epoch_end : callable, optional
        ``on_epoch_end(epoch, model)`` called in every process after each epoch's
        checkpoint, with the bare (not DDP-wrapped) model; the process group is still alive.

    Raises
    ------
    UsageError
        Bad options, windows file or device; ``amp`` without CUDA.
    """
    config.validate()
    ws = load_window_set(config.data)
    device = resolve_device(config.device)
    if config.amp and device.type != "cuda":
        raise UsageError(
            None, f"--amp (mixed precision) needs a CUDA device, but training runs on {device}; leave --amp out"
        )
    ctx = distributed.init_distributed(device)
    try:
        best = _train(config, ws, ctx, progress, on_epoch_end)
    except BaseException:
        distributed.shutdown(ctx, wait=False)
        raise
    distributed.shutdown(ctx)
    return best


def _train(
    config: TrainConfig,
    ws: WindowSet,
    ctx: DistContext,
    progress: Callable[[str, int, int], None] | None,
    on_epoch_end: Callable[[int, nn.Module], None] | None,
) -> dict[str, Any]:
    """The training loop of :func:`train` in one process of ``ctx`` (one process: ``world_size == 1``)."""
    device = ctx.device
    torch.manual_seed(config.seed)
    torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
    if not ctx.is_main:
        progress = None

    record_truth = ws.record_targets()
    split = split_records(
        record_truth, config.val_fraction, config.test_fraction, config.seed, config.folds, config.fold
    )
    if config.folds and not (split == 2).any():
        raise UsageError(config.data, f"test fold {config.fold} of {config.folds} is empty: fewer records than --folds")
    window_split = split[ws.record_index]
    labelled = ws.labels >= 0
    train_idx = np.flatnonzero(labelled & (window_split == 0))
    val_idx = np.flatnonzero(labelled & (window_split == 1))
    if len(train_idx) == 0 or len(val_idx) == 0 or len(np.unique(ws.labels[train_idx])) < 2:
        raise UsageError(config.data, "too few labelled windows of both classes for a train/validation split")

    net = create_model(config.variant, **config.model_overrides).to(device)
    if ctx.enabled:  # same initial weights everywhere, then each process's own dropout stream
        torch.manual_seed(distributed.rank_seed(config.seed, ctx.rank))
    class_counts = np.bincount(ws.labels[train_idx], minlength=2)
    weights = torch.tensor(len(train_idx) / (2 * np.maximum(class_counts, 1)), dtype=torch.float32, device=device)
    loss_fn = nn.CrossEntropyLoss(weight=weights)
    optimizer = torch.optim.RAdam(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    windows_per_rank = math.ceil(len(train_idx) / ctx.world_size)
    steps_per_epoch = math.ceil(windows_per_rank / config.batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.1
    )
    scaler = torch.amp.GradScaler("cuda", enabled=config.amp)  # pass-through when disabled

    train_set = WindowDataset(ws, train_idx, config.augment_p, config.seed)
    val_part = val_idx[distributed.shard(len(val_idx), ctx.rank, ctx.world_size)]
    val_x = np.asarray(ws.windows[val_part], dtype=np.float32)
    val_y = ws.labels[val_idx]
    out_dir = Path(config.out_dir)
    if ctx.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    distributed.barrier()
    state_path, best_path, metrics_path = out_dir / "last.pt", out_dir / "best.pt", out_dir / "metrics.csv"

    history: list[dict[str, float]] = []
    best: dict[str, Any] = {"val_f1": -1.0, "epoch": 0}
    start_epoch = 1
    if config.resume and state_path.is_file():
        state = torch.load(state_path, map_location=device, weights_only=True)
        net.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if config.amp and "scaler" in state:
            scaler.load_state_dict(state["scaler"])
        history, best, start_epoch = state["history"], state["best"], state["epoch"] + 1
        _restore_rng(state, ctx, config.seed, start_epoch)

    model: nn.Module = net
    if ctx.enabled:  # DDP broadcasts rank 0's parameters and buffers here
        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    training_info = {
        "data": str(config.data),
        "data_provenance": ws.provenance,
        "recipe": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
        "split_seed": config.seed,
        "folds": config.folds,
        "fold": config.fold,
        "train_records": int((split == 0).sum()),
        "val_records": [str(r) for r in ws.records[split == 1]],
        "test_records": [str(r) for r in ws.records[split == 2]],
        "train_windows": {"non-AF": int(class_counts[0]), "AF": int(class_counts[1])},
    }
    if ctx.enabled:
        training_info["world_size"] = ctx.world_size
    epochs_without_gain = sum(1 for h in history if h["epoch"] > best["epoch"])
    for epoch in range(start_epoch, config.epochs + 1):
        if epochs_without_gain >= config.patience:
            break
        started = time.time()
        train_set.epoch = epoch
        sampler = None
        if ctx.enabled:
            sampler = DistributedSampler(train_set, ctx.world_size, ctx.rank, shuffle=True, seed=config.seed)
            sampler.set_epoch(epoch)
        loader = DataLoader(
            train_set,
            batch_size=config.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            drop_last=windows_per_rank > config.batch_size,
            num_workers=config.num_workers,
            pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(config.seed * 1000 + epoch),
        )
        model.train()
        total, seen = 0.0, 0
        for step, (xb, yb) in enumerate(loader, 1):
            xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
            with _autocast(config.amp):
                loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(net.parameters(), 5.0)
            scaler.step(optimizer)
            scaler.update()
            if scheduler.last_epoch < scheduler.total_steps - 1:
                scheduler.step()
            total += loss.item() * len(yb)
            seen += len(yb)
            if progress:
                progress("train", step, len(loader))
        total, seen = distributed.all_reduce_sum([total, seen])
        distributed.broadcast_buffers(net)  # every replica is now exactly rank 0's model
        val_logits = distributed.all_gather_rows(predict_logits(net, val_x))
        val_loss = float(nn.functional.cross_entropy(val_logits, torch.as_tensor(val_y), weight=weights.cpu()))
        p_val = torch.softmax(val_logits, dim=1)[:, 1].numpy()
        threshold = best_threshold(val_y, p_val)
        val = binary_metrics(val_y, p_val, threshold)
        val_rec = record_metrics(
            np.unique(ws.record_index[val_idx], return_inverse=True)[1],
            record_truth[np.unique(ws.record_index[val_idx])],
            p_val,
            threshold,
        )
        row = {
            "epoch": epoch,
            "train_loss": total / max(seen, 1),
            "val_loss": val_loss,
            "val_accuracy": val["accuracy"],
            "val_f1": val["f1"],
            "val_auroc": val["auroc"],
            "val_threshold": threshold,
            "val_record_f1": val_rec["f1"],
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": time.time() - started,
        }
        history.append(row)
        improved = val["f1"] > best["val_f1"]
        if improved:
            best = {"epoch": epoch, "val_f1": val["f1"], "threshold": threshold, "val": val, "val_record": val_rec}
            epochs_without_gain = 0
        else:
            epochs_without_gain += 1
        rng_states = distributed.all_gather_tensors(torch.get_rng_state()) if ctx.enabled else []
        if ctx.is_main:
            if improved:
                save_weights(best_path, net, config.variant, threshold, {**training_info, "best": best})
            _write_history(metrics_path, history)
            plot_history(out_dir / "curves.png", history)
            state = {
                "model": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "history": history,
                "best": best,
                "epoch": epoch,
            }
            if ctx.enabled:
                state["torch_rng_ranks"] = rng_states
            if config.amp:
                state["scaler"] = scaler.state_dict()
            with atomic_path(state_path) as tmp:
                torch.save(state, tmp)
        distributed.barrier()  # last.pt of this epoch is complete before any process goes on
        if on_epoch_end:
            on_epoch_end(epoch, net)
        if progress:
            progress("epoch", epoch, config.epochs)
    return best


def _autocast(enabled: bool) -> contextlib.AbstractContextManager:
    """float16 autocast on CUDA for ``--amp``; otherwise a context that changes nothing."""
    return torch.autocast("cuda", dtype=torch.float16) if enabled else contextlib.nullcontext()


def _restore_rng(state: dict[str, Any], ctx: DistContext, seed: int, start_epoch: int) -> None:
    """Set the torch random state saved in ``last.pt`` for this process.

    A run resumed with the same number of processes continues every process's own
    stream; with another number, rank 0 continues the saved stream and the other ranks
    start fresh streams seeded by (seed, rank, epoch).
    """
    ranks = state.get("torch_rng_ranks") or []
    if ctx.enabled and len(ranks) == ctx.world_size:
        torch.set_rng_state(ranks[ctx.rank].cpu())
    elif ctx.rank == 0:
        torch.set_rng_state(state["torch_rng"].cpu())
    else:
        torch.manual_seed(distributed.rank_seed(seed, ctx.rank, start_epoch))


def _write_history(path: Path, history: list[dict[str, float]]) -> None:
    with atomic_open(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METRIC_COLUMNS)
        writer.writeheader()
        writer.writerows(history)
