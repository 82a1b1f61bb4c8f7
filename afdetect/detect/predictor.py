"""Prediction: records in, one row per window out.

Columns of the per-window table (``WINDOW_COLUMNS``):

``record``   record path as given, without extension
``start_s``  window start (s from record start)
``end_s``    end of the window's real signal (s)
``label``    ``AF``, ``non-AF`` or ``unreadable``
``p_af``     AF probability (empty for unreadable windows)
``problem``  why a window is unreadable (``flat``, ``clipped``, ``invalid samples``), else empty
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from afdetect import __version__
from afdetect.config import CINC_CLASSES, DEFAULT_PREPROCESSING, LABEL_NAMES, RR_THRESHOLD, UNREADABLE, Preprocessing
from afdetect.detect.rows import WINDOW_COLUMNS, WindowRows
from afdetect.errors import ParameterError, UsageError, check_range
from afdetect.io.header import RecordInfo
from afdetect.io.record import Record
from afdetect.models.files import sha256
from afdetect.signal.windows import DEFAULT_CHUNK_WINDOWS, WindowBatch, prefetch, record_windows

__all__ = ["METHODS", "WINDOW_COLUMNS", "Predictor", "Scorer"]


METHODS = ("cnn", "rr", "trees", "blend")
"""Window scorers ``--method`` chooses from: a CNN (ECGCNN or the signal ResNet), the RR-irregularity
baseline, the gradient-boosted trees on rhythm features, or the blend of the trees and the signal
ResNet (:mod:`afdetect.detect.blend`)."""

BLEND_CNN = "resnet"
"""The CNN variant whose shipped weights ``--method blend`` averages with the shipped trees."""


DEFAULT_METHOD = "trees"
"""The method that ships as default: the most accurate in cross-validation that meets the Holter
speed targets (README, "Which one ships as default")."""


def resolve_method(method: str | None, weights: str | Path | None = None, variant: str | None = None) -> str:
    """The ``--method`` to use: ``method`` when given; else ``cnn`` when a CNN ``variant`` or
    ``.pt`` ``weights`` are asked for, otherwise :data:`DEFAULT_METHOD`.

    Example
    -------
    >>> resolve_method(None), resolve_method(None, variant="l"), resolve_method(None, weights="run/best.pt")
    ('trees', 'cnn', 'cnn')
    """
    if method is not None:
        return method
    if variant is not None or (weights is not None and Path(weights).suffix == ".pt"):
        return "cnn"
    return DEFAULT_METHOD


Scorer = Callable[[np.ndarray], np.ndarray]
"""Maps conditioned windows ``(n, samples at MODEL_FS)`` to AF probabilities ``(n,)``.

A scorer of a model that learnt several classes may also have ``classes`` (its class names),
``class_probabilities(x)`` (``(n, len(classes))``, AF in column :data:`~afdetect.config.AF_CLASS`)
and ``af_probability(class_p)`` (its ``p_af`` from them, so that the two agree); ``eval`` then
scores four CinC classes too (:func:`afdetect.evaluate.records.cinc_class_probabilities`)."""


@dataclass
class Predictor:
    """A window scorer (the ECGCNN model, or another method) and its AF threshold.

    Example
    -------
    >>> predictor = Predictor.from_weights()  # shipped se weights  # doctest: +SKIP
    >>> table = predictor.predict_record("../shared/data/cinc2017/A00001")  # doctest: +SKIP
    """

    scorer: Scorer
    threshold: float
    meta: dict
    preprocessing: Preprocessing = DEFAULT_PREPROCESSING
    """The input the scorer expects (the weights' copy); windows are cut and conditioned by it."""
    source: Path | None = None
    """The weights (or trees) file the scorer came from; ``None`` for the RR baseline."""

    @classmethod
    def from_weights(
        cls, path: str | Path | None = None, *, variant: str | None = None, threshold: float | None = None
    ) -> Predictor:
        """Load weights (default: the shipped file of ``variant``, ``se`` when not given)."""
        from afdetect.detect.cnn import ModelScorer  # torch: only this method imports it
        from afdetect.models.weights import default_weights, load_weights

        path = default_weights(variant or "se") if path is None else Path(path)
        model, meta = load_weights(path, variant)
        fs = Preprocessing.from_dict(meta["preprocessing"]).model_fs
        return cls._from_model_file(ModelScorer(model, fs=fs, calibration=meta["calibration"]), meta, threshold, path)

    @classmethod
    def rr_baseline(cls, *, threshold: float | None = None, split_from: str | Path | None = None) -> Predictor:
        """The classical RR-irregularity detector (:mod:`afdetect.signal.beats`); loads no weights.

        Parameters
        ----------
        threshold : float, optional
            AF threshold on the RR score (default ``RR_THRESHOLD``).
        split_from : str or Path, optional
            A weights file whose record split ``eval --split`` should use, so the baseline
            is scored on exactly the records the model was tested on (its network is not used).

        Example
        -------
        >>> Predictor.rr_baseline().meta["model"]
        'rr_baseline'
        """
        from afdetect.detect.rr import SCORE_FEATURES, rr_af_probability

        threshold = _chosen_threshold(threshold, RR_THRESHOLD)
        meta = {"model": "rr_baseline", "method": "rr", "threshold": RR_THRESHOLD, "features": list(SCORE_FEATURES)}
        if split_from is not None:
            from afdetect.models.weights import load_weights

            meta["training"] = load_weights(split_from)[1].get("training", {})
        return cls(rr_af_probability, threshold, meta)

    @classmethod
    def from_trees(cls, path: str | Path | None = None, *, threshold: float | None = None) -> Predictor:
        """The rhythm trees (:mod:`afdetect.models.trees`; default: the shipped trees file).

        Example
        -------
        >>> Predictor.from_trees().meta["model"]  # doctest: +SKIP
        'rhythm_trees'
        """
        from afdetect.detect.trees import TreesScorer  # LightGBM: only this method imports it
        from afdetect.models.trees import default_trees, load_trees

        path = default_trees() if path is None else Path(path)
        members, meta = load_trees(path)
        scorer = TreesScorer(members, Preprocessing.from_dict(meta["preprocessing"]).model_fs)
        return cls._from_model_file(scorer, meta, threshold, path)

    @classmethod
    def from_blend(
        cls, trees: str | Path | None = None, cnn: str | Path | None = None, *, threshold: float | None = None
    ) -> Predictor:
        """The blend of the rhythm trees and a four-class CNN (default: the shipped trees and signal ResNet).

        Example
        -------
        >>> Predictor.from_blend().meta["members"]  # doctest: +SKIP
        ['rhythm_trees', 'resnet1d']
        """
        from afdetect.detect.blend import BLEND_THRESHOLD, BlendScorer
        from afdetect.models.weights import default_weights

        members = [cls.from_trees(trees), cls.from_weights(default_weights(BLEND_CNN) if cnn is None else cnn)]
        for member in members[1:]:
            differences = members[0].preprocessing.differences(member.preprocessing)
            if differences:
                raise UsageError(
                    member.source, f"made for other preprocessing than the trees ({'; '.join(differences)})"
                )
            if tuple(getattr(member.scorer, "classes", ())) != CINC_CLASSES:
                raise UsageError(member.source, f"a blend needs a CNN of the CinC classes {', '.join(CINC_CLASSES)}")
        meta = {
            "model": "blend",
            "method": "blend",
            "members": [str(member.meta.get("model", "")) for member in members],
            "member_thresholds": [float(member.threshold) for member in members],
            "weights_sha256": "+".join(sha256(member.source) for member in members if member.source),
            "threshold": BLEND_THRESHOLD,
            "training": members[0].meta.get("training", {}),
        }
        scorer = BlendScorer([(member.scorer, member.threshold) for member in members])
        return cls(scorer, _chosen_threshold(threshold, BLEND_THRESHOLD), meta, members[0].preprocessing)

    @classmethod
    def _from_model_file(cls, scorer: Scorer, meta: dict, threshold: float | None, source: Path) -> Predictor:
        """A predictor of a loaded model file: its threshold unless ``threshold`` is given, its preprocessing."""
        preprocessing = Preprocessing.from_dict(meta["preprocessing"])
        return cls(scorer, _chosen_threshold(threshold, meta["threshold"]), meta, preprocessing, source=source)

    @classmethod
    def for_method(
        cls,
        method: str | None,
        *,
        weights: str | Path | None = None,
        variant: str | None = None,
        threshold: float | None = None,
    ) -> Predictor:
        """The predictor of a ``--method``: ``cnn`` (CNN weights), ``rr`` (the baseline),
        ``trees`` (``weights`` is then a trees file; default the shipped one) or ``blend`` (the
        shipped trees with the four-class CNN ``weights``, default the shipped signal ResNet);
        ``None`` chooses by :func:`resolve_method`.

        With ``rr``, ``weights`` (optional) only supplies the record split for ``eval --split``.
        """
        method = resolve_method(method, weights, variant)
        if method == "cnn":
            return cls.from_weights(weights, variant=variant, threshold=threshold)
        if method == "rr":
            return cls.rr_baseline(threshold=threshold, split_from=weights)
        if method == "trees":
            return cls.from_trees(weights, threshold=threshold)
        if method == "blend":
            return cls.from_blend(cnn=weights, threshold=threshold)
        raise ParameterError(f"{{method}} must be one of {', '.join(METHODS)}, got {method!r}")

    def provenance(self) -> dict[str, Any]:
        """What produced a result: afdetect version, model name, weights file digest and AF threshold.

        Example
        -------
        >>> sorted(Predictor.rr_baseline().provenance())
        ['afdetect_version', 'model', 'threshold', 'weights_sha256']
        """
        return {
            "afdetect_version": __version__,
            "model": str(self.meta.get("model", "")),
            "weights_sha256": self.meta.get("weights_sha256") if self.source is None else sha256(self.source),
            "threshold": float(self.threshold),
        }

    def score(self, batch: WindowBatch) -> np.ndarray:
        """AF probability per window of ``batch`` (NaN for unreadable windows)."""
        p = np.full(len(batch.x), np.nan)
        ok = np.array([problem is None for problem in batch.problems], dtype=bool)
        if ok.any():
            p[ok] = self.scorer(batch.x[ok])
        return p

    def iter_record(
        self,
        record: str | Path,
        lead: str | int | None = None,
        *,
        chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
        span_s: tuple[float, float] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Per-window tables of one record, a chunk at a time (flat memory for long records).

        ``span_s = (begin, end)`` (s from the record start) keeps the windows that overlap it,
        as ``rdsamp -f/-t`` read part of a record; times stay relative to the record start.

        Raises
        ------
        RecordError
            When the record cannot be read (raised before any row is yielded whenever
            the header, lead or length is at fault).
        """
        yield from self.record_tables(Record.open(record, lead), chunk_windows=chunk_windows, span_s=span_s)

    def record_tables(
        self,
        record: Record,
        *,
        chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
        span_s: tuple[float, float] | None = None,
    ) -> Iterator[pd.DataFrame]:
        """Per-window tables of an opened record, a chunk at a time (``span_s``: see :meth:`iter_record`)."""
        for batch, p_af in self.score_record(record, chunk_windows=chunk_windows, span_s=span_s):
            yield self.table(str(record.info.path), batch, p_af)

    def score_record(
        self,
        record: Record,
        *,
        chunk_windows: int = DEFAULT_CHUNK_WINDOWS,
        span_s: tuple[float, float] | None = None,
    ) -> Iterator[tuple[WindowBatch, np.ndarray]]:
        """Windows of one lead of a record and their AF probabilities (NaN: unreadable), a chunk at a time.

        Reading and conditioning the next chunk overlap with scoring this one (a prefetch thread).
        """
        windows = record_windows(
            record.info, record.lead_index, preprocessing=self.preprocessing, chunk_windows=chunk_windows, span_s=span_s
        )
        for batch in prefetch(windows):
            yield batch, self.score(batch)

    def predict_record(self, record: str | Path, lead: str | int | None = None) -> pd.DataFrame:
        """The whole per-window table of one record."""
        return pd.concat(list(self.iter_record(record, lead)), ignore_index=True)

    def table(self, record: str, batch: WindowBatch, p_af: np.ndarray) -> pd.DataFrame:
        """Per-window table from probabilities (NaN = unreadable)."""
        return self.rows(record, batch, p_af).to_frame()

    def rows(self, record: str, batch: WindowBatch, p_af: np.ndarray, info: RecordInfo | None = None) -> WindowRows:
        """Per-window rows (plain arrays) from probabilities (NaN = unreadable); ``info``: the record's header."""
        labels = np.where(p_af >= self.threshold, LABEL_NAMES[1], LABEL_NAMES[0]).astype(object)
        labels[np.isnan(p_af)] = UNREADABLE
        problems = np.array([p or "" for p in batch.problems], dtype=object)
        return WindowRows(
            record, np.round(batch.start_s, 3), np.round(batch.end_s, 3), labels, np.round(p_af, 4), problems, info
        )


def _chosen_threshold(threshold: float | None, default: float) -> float:
    """``threshold`` when given (checked to lie strictly between 0 and 1), else the method's ``default``."""
    if threshold is None:
        return default
    check_range("threshold", threshold, 0, 1, low_open=True, high_open=True)
    return threshold
