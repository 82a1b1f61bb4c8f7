"""``--method cnn``: AF probability of conditioned windows from an ECGCNN (torch imported here only).

:meth:`afdetect.detect.predictor.Predictor.from_weights` builds this scorer; the other methods
(rhythm trees, RR baseline) never import torch. A hybrid model (``rhythm_features > 0``) also
takes the windows' rhythm features, computed here from the same conditioned windows
(:func:`afdetect.signal.features.rhythm_features`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from afdetect.config import AF_CLASS, INFERENCE_BATCH, MODEL_CLASSES, MODEL_FS
from afdetect.detect.inference import predict_class_proba, predict_proba
from afdetect.models.calibration import IDENTITY, PlattCalibration
from afdetect.signal.features import rhythm_features


class ModelScorer:
    """AF probability from an ECGCNN, ``batch_size`` windows per forward pass.

    A picklable :data:`~afdetect.detect.predictor.Scorer` (``--jobs`` workers receive it). A
    two-class model gives P(AF), a four-class one (``train --classes 4``) P(``A``), both the
    softmax column :data:`~afdetect.config.AF_CLASS`, through the weights' calibration;
    :meth:`class_probabilities` gives every column (not calibrated).

    Example
    -------
    >>> scorer = ModelScorer(create_model("se"))  # doctest: +SKIP
    >>> scorer(np.zeros((3, 3840), np.float32)).shape  # doctest: +SKIP
    (3,)
    """

    def __init__(
        self,
        model: nn.Module,
        batch_size: int = INFERENCE_BATCH,
        fs: float = MODEL_FS,
        calibration: PlattCalibration = IDENTITY,
    ) -> None:
        # Channels-last feature maps let oneDNN run the spectrogram CNN about 1.2-1.3x faster on CPU;
        # probabilities agree with the default layout to float32 rounding (~1e-8).
        self.model, self.batch_size = model.to(memory_format=torch.channels_last), batch_size
        self.fs = fs
        """Rate (Hz) of the windows, for a hybrid model's rhythm features."""
        self.calibration = calibration
        """The weights' map from the softmax's P(AF) to ``p_af``."""

    @property
    def classes(self) -> tuple[str, ...]:
        """The classes of :meth:`class_probabilities`' columns: ``non-AF, AF`` or the four CinC classes
        (empty for a class count afdetect does not train)."""
        return MODEL_CLASSES.get(self.model.config.n_classes, ())

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Calibrated AF probabilities ``(n,)`` of conditioned windows ``(n, samples at fs)``."""
        return self.calibration.apply(predict_proba(self.model, x, self.batch_size, self._features(x)))

    def class_probabilities(self, x: np.ndarray) -> np.ndarray:
        """Probabilities ``(n, len(classes))`` of the model's classes for conditioned windows ``(n, samples at fs)``."""
        return predict_class_proba(self.model, x, self.batch_size, self._features(x))

    def af_probability(self, class_p: np.ndarray) -> np.ndarray:
        """``p_af`` ``(n,)`` from :meth:`class_probabilities`: column :data:`~afdetect.config.AF_CLASS`, calibrated."""
        return self.calibration.apply(class_p[:, AF_CLASS])

    def _features(self, x: np.ndarray) -> np.ndarray | None:
        """The windows' rhythm features, for a hybrid model (``None`` for the others)."""
        if self.model.config.rhythm_features and len(x):
            return rhythm_features(np.asarray(x, dtype=np.float32), self.fs)
        return None
