"""Figures (PNG): training curves, confusion matrices, ROC curves, ECG strips and record overviews.

matplotlib runs headless (Agg) and every figure is written atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from afdetect.config import AF_RHYTHMS, LABEL_NAMES, UNREADABLE
from afdetect.io.atomic import atomic_path

if TYPE_CHECKING:
    import pandas as pd
from afdetect.rhythm.intervals import window_spans

AF_COLOUR = "tab:red"


UNREADABLE_COLOUR = "tab:grey"


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


def plot_roc_curves(path: str | Path, curves: dict[str, tuple[np.ndarray, np.ndarray, float]], title: str = "") -> None:
    """Several ROC curves overlaid on one axis, each with its area in the legend.

    Parameters
    ----------
    path : str or Path
        PNG to write (atomically).
    curves : dict
        Legend name to ``(fpr, tpr, auroc)`` (:func:`afdetect.evaluate.metrics.roc_curve` and
        :func:`afdetect.evaluate.metrics.auroc` of one method on the same data).
    title : str
        Figure title (``ROC`` is appended).

    Example
    -------
    >>> plot_roc_curves("roc.png", {"se": (fpr_se, tpr_se, 0.97), "rr": (fpr_rr, tpr_rr, 0.90)})  # doctest: +SKIP
    """
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auc:.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01), title=f"{title} ROC".strip())
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    save_figure(fig, path)


def _shade_windows(axes: list[Any], table: pd.DataFrame, scale: float = 1.0) -> None:
    """Shade AF windows (red) and unreadable windows (grey, hatched) on every axis; time / ``scale``."""
    start, end = table["start_s"].to_numpy(float), table["end_s"].to_numpy(float)
    labels = table["label"].to_numpy()
    for mask, style, name in (
        (labels == LABEL_NAMES[1], {"color": AF_COLOUR, "alpha": 0.15, "lw": 0}, "AF window"),
        (labels == UNREADABLE, {"color": UNREADABLE_COLOUR, "alpha": 0.2, "lw": 0, "hatch": "//"}, UNREADABLE),
    ):
        for i, (a, b) in enumerate(window_spans(start, end, mask)):
            for j, ax in enumerate(axes):
                ax.axvspan(a / scale, b / scale, label=name if i == 0 and j == 0 else None, **style)


def _plot_probability(ax: Any, table: pd.DataFrame, threshold: float, scale: float = 1.0, marker: str = "o") -> None:
    """p_af at each window's centre, the AF threshold, and unreadable windows as crosses at 0."""
    centre = (table["start_s"].to_numpy(float) + table["end_s"].to_numpy(float)) / 2 / scale
    p_af = table["p_af"].to_numpy(float)
    ax.plot(centre, p_af, marker=marker, ms=3, lw=0.8, color="tab:blue", label="p(AF) per window")
    ax.axhline(threshold, ls="--", lw=0.8, color=AF_COLOUR, label=f"threshold {threshold:.2f}")
    bad = np.isnan(p_af)
    if bad.any():
        ax.plot(centre[bad], np.zeros(bad.sum()), "x", color=UNREADABLE_COLOUR, label=UNREADABLE)
    # Head-room above 1 keeps the legend off the trace (AF windows sit near p = 1).
    ax.set(ylim=(-0.05, 1.35), yticks=np.linspace(0, 1, 6), ylabel="p(AF)")
    ax.legend(loc="upper right", fontsize="small", ncol=3)


ECG_PAPER_COLOUR = "#f4a6a6"
"""Grid colour of ECG paper."""


def _ecg_paper(ax: Any, t0: float, t1: float) -> None:
    """ECG-paper grid behind the trace: heavy lines every 0.2 s and 0.5 mV, light ones every 0.04 s and
    0.1 mV (25 mm/s, 10 mm/mV). Longer strips keep the grid readable instead of solid: light lines
    only up to 12 s, heavy lines 0.2 s apart up to a minute, then 1 s (to 5 min) or 5 s apart."""
    span = t1 - t0
    y0, y1 = ax.get_ylim()
    heavy_s = 0.2 if span <= 60 else 1.0 if span <= 300 else 5.0
    grids = [(heavy_s, 0.5, 0.6)] + ([(0.04, 0.1, 0.25)] if span <= 12 else [])
    for step_s, step_mv, lw in grids:
        xs = np.arange(np.ceil(t0 / step_s), np.floor(t1 / step_s) + 1) * step_s
        ys = np.arange(np.ceil(y0 / step_mv), np.floor(y1 / step_mv) + 1) * step_mv
        ax.vlines(xs, y0, y1, colors=ECG_PAPER_COLOUR, lw=lw, zorder=0)
        ax.hlines(ys, t0, t1, colors=ECG_PAPER_COLOUR, lw=lw, zorder=0)
    ax.set_ylim(y0, y1)


def _plot_reference(ax: Any, reference: Sequence[Any], t0: float, t1: float, scale: float = 1.0) -> None:
    """The reference rhythm (``.atr`` intervals: ``start_s``, ``end_s``, ``rhythm``) as a band: AF red, others grey."""
    for interval in reference:
        a, b = max(interval.start_s, t0), min(interval.end_s, t1)
        if b <= a:
            continue
        is_af = interval.rhythm in AF_RHYTHMS
        ax.axvspan(a / scale, b / scale, color=AF_COLOUR if is_af else UNREADABLE_COLOUR, alpha=0.5 if is_af else 0.2)
        if (b - a) / (t1 - t0) > 0.04:
            ax.text((a + b) / 2 / scale, 0.5, interval.rhythm.lstrip("("), ha="center", va="center", fontsize="small")
    ax.set(yticks=[], ylim=(0, 1))
    ax.set_ylabel("reference\n(.atr)", rotation=0, ha="right", va="center", fontsize="small")


def _clock_axis(ax: Any, clock: Callable[[float], str] | None, scale: float = 1.0) -> None:
    """Clock time (``clock(seconds)``) along the top of ``ax``, when the header gives a base time."""
    if clock is None:
        return
    from matplotlib.ticker import FuncFormatter

    top = ax.secondary_xaxis("top")
    top.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock(x * scale)))
    top.set_xlabel("clock time", fontsize="small")
    top.tick_params(labelsize="small")


def plot_strip(
    path: str | Path,
    time_s: np.ndarray,
    signal_mv: np.ndarray,
    table: pd.DataFrame,
    threshold: float,
    title: str = "",
    reference: Sequence[Any] | None = None,
    clock: Callable[[float], str] | None = None,
) -> None:
    """An ECG strip with its AF windows shaded, the AF probability of each window beneath, and the
    reference rhythm (``.atr``) beneath that when given.

    Parameters
    ----------
    path : str or Path
        PNG to write (atomically).
    time_s, signal_mv : numpy.ndarray
        Sample times (s from record start) and the lead's samples (mV, NaN = invalid), at
        the record's own sampling rate.
    table : pandas.DataFrame
        Per-window table (``start_s``, ``end_s``, ``label``, ``p_af``) of the windows that
        overlap the strip, as :meth:`afdetect.detect.predictor.Predictor.table` builds it.
    threshold : float
        AF threshold on ``p_af`` (drawn as a dashed line).
    title : str
        Figure title (record, lead, span).
    reference : sequence of RhythmInterval, optional
        The record's reference rhythm intervals (:func:`afdetect.io.annotations.read_rhythm_intervals`).
    clock : callable, optional
        Clock time of a time in s from the record start, shown along the top when given.

    Example
    -------
    >>> plot_strip("strip.png", t, ecg, table, 0.5, "rec / MLII")  # doctest: +SKIP
    """
    plt = pyplot()
    span = float(time_s[-1] - time_s[0]) if len(time_s) > 1 else 1.0
    rows = 3 if reference else 2
    fig, axes = plt.subplots(
        rows,
        1,
        sharex=True,
        figsize=(min(max(8.0, span / 3), 24.0), 5.5 + 0.6 * (rows - 2)),
        gridspec_kw={"height_ratios": [3, 1.4, 0.5][:rows]},
    )
    ax_ecg, ax_p = axes[0], axes[1]
    if reference and len(time_s) > 1:
        _plot_reference(axes[2], reference, float(time_s[0]), float(time_s[-1]))
    _shade_windows([ax_ecg, ax_p], table)
    ax_ecg.plot(time_s, signal_mv, lw=0.6, color="black")
    if len(time_s) > 1:
        _ecg_paper(ax_ecg, float(time_s[0]), float(time_s[-1]))
    ax_ecg.set(ylabel="ECG (mV)", title=title)
    if ax_ecg.get_legend_handles_labels()[0]:  # some AF or unreadable window is shaded
        ax_ecg.legend(loc="upper right", fontsize="small")
    _plot_probability(ax_p, table, threshold)
    _clock_axis(ax_ecg, clock)
    axes[-1].set(xlabel="time (s)", xlim=(float(time_s[0]), float(time_s[-1])) if len(time_s) > 1 else None)
    fig.tight_layout()
    save_figure(fig, path)


def plot_overview(
    path: str | Path,
    table: pd.DataFrame,
    threshold: float,
    duration_s: float,
    title: str = "",
    reference: Sequence[Any] | None = None,
    clock: Callable[[float], str] | None = None,
) -> None:
    """Whole-record overview: AF probability of every window against time (hours), AF shaded.

    Parameters
    ----------
    path : str or Path
        PNG to write (atomically).
    table : pandas.DataFrame
        The record's whole per-window table (``start_s``, ``end_s``, ``label``, ``p_af``).
    threshold : float
        AF threshold on ``p_af``.
    duration_s : float
        Record duration (s): the time axis runs from 0 to it.
    title : str
        Figure title.
    reference : sequence of RhythmInterval, optional
        The record's reference rhythm, drawn as a band beneath.
    clock : callable, optional
        Clock time of a time in s from the record start, shown along the top when given.

    Example
    -------
    >>> plot_overview("overview.png", predictor.predict_record("holter"), 0.5, 86400.0)  # doctest: +SKIP
    """
    plt = pyplot()
    if reference:
        fig, (ax, ax_ref) = plt.subplots(2, 1, sharex=True, figsize=(14, 4.6), gridspec_kw={"height_ratios": [4, 0.6]})
        _plot_reference(ax_ref, reference, 0.0, duration_s, scale=3600.0)
    else:
        fig, ax = plt.subplots(figsize=(14, 4))
    _shade_windows([ax], table, scale=3600.0)
    _plot_probability(ax, table, threshold, scale=3600.0, marker="" if len(table) > 200 else "o")
    ax.set(title=title)
    _clock_axis(ax, clock, scale=3600.0)
    fig.axes[-1].set(xlabel="time (h)", xlim=(0, duration_s / 3600.0))
    fig.tight_layout()
    save_figure(fig, path)
