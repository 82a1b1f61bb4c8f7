"""Inference on conditioned windows: class logits and AF probabilities, batched, no gradients.

Kept apart from :mod:`afdetect.train` so that prediction imports none of the training stack
(distributed engine, augmentation, plotting).
"""

from __future__ import annotations

import numpy as np
import torch

from afdetect.models import ECGCNN


@torch.inference_mode()
def predict_logits(model: ECGCNN, x: np.ndarray, batch_size: int = 256) -> torch.Tensor:
    """Class logits ``(n, n_classes)`` (on the CPU) for conditioned windows ``(n, samples)``."""
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    out = [model(x[i : i + batch_size].to(device)).float().cpu() for i in range(0, len(x), batch_size)]
    return torch.cat(out) if out else torch.zeros(0, model.config.n_classes)


def predict_proba(model: ECGCNN, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """AF probability for conditioned windows ``(n, samples)``."""
    return torch.softmax(predict_logits(model, x, batch_size), dim=1)[:, 1].numpy()
