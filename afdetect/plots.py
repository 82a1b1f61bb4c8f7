"""Figures (PNG): training curves, confusion matrices, ROC curves.

matplotlib runs headless (Agg) and every figure is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from afdetect.config import LABEL_NAMES
from afdetect.fileio import atomic_path


def pyplot() -> Any:
    """matplotlib.pyplot on the headless Agg backend (imported on first use: it is slow)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> None:
    """Save ``fig`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    pyplot().close(fig)


def plot_history(path: str | Path, history: list[dict[str, float]]) -> None:
    """Training curves: train/validation loss, validation F1, accuracy and AUROC per epoch."""
    plt = pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_score) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], label="train")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], label="validation")
    ax_loss.set(xlabel="epoch", ylabel="weighted cross-entropy", title="Loss")
    ax_loss.legend()
    for key, name in (("val_f1", "F1(AF)"), ("val_accuracy", "accuracy"), ("val_auroc", "AUROC")):
        ax_score.plot(epochs, [h[key] for h in history], label=name)
    ax_score.set(xlabel="epoch", ylim=(0, 1), title="Validation (window level)")
    ax_score.legend()
    fig.tight_layout()
    save_figure(fig, path)


def plot_confusion(path: str | Path, matrices: dict[str, list[list[int]]], title: str = "") -> None:
    """Window- and record-level confusion matrices side by side."""
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, level in zip(axes, ("window", "record"), strict=True):
        m = np.array(matrices[level])
        ax.imshow(m, cmap="Blues")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, str(v), ha="center", va="center", color="black" if v < m.max() / 2 else "white")
        ax.set(
            xticks=[0, 1],
            yticks=[0, 1],
            xticklabels=LABEL_NAMES,
            yticklabels=LABEL_NAMES,
            xlabel="predicted",
            ylabel="truth",
            title=f"{title} {level} level".strip(),
        )
    fig.tight_layout()
    save_figure(fig, path)


def plot_roc(path: str | Path, fpr: np.ndarray, tpr: np.ndarray, auc: float, title: str = "") -> None:
    """ROC curve with its area in the legend."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot(fpr, tpr, label=f"AUROC {auc:.3f}")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"{title} ROC".strip())
    ax.legend(loc="lower right")
    fig.tight_layout()
    save_figure(fig, path)
