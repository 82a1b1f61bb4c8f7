"""Gradient-boosted trees on rhythm features: the model and its file format (``--method trees``).

LightGBM trees over :data:`~afdetect.signal.features.FEATURE_NAMES`, trained on CinC 2017's
four classes (``N`` normal, ``A`` AF, ``O`` other rhythm, ``~`` noisy), so that what is *not*
AF but irregular is learnt as its own class; ``p_af`` is P(``A``). Windows of
rhythm-annotated records (no four-class label) count as ``A`` when labelled AF and ``N``
otherwise.

A trees file is one JSON document (nothing is unpickled when it loads):

``format``          ``"afdetect-trees"`` and ``format_version``
``model``           ``"rhythm_trees"``
``classes``         class names, in the order of the booster's outputs (:data:`~afdetect.config.CINC_CLASSES`)
``feature_names``   the feature columns the booster reads, in order
``features_version`` how they were computed when it was trained
                    (:data:`~afdetect.signal.features.FEATURES_VERSION`; absent before version 2)
``preprocessing``   the input it was trained on (:class:`~afdetect.config.Preprocessing`)
``threshold``       AF threshold on ``p_af``: the mean of the members' thresholds
``members``         the bagged training runs (format version 3), each with its own
                    ``threshold`` (on its calibrated P(``A``), chosen on its out-of-fold
                    windows), ``calibration`` (its Platt map from P(``A``) to ``p_af``,
                    :mod:`afdetect.models.calibration`), ``class_weights`` (the weight of each
                    class in the share of the classes other than ``A``,
                    :func:`weigh_other_classes`) and ``booster`` (LightGBM's own text format)
``training``        data summary, split record names, metrics, recipe

``p_af`` is the mean of the members' calibrated P(``A``) (:class:`TreesMember`). Files of
versions 1 and 2 hold one member's entries at the top level (``booster``, ``calibration``,
absent in version 1, whose ``p_af`` is P(``A``) itself, and ``class_weights``, absent in older
files, which weigh every class 1); they still load, as a bag of one.

Shipped files are listed in ``weights/SHA256SUMS`` like the ECGCNN weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from afdetect.config import AF_CLASS, CINC_CLASSES, DEFAULT_PREPROCESSING, Preprocessing
from afdetect.errors import UsageError, check_range
from afdetect.io.atomic import atomic_path
from afdetect.models.calibration import IDENTITY, PlattCalibration
from afdetect.models.files import WEIGHTS_DIR, verify_manifest
from afdetect.signal.features import FEATURE_NAMES, FEATURES_VERSION

FORMAT = "afdetect-trees"
FORMAT_VERSION = 3
READABLE_VERSIONS: tuple[int, ...] = (1, 2, FORMAT_VERSION)
"""Trees file versions this afdetect reads (version 1 has no calibration; 1 and 2 hold one booster)."""
MODEL_NAME = "rhythm_trees"
TREES_FILE = f"{MODEL_NAME}.json"


@dataclass(frozen=True)
class TreesRecipe:
    """LightGBM settings of the shipped trees, fixed before any cross-validation run
    (the values ``../shared/design/rhythm-features.md`` measured, never tuned on a test fold).

    Example
    -------
    >>> TreesRecipe().n_trees
    600
    """

    n_trees: int = 600
    learning_rate: float = 0.03
    num_leaves: int = 31
    feature_fraction: float = 0.6
    bagging_fraction: float = 0.8
    min_data_in_leaf: int = 20
    seed: int = 0
    """Seed of LightGBM's row and feature samples; :func:`~afdetect.training.trees.train_trees`
    takes it from the run's ``--seed``."""
    crop_s: tuple[float, ...] = (6.0, 12.0)
    """Seconds each training window is also seen without, at its start and at its end, a pair of
    views per entry (empty: none), so the trees learn features measured on less signal; see
    :func:`~afdetect.training.trees.feature_views`."""
    crop_min_signal_s: float = 20.0
    """Shortest real signal (s) that is cropped; shorter windows are seen whole in every view."""
    members: int = 4
    """Training runs bagged into one file (:func:`member_seeds`), each with its own booster seed and
    its own deal of the out-of-fold records, hence its own calibration, threshold and class
    weights. On CinC 2017 (3-fold record-wise cross-validation, 8 single runs composed into bags)
    the mean record F1(AF) rose from 83.75 % for one run to 83.91, 84.04, 84.11 and 84.30 % for
    bags of 2, 3, 4 and 8; each member adds its booster's prediction time."""

    def lightgbm_params(self, threads: int = 0) -> dict[str, Any]:
        """LightGBM's parameter dict (``threads = 0``: LightGBM's default, one per core)."""
        check_range("n_trees", self.n_trees, 1)
        check_range("learning_rate", self.learning_rate, 0, 1, low_open=True)
        return {
            "objective": "multiclass",
            "num_class": len(CINC_CLASSES),
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "feature_fraction": self.feature_fraction,
            "bagging_fraction": self.bagging_fraction,
            "bagging_freq": 1,
            "min_data_in_leaf": self.min_data_in_leaf,
            "seed": self.seed,
            "deterministic": True,
            "num_threads": threads,
            "verbose": -1,
        }


def member_seeds(seed: int, members: int) -> list[int]:
    """Seeds of the training runs of a bag trained with ``seed``: ``seed × members + m``, so that the
    bags of different seeds share no run.

    Example
    -------
    >>> member_seeds(1, 4)
    [4, 5, 6, 7]

    Raises
    ------
    ParameterError
        When ``members`` is not a positive number of runs.
    """
    check_range("members", members, 1)
    return [seed * members + m for m in range(members)]


def default_trees() -> Path:
    """Path of the shipped trees file."""
    return WEIGHTS_DIR / TREES_FILE


DEFAULT_RECIPE = TreesRecipe()
"""The shipped recipe."""

EQUAL_WEIGHTS: np.ndarray = np.ones(len(CINC_CLASSES))
"""Class weights that leave the booster's probabilities as they are (files without ``class_weights``;
read-only: copy it to change an entry)."""
EQUAL_WEIGHTS.setflags(write=False)


def weigh_other_classes(class_p: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Class probabilities whose share of the classes other than ``A`` (``1 − P(A)``) is dealt out
    in proportion to ``weights × probability``; the ``A`` column is left as it is.

    The booster's probabilities are fitted for accuracy: the commoner ``N`` wins a close call
    against ``O``. Weights chosen for F1 on held-out windows (:func:`~afdetect.training.trees.
    choose_other_weight`) move those calls; ``p_af`` and every AF decision stay unchanged.

    Parameters
    ----------
    class_p : numpy.ndarray
        ``(n, len(CINC_CLASSES))`` probabilities of the CinC classes, rows summing to 1.
    weights : numpy.ndarray
        ``(len(CINC_CLASSES),)`` positive weights (the ``A`` entry is not used).

    Example
    -------
    >>> p = np.array([[0.5, 0.1, 0.3, 0.1]])  # N, A, O, ~
    >>> weigh_other_classes(p, np.array([1.0, 1.0, 2.0, 1.0])).round(3).tolist()
    [[0.375, 0.1, 0.45, 0.075]]
    """
    others = np.arange(len(CINC_CLASSES)) != AF_CLASS
    scaled = class_p[:, others] * weights[others]
    total = scaled.sum(axis=1, keepdims=True)
    out = np.array(class_p, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, others] = np.where(total > 0, scaled / total * (1.0 - class_p[:, [AF_CLASS]]), class_p[:, others])
    return out


@dataclass(frozen=True)
class TreesMember:
    """One bagged training run of a trees file: its booster, its AF ``threshold`` on its calibrated
    P(``A``), the Platt map of that probability, and its other-class weights."""

    booster: Any
    threshold: float
    calibration: PlattCalibration = IDENTITY
    class_weights: np.ndarray = field(default_factory=EQUAL_WEIGHTS.copy)

    def to_dict(self) -> dict[str, Any]:
        """The member's entry of a trees file."""
        return {
            "threshold": float(self.threshold),
            "calibration": self.calibration.to_dict(),
            "class_weights": {name: float(w) for name, w in zip(CINC_CLASSES, self.class_weights, strict=True)},
            "booster": self.booster.model_to_string(),
        }


def bag_threshold(members: list[TreesMember]) -> float:
    """AF threshold of a bag on the mean of its members' ``p_af``: the mean of their thresholds.

    Example
    -------
    >>> bag_threshold([TreesMember(None, 0.3), TreesMember(None, 0.4)])
    0.35
    """
    return float(np.mean([member.threshold for member in members]))


def class_weights_of(payload: dict[str, Any], path: Path) -> np.ndarray:
    """The ``class_weights`` entry of a trees file as an array in :data:`CINC_CLASSES` order
    (:data:`EQUAL_WEIGHTS` when absent)."""
    given = payload.get("class_weights")
    if given is None:
        return EQUAL_WEIGHTS.copy()
    values = given.values() if isinstance(given, dict) else ()
    if (
        not isinstance(given, dict)
        or set(given) != set(CINC_CLASSES)
        or not all(isinstance(v, (int, float)) and np.isfinite(v) and v > 0 for v in values)
    ):
        raise UsageError(path, f"class_weights must give a positive number for each of {', '.join(CINC_CLASSES)}")
    return np.array([float(given[name]) for name in CINC_CLASSES])


def fit_trees(features: np.ndarray, classes: np.ndarray, recipe: TreesRecipe = DEFAULT_RECIPE, threads: int = 0):
    """Fit the four-class trees.

    Parameters
    ----------
    features : numpy.ndarray
        ``(n, len(FEATURE_NAMES))`` rhythm features (NaN allowed).
    classes : numpy.ndarray
        ``(n,)`` class index into :data:`~afdetect.config.CINC_CLASSES`.

    Returns
    -------
    lightgbm.Booster
    """
    import lightgbm as lgb

    if features.shape[1:] != (len(FEATURE_NAMES),):
        raise ValueError(f"expected features (n, {len(FEATURE_NAMES)}), got shape {features.shape}")
    data = lgb.Dataset(features, np.asarray(classes), feature_name=list(FEATURE_NAMES), free_raw_data=True)
    return lgb.train(recipe.lightgbm_params(threads), data, num_boost_round=recipe.n_trees)


def save_trees(
    path: str | Path,
    members: list[TreesMember],
    training: dict[str, Any],
    *,
    preprocessing: Preprocessing = DEFAULT_PREPROCESSING,
) -> None:
    """Write a trees file of the bag ``members`` atomically (see module docstring for the layout)."""
    if not members:
        raise ValueError("a trees file needs at least one member")
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": MODEL_NAME,
        "classes": list(CINC_CLASSES),
        "feature_names": list(FEATURE_NAMES),
        "features_version": FEATURES_VERSION,
        "preprocessing": preprocessing.to_dict(),
        "threshold": bag_threshold(members),
        "training": training,
        "members": [member.to_dict() for member in members],
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload))


def load_trees(path: str | Path) -> tuple[list[TreesMember], dict[str, Any]]:
    """Load a trees file.

    Returns
    -------
    members : list of TreesMember
        The bagged training runs (one for files of versions 1 and 2; a version 1 member's
        calibration is the identity, and a member without ``class_weights`` weighs every class 1).
    meta : dict
        The file's other entries (``threshold``, ``preprocessing``, ``training`` ...).

    Raises
    ------
    UsageError
        When the file is missing, damaged, not an afdetect trees file, or made for other
        features or classes than this version computes.
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(path, "trees file not found")
    verify_manifest(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(path, f"not an afdetect trees file (not JSON: {exc})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UsageError(path, "not an afdetect trees file (no 'afdetect-trees' format tag)")
    if payload.get("format_version") not in READABLE_VERSIONS:
        raise UsageError(path, f"trees format version {payload.get('format_version')} unsupported")
    if payload.get("feature_names") != list(FEATURE_NAMES) or payload.get("classes") != list(CINC_CLASSES):
        raise UsageError(path, "made for other features or classes than this afdetect version computes")
    entries = payload.get("members") if payload["format_version"] >= 3 else [payload]
    if not isinstance(entries, list) or not entries or not all(isinstance(entry, dict) for entry in entries):
        raise UsageError(path, "trees file lists no members (a non-empty list of trained runs)")
    members = [_member(entry, path) for entry in entries]
    meta = {k: v for k, v in payload.items() if k not in ("booster", "members", "calibration", "class_weights")}
    return members, meta


def _member(entry: dict[str, Any], path: Path) -> TreesMember:
    """One member of a trees file from its entry (the payload itself in versions 1 and 2)."""
    import lightgbm as lgb

    threshold = entry.get("threshold")
    if not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise UsageError(path, f"trees member threshold must be a number in [0, 1], got {threshold!r}")
    try:
        booster = lgb.Booster(model_str=entry["booster"])
    except (KeyError, TypeError, lgb.basic.LightGBMError) as exc:
        raise UsageError(path, f"trees file holds no readable booster ({str(exc)[:120]})") from None
    calibration = PlattCalibration.from_dict(entry.get("calibration"), path)
    return TreesMember(booster, float(threshold), calibration, class_weights_of(entry, path))
