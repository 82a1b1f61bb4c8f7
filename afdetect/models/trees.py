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
``threshold``       AF threshold on the calibrated ``p_af``, chosen on held-out windows
``calibration``     the Platt map from P(``A``) to ``p_af`` (:mod:`afdetect.models.calibration`;
                    absent in version 1 files, whose ``p_af`` is P(``A``) itself)
``class_weights``   weight of each class in the share of the classes other than ``A``
                    (:func:`weigh_other_classes`), chosen on held-out windows; absent in
                    older files, which weigh every class 1
``training``        data summary, split record names, metrics, recipe
``booster``         the LightGBM model, as LightGBM's own text format

Shipped files are listed in ``weights/SHA256SUMS`` like the ECGCNN weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
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
FORMAT_VERSION = 2
READABLE_VERSIONS: tuple[int, ...] = (1, FORMAT_VERSION)
"""Trees file versions this afdetect reads (version 1 has no calibration)."""
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
    booster,
    threshold: float,
    training: dict[str, Any],
    *,
    calibration: PlattCalibration = IDENTITY,
    class_weights: np.ndarray = EQUAL_WEIGHTS,
    preprocessing: Preprocessing = DEFAULT_PREPROCESSING,
) -> None:
    """Write a trees file atomically (see module docstring for the layout)."""
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": MODEL_NAME,
        "classes": list(CINC_CLASSES),
        "feature_names": list(FEATURE_NAMES),
        "features_version": FEATURES_VERSION,
        "preprocessing": preprocessing.to_dict(),
        "threshold": float(threshold),
        "calibration": calibration.to_dict(),
        "class_weights": {name: float(w) for name, w in zip(CINC_CLASSES, class_weights, strict=True)},
        "training": training,
        "booster": booster.model_to_string(),
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(payload))


def load_trees(path: str | Path):
    """Load a trees file.

    Returns
    -------
    booster : lightgbm.Booster
    meta : dict
        The file's other entries (threshold, preprocessing, training ...); ``calibration`` is
        a :class:`~afdetect.models.calibration.PlattCalibration` (the identity for version 1),
        ``class_weights`` an array in :data:`CINC_CLASSES` order (:func:`class_weights_of`).

    Raises
    ------
    UsageError
        When the file is missing, damaged, not an afdetect trees file, or made for other
        features or classes than this version computes.
    """
    import lightgbm as lgb

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
    try:
        booster = lgb.Booster(model_str=payload["booster"])
    except (KeyError, lgb.basic.LightGBMError) as exc:
        raise UsageError(path, f"trees file holds no readable booster ({str(exc)[:120]})") from None
    meta = {k: v for k, v in payload.items() if k != "booster"}
    meta["calibration"] = PlattCalibration.from_dict(payload.get("calibration"), path)
    meta["class_weights"] = class_weights_of(payload, path)
    return booster, meta
