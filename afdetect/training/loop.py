"""Training: record-wise split, class-balanced loss, augmentation, atomic checkpoints, resume.

One run writes into ``out_dir``:

``last.pt``        full training state after the last complete epoch (for ``--resume``)
``best.pt``        weights file (see :mod:`afdetect.models.weights`) of the best epoch so far
``metrics.csv``    per-epoch loss, accuracy, F1, AUROC, learning rate, seconds
``curves.png``     the same as plots

The best epoch is the one with the highest validation F1(AF) at the validation-optimal
threshold; that threshold ships in the weights, with the Platt map that calibrates ``p_af``
(:class:`~afdetect.models.calibration.PlattCalibration`), fitted on the same validation windows
(the threshold is chosen on the calibrated scale). With ``classes=4`` the network learns CinC's
four classes (:func:`~afdetect.training.targets.class_targets`); validation, the threshold and
early stopping still judge P(AF), softmax column ``AF_CLASS``, against the binary window
labels. Records are split into train, validation and test by record (stratified by AF), never
by window; the test records are not used in any way during training, and their names are
stored in the weights so ``afdetect eval --split test`` can evaluate on them honestly.

K-fold cross-validation (``folds=K``, ``fold=k``): the records are dealt into K folds
stratified by record-level AF truth (see :func:`record_folds`); fold ``k`` is the test
fold and ``val_fraction`` of the other records (stratified) validate. Training the K runs
``fold=0 .. K-1`` with one seed tests every record exactly once
(``benchmarks/crossval.py`` does this and pools the results).

Under ``torchrun`` the same function trains data-parallel (see :mod:`afdetect.training.distributed`):

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
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler

from afdetect.config import AF_CLASS, IGNORE_LABEL, LABEL_NAMES, MODEL_CLASSES, Preprocessing
from afdetect.detect.inference import predict_logits
from afdetect.errors import ParameterError, UsageError
from afdetect.evaluate.metrics import best_threshold, binary_metrics, record_metrics
from afdetect.io.atomic import atomic_open, atomic_path
from afdetect.models.calibration import PlattCalibration
from afdetect.models.registry import create_model
from afdetect.models.weights import save_weights
from afdetect.training import distributed
from afdetect.training.cache import WindowSet, load_window_set
from afdetect.training.calibrate import fit_validation_calibration
from afdetect.training.data import WindowDataset
from afdetect.training.distributed import DistContext
from afdetect.training.options import TrainConfig
from afdetect.training.schedule import one_cycle
from afdetect.training.splits import split_records, split_summary
from afdetect.training.targets import balanced_class_weights, class_targets
from afdetect.viz.plots import plot_history

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


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when present, else CPU; otherwise the named device."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ParameterError(
            f"{{device}} {device!r} is not a torch device (expected auto, cpu, cuda, cuda:N)"
        ) from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("{device} cuda requested but no CUDA device is available")
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
        raise ParameterError(
            f"{{amp}} (mixed precision) needs a CUDA device, but training runs on {device}; leave {{amp}} out"
        )
    ctx = distributed.init_distributed(device)
    try:
        trainer = Trainer(config, ws, ctx, progress if ctx.is_main else None)
        trainer.resume()
        best = trainer.fit(on_epoch_end)
    except BaseException:
        distributed.shutdown(ctx, wait=False)
        raise
    distributed.shutdown(ctx)
    return best


class Trainer:
    """One training run in one process of ``ctx``, as steps: build, resume, one epoch, validate, save.

    :meth:`fit` runs the epochs with early stopping; each step is a method of its own, so a
    caller (a test, a benchmark) can drive them one by one.
    """

    def __init__(
        self,
        config: TrainConfig,
        ws: WindowSet,
        ctx: DistContext,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> None:
        self.config, self.ws, self.ctx, self.progress = config, ws, ctx, progress
        self.device = ctx.device
        self.history: list[dict[str, float]] = []
        self.best: dict[str, Any] = {"val_f1": -1.0, "epoch": 0}
        self.start_epoch = 1
        self.build()

    def build(self) -> None:
        """Split the records, build the model, loss, optimiser, schedule and data."""
        config, ws, ctx, device = self.config, self.ws, self.ctx, self.device
        torch.manual_seed(config.seed)
        torch.use_deterministic_algorithms(device.type == "cpu", warn_only=True)
        self.record_truth = ws.record_targets()
        self.split = split_records(
            self.record_truth, config.val_fraction, config.test_fraction, config.record_seed, config.folds, config.fold
        )
        if config.folds and not (self.split == 2).any():
            raise ParameterError(
                f"test fold {config.fold} of {config.folds} is empty: fewer records than {{folds}}", config.data
            )
        self.targets = class_targets(ws, config.classes)
        window_split = self.split[ws.record_index]
        train_idx = np.flatnonzero((self.targets >= 0) & (window_split == 0))
        self.val_idx = np.flatnonzero((ws.labels >= 0) & (window_split == 1))
        if len(train_idx) == 0 or len(self.val_idx) == 0 or len(np.unique(ws.labels[train_idx])) < 2:
            raise UsageError(config.data, "too few labelled windows of both classes for a train/validation split")

        self.net = create_model(config.variant, **{**config.model_overrides, "n_classes": config.classes}).to(device)
        n_features = self.net.config.rhythm_features
        features = ws.cached_features(n_features, config.data) if n_features else None
        if features is not None:  # the hybrid's standardisation: training windows' statistics, kept in the weights
            self.net.rhythm.scaling.fit(torch.from_numpy(features[train_idx]))
        if ctx.enabled:  # same initial weights everywhere, then each process's own dropout stream
            torch.manual_seed(distributed.rank_seed(config.seed, ctx.rank))
        self.class_counts = np.bincount(self.targets[train_idx], minlength=config.classes)
        weights = balanced_class_weights(self.class_counts)
        self.class_weights = torch.tensor(weights, dtype=torch.float32, device=device)
        self.loss_fn = nn.CrossEntropyLoss(weight=self.class_weights)
        self.optimizer = torch.optim.RAdam(self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.windows_per_rank = math.ceil(len(train_idx) / ctx.world_size)
        steps_per_epoch = math.ceil(self.windows_per_rank / config.batch_size)
        self.scheduler = one_cycle(self.optimizer, config.lr, config.epochs * steps_per_epoch)
        self.scaler = torch.amp.GradScaler("cuda", enabled=config.amp)  # pass-through when disabled

        self.train_set = WindowDataset(ws, train_idx, config.augment_p, config.seed, features, self.targets)
        val_part = self.val_idx[distributed.shard(len(self.val_idx), ctx.rank, ctx.world_size)]
        self.val_x = np.asarray(ws.windows[val_part], dtype=np.float32)
        self.val_features = None if features is None else features[val_part]
        self.val_y = ws.labels[self.val_idx]
        self.val_targets = self.targets[self.val_idx]
        self.out_dir = Path(config.out_dir)
        if ctx.is_main:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        distributed.barrier()
        self.state_path = self.out_dir / "last.pt"

    def resume(self) -> None:
        """With ``config.resume``, continue from ``last.pt`` when it exists; then wrap for DDP."""
        config, ctx = self.config, self.ctx
        if config.resume and self.state_path.is_file():
            state = torch.load(self.state_path, map_location=self.device, weights_only=True)
            saved = Preprocessing.from_dict(state.get("preprocessing", {}))
            differences = saved.differences(self.ws.preprocessing)
            if differences:
                raise UsageError(
                    self.state_path,
                    "was trained on windows with other preprocessing than the windows file "
                    f"(last.pt vs windows: {'; '.join(differences)}); train into another --out-dir",
                )
            if state.get("classes", len(LABEL_NAMES)) != config.classes:
                raise UsageError(
                    self.state_path,
                    f"was trained with --classes {state.get('classes', len(LABEL_NAMES))}, not {config.classes}",
                )
            self.net.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if config.amp and "scaler" in state:
                self.scaler.load_state_dict(state["scaler"])
            self.history, self.best, self.start_epoch = state["history"], state["best"], state["epoch"] + 1
            _restore_rng(state, ctx, config.seed, self.start_epoch)
        self.model: nn.Module = self.net
        if ctx.enabled:  # DDP broadcasts rank 0's parameters and buffers here
            device = self.device
            self.model = DistributedDataParallel(self.net, device_ids=[device.index] if device.type == "cuda" else None)

    def training_info(self) -> dict[str, Any]:
        """What the weights record about this run (data, recipe, split)."""
        config, ws, split = self.config, self.ws, self.split
        info = {
            "data": str(config.data),
            "data_provenance": ws.provenance,
            "recipe": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()},
            **split_summary(ws.records, split, seed=config.record_seed, folds=config.folds, fold=config.fold),
            "train_windows": dict(zip(MODEL_CLASSES[config.classes], self.class_counts.tolist(), strict=True)),
        }
        if self.ctx.enabled:
            info["world_size"] = self.ctx.world_size
        return info

    def fit(self, on_epoch_end: Callable[[int, nn.Module], None] | None = None) -> dict[str, Any]:
        """Run the remaining epochs with early stopping; return the best epoch's summary."""
        config = self.config
        training_info = self.training_info()
        epochs_without_gain = sum(1 for h in self.history if h["epoch"] > self.best["epoch"])
        for epoch in range(self.start_epoch, config.epochs + 1):
            if epochs_without_gain >= config.patience:
                break
            started = time.time()
            train_loss = self.train_epoch(epoch)
            row, val, val_rec, threshold = self.validate()
            row = {"epoch": epoch, "train_loss": train_loss, **row, "seconds": time.time() - started}
            self.history.append(row)
            improved = val["f1"] > self.best["val_f1"]
            if improved:
                self.best = {
                    "epoch": epoch,
                    "val_f1": val["f1"],
                    "threshold": threshold,
                    "val": val,
                    "val_record": val_rec,
                }
                epochs_without_gain = 0
            else:
                epochs_without_gain += 1
            self.save(epoch, threshold if improved else None, training_info)
            if on_epoch_end:
                on_epoch_end(epoch, self.net)
            if self.progress:
                self.progress("epoch", epoch, config.epochs)
        return self.best

    def train_epoch(self, epoch: int) -> float:
        """One pass over the training windows; the mean training loss over all processes."""
        config, ctx, device = self.config, self.ctx, self.device
        self.train_set.epoch = epoch
        sampler = None
        if ctx.enabled:
            sampler = DistributedSampler(self.train_set, ctx.world_size, ctx.rank, shuffle=True, seed=config.seed)
            sampler.set_epoch(epoch)
        loader = DataLoader(
            self.train_set,
            batch_size=config.batch_size,
            shuffle=sampler is None,
            sampler=sampler,
            drop_last=self.windows_per_rank > config.batch_size,
            num_workers=config.num_workers,
            pin_memory=device.type == "cuda",
            generator=torch.Generator().manual_seed(config.seed * 1000 + epoch),
        )
        self.model.train()
        total, seen = 0.0, 0
        for step, (*inputs, yb) in enumerate(loader, 1):
            inputs, yb = [t.to(device, non_blocking=True) for t in inputs], yb.to(device, non_blocking=True)
            total += self.step(inputs, yb) * len(yb)
            seen += len(yb)
            if self.progress:
                self.progress("train", step, len(loader))
        total, seen = distributed.all_reduce_sum([total, seen])
        return total / max(seen, 1)

    def step(self, inputs: list[torch.Tensor], yb: torch.Tensor) -> float:
        """One optimiser step on a batch (the model's inputs: windows, and features for a hybrid); its loss."""
        with _autocast(self.config.amp):
            loss = self.loss_fn(self.model(*inputs), yb)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        nn.utils.clip_grad_norm_(self.net.parameters(), 5.0)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.scheduler.last_epoch < self.scheduler.total_steps - 1:
            self.scheduler.step()
        return loss.item()

    def validate(self) -> tuple[dict[str, float], dict[str, float], dict[str, float], float]:
        """Score the validation windows: the history row's metrics, window and record metrics, threshold."""
        ws, val_y = self.ws, self.val_y
        distributed.broadcast_buffers(self.net)  # every replica is now exactly rank 0's model
        val_logits = distributed.all_gather_rows(predict_logits(self.net, self.val_x, features=self.val_features))
        targets, weight = torch.as_tensor(self.val_targets), self.class_weights.cpu()
        val_loss = float(nn.functional.cross_entropy(val_logits, targets, weight=weight, ignore_index=IGNORE_LABEL))
        raw_p = torch.softmax(val_logits, dim=1)[:, AF_CLASS].numpy()
        calibration, calibration_record = fit_validation_calibration(raw_p, val_y)
        p_val = calibration.apply(raw_p)
        threshold = best_threshold(val_y, p_val)
        val = binary_metrics(val_y, p_val, threshold)
        val_records = np.unique(ws.record_index[self.val_idx], return_inverse=True)
        val_rec = record_metrics(val_records[1], self.record_truth[val_records[0]], p_val, threshold)
        row = {
            "val_loss": val_loss,
            "val_accuracy": val["accuracy"],
            "val_f1": val["f1"],
            "val_auroc": val["auroc"],
            "val_threshold": threshold,
            "val_record_f1": val_rec["f1"],
            "lr": self.optimizer.param_groups[0]["lr"],
        }
        val["calibration"] = calibration_record
        return row, val, val_rec, threshold

    def save(self, epoch: int, improved_threshold: float | None, training_info: dict[str, Any]) -> None:
        """Rank 0 writes ``best.pt`` (when improved), ``metrics.csv``, ``curves.png`` and ``last.pt``."""
        ctx, config = self.ctx, self.config
        rng_states = distributed.all_gather_tensors(torch.get_rng_state()) if ctx.enabled else []
        if ctx.is_main:
            if improved_threshold is not None:
                save_weights(
                    self.out_dir / "best.pt",
                    self.net,
                    config.variant,
                    improved_threshold,
                    {**training_info, "best": self.best},
                    preprocessing=self.ws.preprocessing,
                    feature_names=self.ws.provenance.get("feature_names") if self.net.config.rhythm_features else None,
                    calibration=PlattCalibration.from_dict(self.best["val"].get("calibration")),
                )
            _write_history(self.out_dir / "metrics.csv", self.history)
            plot_history(self.out_dir / "curves.png", self.history)
            state = {
                "model": self.net.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "history": self.history,
                "best": self.best,
                "epoch": epoch,
                "preprocessing": self.ws.preprocessing.to_dict(),
                "classes": config.classes,
            }
            if ctx.enabled:
                state["torch_rng_ranks"] = rng_states
            if config.amp:
                state["scaler"] = self.scaler.state_dict()
            with atomic_path(self.state_path) as tmp:
                torch.save(state, tmp)
        distributed.barrier()  # last.pt of this epoch is complete before any process goes on


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
