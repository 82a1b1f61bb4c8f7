"""``--method cnn``: AF probability of conditioned windows from an ECGCNN (torch imported here only).

:meth:`afdetect.detect.predictor.Predictor.from_weights` builds this scorer; the other methods
(rhythm trees, RR baseline) never import torch. A hybrid model (``rhythm_features > 0``) also
takes the windows' rhythm features, computed here from the same conditioned windows
(:func:`afdetect.signal.features.rhythm_features`).
"""

from __future__ import annotations

import numpy as np
import torch

from afdetect.config import INFERENCE_BATCH, MODEL_FS
from afdetect.detect.inference import predict_proba
from afdetect.models.ecgcnn import ECGCNN
from afdetect.signal.features import rhythm_features


class ModelScorer:
    """AF probability from an ECGCNN, ``batch_size`` windows per forward pass.

    A picklable :data:`~afdetect.detect.predictor.Scorer` (``--jobs`` workers receive it).

    Example
    -------
    >>> scorer = ModelScorer(create_model("se"))  # doctest: +SKIP
    >>> scorer(np.zeros((3, 3840), np.float32)).shape  # doctest: +SKIP
    (3,)
    """

    def __init__(self, model: ECGCNN, batch_size: int = INFERENCE_BATCH, fs: float = MODEL_FS) -> None:
        # Channels-last feature maps let oneDNN run the spectrogram CNN about 1.2-1.3x faster on CPU;
        # probabilities agree with the default layout to float32 rounding (~1e-8).
        self.model, self.batch_size = model.to(memory_format=torch.channels_last), batch_size
        self.fs = fs
        """Rate (Hz) of the windows, for a hybrid model's rhythm features."""

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """AF probabilities ``(n,)`` of conditioned windows ``(n, samples at fs)``."""
        features = None
        if self.model.config.rhythm_features and len(x):
            features = rhythm_features(np.asarray(x, dtype=np.float32), self.fs)
        return predict_proba(self.model, x, self.batch_size, features)
