"""Weights files: a model's state plus everything ``predict`` needs, loaded safely.

A weights file is a ``torch.save`` dict of tensors and plain types only, so it loads with
``torch.load(..., weights_only=True)`` (no arbitrary unpickling):

``format``         ``"afdetect-weights"`` and ``format_version``
``model``          registry name (``ecgcnn_se`` ...) and ``model_config`` (dict)
``preprocessing``  the input it was trained on (:class:`~afdetect.config.Preprocessing`: rate,
                   window, hop, band-pass, frames, STFT, labels); prediction uses this copy
``classes``        the class names of the model's outputs: ``non-AF, AF`` or CinC's ``N, A, O, ~``
                   (:data:`~afdetect.config.MODEL_CLASSES`; AF is class :data:`~afdetect.config.AF_CLASS`
                   in both, so ``p_af`` is that softmax column); files without it, from before
                   four-class training, are ``non-AF, AF``
``threshold``      AF threshold on ``p_af`` chosen on validation data
``feature_names``  hybrid models only: the rhythm features they take, in order
                   (:data:`afdetect.signal.features.FEATURE_NAMES` of the version that trained them;
                   their standardisation lies in ``state_dict``)
``training``       data summary, split record names, metrics, recipe
``state_dict``     the parameters

Shipped weights (package data ``afdetect/weights``, copied at build time from the top-level
``weights/``) are listed in their ``SHA256SUMS``; loading a file that the manifest
lists with another digest fails.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from afdetect.config import AF_CLASS, DEFAULT_PREPROCESSING, LABEL_NAMES, MODEL_CLASSES, Preprocessing
from afdetect.errors import ParameterError, UsageError
from afdetect.io.atomic import atomic_path
from afdetect.models.calibration import IDENTITY, PlattCalibration
from afdetect.models.files import WEIGHTS_DIR, verify_manifest
from afdetect.models.registry import VARIANTS, build_model, config_from_dict, model_config

FORMAT = "afdetect-weights"


FORMAT_VERSION = 1


ZIP_MAGIC = b"PK\x03\x04"
"""First bytes of a ``torch.save`` file (a zip archive)."""


def default_weights(variant: str = "se") -> Path:
    """Path of the shipped weights of a variant (``se``, ``l`` ...)."""
    return WEIGHTS_DIR / f"{_registry_name(variant)}.pt"


def _registry_name(variant: str) -> str:
    try:
        model_config(variant)  # validates the name
    except ValueError as exc:
        raise ParameterError(f"{{variant}}: {exc}") from None
    return VARIANTS.get(variant, variant)


def save_weights(
    path: str | Path,
    model: nn.Module,
    name: str,
    threshold: float,
    training: dict[str, Any],
    *,
    preprocessing: Preprocessing = DEFAULT_PREPROCESSING,
    feature_names: Sequence[str] | None = None,
    calibration: PlattCalibration = IDENTITY,
) -> None:
    """Write a weights file atomically (see module docstring for the layout).

    ``preprocessing`` is the input the model was trained on (the windows file's);
    ``feature_names`` the rhythm features a hybrid model takes (required for one);
    ``calibration`` the map from the softmax's P(AF) to ``p_af`` (``threshold`` is on its scale).

    The class names stored are those of the model's number of outputs (:data:`~afdetect.config.MODEL_CLASSES`).

    Raises
    ------
    ValueError
        When a hybrid model comes without as many ``feature_names`` as it takes, or the model has
        a number of outputs afdetect trains no class list for.
    """
    n_features = model.config.rhythm_features
    if n_features and (feature_names is None or len(feature_names) != n_features):
        raise ValueError(f"a hybrid model needs its {n_features} feature names, got {feature_names!r}")
    if model.config.n_classes not in MODEL_CLASSES:
        raise ValueError(
            f"no class list for a model of {model.config.n_classes} outputs (known: {sorted(MODEL_CLASSES)})"
        )
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": _registry_name(name),
        "model_config": model.config.to_dict(),
        "preprocessing": preprocessing.to_dict(),
        "classes": list(MODEL_CLASSES[model.config.n_classes]),
        "threshold": float(threshold),
        "calibration": calibration.to_dict(),
        **({"feature_names": list(feature_names or [])} if n_features else {}),
        "training": training,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def update_weights(source: str | Path, destination: str | Path, entries: dict[str, Any]) -> None:
    """Write ``source``'s weights file to ``destination`` (atomically; it may be ``source``) with the
    top-level ``entries`` replaced, every other entry and the parameters as stored.

    Load ``source`` with :func:`load_weights` first: this reads it unchecked. A file without a class
    list (one from before four-class training) stays without one.

    Example
    -------
    >>> update_weights("best.pt", "best.pt", {"threshold": 0.6})  # doctest: +SKIP
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        payload = torch.load(source, map_location="cpu", weights_only=True)
    payload.update(entries)
    with atomic_path(destination) as tmp:
        torch.save(payload, tmp)


def _check_archive(path: Path) -> None:
    """Check that ``path`` is a complete ``torch.save`` zip archive whose members pass their CRC.

    ``torch.load`` itself reads a file with flipped bytes in a tensor without complaint.
    """
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic != ZIP_MAGIC:
        what = "empty file" if not magic else "not a zip archive"
        raise UsageError(path, f"not an afdetect weights file ({what}; torch.save writes zip archives)")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError):
        raise UsageError(path, "weights file is truncated or damaged (incomplete zip archive)") from None
    if damaged is not None:
        raise UsageError(path, f"weights file is damaged (member {damaged!r} fails its CRC check)")


def _front_end_differences(preprocessing: Preprocessing) -> list[str]:
    """Frame and STFT sizes that differ from the ones this version's model computes."""
    front_end = ("frame_length", "frame_step", "n_fft", "stft_hop")
    return [d for d in preprocessing.differences(DEFAULT_PREPROCESSING) if d.split()[0] in front_end]


def _check_feature_names(path: Path, payload: dict[str, Any]) -> None:
    """Refuse hybrid weights whose rhythm features are not this version's (names and order)."""
    if not payload.get("model_config", {}).get("rhythm_features"):
        return
    from afdetect.signal.features import FEATURE_NAMES  # SciPy: only for a hybrid model

    if payload.get("feature_names") != list(FEATURE_NAMES):
        raise UsageError(
            path,
            "made for other rhythm features than this afdetect version's "
            f"({len(payload.get('feature_names') or [])} features there, {len(FEATURE_NAMES)} here); retrain it",
        )


def _check_classes(path: Path, payload: dict[str, Any]) -> None:
    """Refuse a class list that is not one afdetect trains, has no AF at :data:`~afdetect.config.AF_CLASS`,
    or does not match the model's outputs; a file without one (before four-class training) is ``non-AF, AF``."""
    classes = payload.setdefault("classes", list(LABEL_NAMES))
    if not isinstance(classes, list) or len(classes) <= AF_CLASS or classes[AF_CLASS] not in ("AF", "A"):
        raise UsageError(path, f"class list {classes!r} has no AF class at index {AF_CLASS} (p_af is that output)")
    known = [list(names) for names in MODEL_CLASSES.values()]
    if classes not in known:
        raise UsageError(path, f"class list {classes!r} is not one afdetect trains ({' or '.join(map(str, known))})")
    outputs = payload.get("model_config", {}).get("n_classes", len(LABEL_NAMES))
    if outputs != len(classes):
        raise UsageError(path, f"class list of {len(classes)} names for a model of {outputs} outputs")


def load_weights(path: str | Path, variant: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load a weights file into an eval-mode model.

    Parameters
    ----------
    path : str or Path
        Weights file.
    variant : str, optional
        Expected variant (``se``/``l`` or registry name); a file of another variant is
        refused.

    Returns
    -------
    model : torch.nn.Module
        The model (an ECGCNN or a SignalResNet) in eval mode, on the CPU.
    meta : dict
        The file's other entries (threshold, preprocessing, training ...).

    Raises
    ------
    UsageError
        When the file is missing, corrupt, not afdetect weights, of another variant, made for
        other preprocessing constants, or holds a class list without AF at index
        :data:`~afdetect.config.AF_CLASS` (``meta["classes"]`` is the file's list, ``non-AF, AF``
        for files from before four-class training).
    """
    path = Path(path)
    if not path.is_file():
        raise UsageError(path, "weights file not found")
    if variant is not None:
        _registry_name(variant)  # a bad --variant is reported as such, whatever the file
    verify_manifest(path)
    _check_archive(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UsageError(path, "not an afdetect weights file (holds Python objects other than tensors)") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(path, f"not a readable weights file ({first[:120]})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UsageError(path, "not an afdetect weights file (no 'afdetect-weights' format tag)")
    if payload.get("format_version") != FORMAT_VERSION:
        raise UsageError(path, f"weights format version {payload.get('format_version')} unsupported")
    if variant is not None and payload["model"] != _registry_name(variant):
        raise UsageError(path, f"holds model {payload['model']!r}, not the requested {_registry_name(variant)!r}")
    if payload.get("preprocessing", {}).get("label_names") != list(LABEL_NAMES):
        raise UsageError(path, "made for other class labels than this afdetect version's")
    front_end = _front_end_differences(Preprocessing.from_dict(payload["preprocessing"]))
    if front_end:
        raise UsageError(
            path, f"made for another model front end than this afdetect version's ({'; '.join(front_end)})"
        )
    _check_feature_names(path, payload)
    _check_classes(path, payload)
    try:
        model = build_model(config_from_dict(payload["model"], payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        first = str(exc).strip().splitlines()[0]
        raise UsageError(path, f"weights do not fit the model config ({first[:120]})") from None
    model.eval()
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    meta["calibration"] = PlattCalibration.from_dict(payload.get("calibration"), path)
    return model, meta
