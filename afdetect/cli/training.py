"""The ``train`` command's two trainers, ECGCNN with a progress bar and the rhythm trees, and its
``--calibrate-only`` step for weights trained before ``train`` calibrated ``p_af``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from afdetect.cli.common import err, progress_bar, use_threads
from afdetect.config import CINC_CLASSES
from afdetect.training.options import TrainConfig


def train_cnn_command(config: TrainConfig, threads: int | None) -> Path:
    """Train ECGCNN with a progress bar; report the best epoch; return the best weights' path.

    ``threads`` (torch's intra-op threads) was set by the caller."""
    from afdetect.training.loop import train as run_training

    with progress_bar() as bar:
        task = bar.add_task("epoch 1", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            if stage == "epoch":
                bar.console.print(f"epoch {done}/{total} done", highlight=False)
                bar.update(task, description=f"epoch {done + 1}", completed=0)
            else:
                bar.update(task, completed=done, total=total)

        best = run_training(config, progress)
    best_file = config.out_dir / "best.pt"
    err.print(
        f"best epoch {best['epoch']}: validation F1(AF) {best['val_f1']:.3f} "
        f"at threshold {best.get('threshold', 0.5):.3f}; weights in {best_file}"
    )
    return best_file


def train_trees_command(config: TrainConfig, threads: int | None) -> Path:
    """Train the rhythm trees; report validation (and test) F1; return the trees file's path."""
    from afdetect.training.cache import load_window_set
    from afdetect.training.trees import TREES_FILE_NAME, train_trees

    with progress_bar() as bar:
        bar.add_task("rhythm features and trees", total=None)
        summary = train_trees(config, load_window_set(config.data), threads=threads or 0)
    best_file = config.out_dir / TREES_FILE_NAME
    test = f", test F1(AF) {summary['test']['f1']:.3f}" if "test" in summary else ""
    err.print(
        f"trees: validation F1(AF) {summary['val']['f1']:.3f}{test} at threshold {summary['threshold']:.3f}"
        f" (a bag of {len(summary['members'])}), other-rhythm weights "
        + ", ".join(f"{m['class_weights'][CINC_CLASSES.index('O')]:.2f}" for m in summary["members"])
        + f"; trees in {best_file}"
    )
    return best_file


CalibrateOnlyOption = Annotated[
    Path | None,
    typer.Option(
        metavar="WEIGHTS",
        help="Train nothing: calibrate p_af of these ECGCNN weights (trained before train calibrated) on their"
        " validation records in --data, keeping every AF call; written in place, or to -o.",
    ),
]
ForceOption = Annotated[
    bool, typer.Option("--force/--no-force", help="With --calibrate-only: refit a calibration the weights carry.")
]


def calibrate_command(weights: Path, data: Path, output: Path | None, force: bool, threads: int | None) -> None:
    """Calibrate existing weights (``train --calibrate-only``); report ECE, Brier and threshold before → after."""
    from afdetect.training.calibrate import calibrate_weights

    use_threads("cnn", threads)
    with progress_bar() as bar:
        bar.add_task("scoring the validation windows", total=None)
        summary = calibrate_weights(weights, data, output, force=force)
    before, after = summary["calibration"]["before"], summary["calibration"]["after"]
    err.print(
        f"{output or weights}: p_af calibrated on {summary['val_windows']} validation windows: ECE"
        f" {before['ece']:.3f} → {after['ece']:.3f}, Brier {before['brier']:.3f} → {after['brier']:.3f};"
        f" threshold {summary['threshold_before']:.3f} → {summary['threshold']:.3f} (every AF call kept)",
        highlight=False,
    )


def copy_output(best_file: Path, output: Path) -> None:
    """Copy a run's best weights or trees to ``-o`` atomically, and set its digest in the
    ``SHA256SUMS`` beside it when that lists the file (as for the shipped ``weights/``)."""
    import shutil

    from afdetect.io.atomic import atomic_path
    from afdetect.models.files import update_manifest

    with atomic_path(output) as tmp:
        shutil.copyfile(best_file, tmp)
    err.print(
        f"copied to {output}"
        + (f" (digest updated in {output.parent / 'SHA256SUMS'})" if update_manifest(output) else "")
    )
