"""Inference on conditioned windows: class logits and AF probabilities, batched, no gradients.

Kept apart from :mod:`afdetect.training.loop` so that prediction imports none of the training stack
(distributed engine, augmentation, plotting).

On CPU, batches can be scored several at a time on Python threads, each running torch on
one intra-op thread (:func:`set_inference_threads`). This model's operations are small (a
few channels over a 17 × 241 spectrogram), so splitting one batch across cores leaves them
idle much of the time; scoring different batches on different cores does not. On 2 cores,
a 10 h record is scored about 25 % faster that way than with torch's 2 intra-op threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import nn

from afdetect.config import AF_CLASS
from afdetect.errors import check_range

DEFAULT_THREADS: int = torch.get_num_threads()
"""torch's own intra-op thread count when afdetect was imported: one per physical core, or
``OMP_NUM_THREADS``."""


_scoring_threads = 1
"""Batches scored at once on the CPU (set by :func:`set_inference_threads`)."""


def inference_threads() -> int:
    """Batches :func:`predict_logits` scores at once on the CPU (1 unless :func:`set_inference_threads` was called)."""
    return _scoring_threads


def set_inference_threads(threads: int | None = None) -> int:
    """Score windows on ``threads`` CPU threads (``None``: ``DEFAULT_THREADS``, one per core).

    Process-wide, like ``torch.set_num_threads``: torch is set to one intra-op thread and
    :func:`predict_logits` scores ``threads`` batches at a time on CPU. Returns the number used.

    Raises
    ------
    UsageError
        For fewer than one thread.

    Example
    -------
    >>> set_inference_threads(1)
    1
    """
    global _scoring_threads
    if threads is not None:
        check_range("threads", threads, 1)
    count = threads or DEFAULT_THREADS
    torch.set_num_threads(1)
    _scoring_threads = count
    return count


def predict_logits(
    model: nn.Module, x: np.ndarray, batch_size: int = 256, features: np.ndarray | None = None
) -> torch.Tensor:
    """Class logits ``(n, n_classes)`` (on the CPU) for conditioned windows ``(n, samples)``.

    Batches of ``batch_size`` windows; on CPU, :func:`set_inference_threads` of them at a time.
    The result does not depend on either (batch norm uses its running statistics).
    ``features`` ``(n, n_features)``: the windows' rhythm features, for a hybrid model.
    """
    model.eval()
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(x, dtype=np.float32))
    f = None if features is None else torch.as_tensor(np.asarray(features, dtype=np.float32))
    starts = range(0, len(x), batch_size)

    def score(start: int) -> torch.Tensor:
        part = slice(start, start + batch_size)
        with torch.inference_mode():  # per thread: autograd modes are thread-local
            fb = None if f is None else f[part].to(device)
            return model(x[part].to(device), fb).float().cpu()

    if len(starts) == 0:
        return torch.zeros(0, model.config.n_classes)
    threads = min(_scoring_threads, len(starts)) if device.type == "cpu" else 1
    if threads == 1:
        return torch.cat([score(start) for start in starts])
    with ThreadPoolExecutor(threads, thread_name_prefix="afdetect-score") as pool:
        return torch.cat(list(pool.map(score, starts)))


def predict_class_proba(
    model: nn.Module, x: np.ndarray, batch_size: int = 256, features: np.ndarray | None = None
) -> np.ndarray:
    """Class probabilities ``(n, n_classes)`` (softmax) for conditioned windows ``(n, samples)``
    (and their rhythm ``features``, for a hybrid)."""
    return torch.softmax(predict_logits(model, x, batch_size, features), dim=1).numpy()


def predict_proba(
    model: nn.Module, x: np.ndarray, batch_size: int = 256, features: np.ndarray | None = None
) -> np.ndarray:
    """AF probability ``(n,)`` for conditioned windows ``(n, samples)`` (and their rhythm ``features``, for a
    hybrid): the softmax column :data:`~afdetect.config.AF_CLASS`, AF in both class lists a model may have."""
    return predict_class_proba(model, x, batch_size, features)[:, AF_CLASS]
