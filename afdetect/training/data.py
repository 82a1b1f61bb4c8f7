"""The torch ``Dataset`` over a windows file: float32 tensors, labels and on-the-fly augmentation."""

from __future__ import annotations

import dataclasses
import mmap
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from afdetect.training.augment import augment_window
from afdetect.training.cache import WindowSet


class WindowDataset(Dataset):
    """Labelled windows of a :class:`WindowSet`, augmented when ``augment_p > 0``.

    An item is ``(x, label)``, or ``(x, features, label)`` when ``features`` (the windows'
    rhythm features, ``(len(ws), n_features)``, for a hybrid model) is given. The features are
    those of the unaugmented window (the windows file's cached copy). The label is the window's
    ``targets`` entry (``(len(ws),)`` class indices, e.g. the four CinC classes of
    :func:`~afdetect.training.targets.class_targets`); by default its binary ``ws.labels``.

    The augmentation generator of window ``i`` in epoch ``e`` is seeded by
    ``(seed, e, i)``, so results do not depend on workers, order or resumption.

    A memory-mapped ``windows`` array (as :func:`~afdetect.training.cache.load_window_set` returns)
    stays mapped: pickling the data set (DataLoader workers started by ``spawn`` or
    ``forkserver``) sends the map's file name, offset, dtype and shape instead of the
    windows (``np.memmap`` itself pickles a full copy), and each worker maps the file again
    on first access.

    Example
    -------
    >>> ds = WindowDataset(load_window_set("windows.npz"), np.arange(10))  # doctest: +SKIP
    >>> x, y = ds[0]  # doctest: +SKIP
    """

    def __init__(
        self,
        ws: WindowSet,
        indices: np.ndarray,
        augment_p: float = 0.0,
        seed: int = 0,
        features: np.ndarray | None = None,
        targets: np.ndarray | None = None,
    ) -> None:
        self.ws, self.indices, self.augment_p, self.seed = ws, indices, augment_p, seed
        self.targets = ws.labels if targets is None else targets
        self.features = None if features is None else np.asarray(features[indices], dtype=np.float32)
        self.epoch = 0
        self._map_spec: tuple[str, str, tuple[int, ...], int, str] | None = None

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        windows = self.ws.windows
        if isinstance(windows, np.memmap) and isinstance(windows.base, mmap.mmap) and windows.filename:
            order = "F" if windows.flags.f_contiguous and not windows.flags.c_contiguous else "C"
            state["_map_spec"] = (str(windows.filename), windows.dtype.str, windows.shape, windows.offset, order)
            state["ws"] = dataclasses.replace(self.ws, windows=None)
        return state

    def windows(self) -> np.ndarray:
        """The windows array, mapped again from its file after unpickling."""
        if self.ws.windows is None and self._map_spec is not None:
            filename, dtype, shape, offset, order = self._map_spec
            self.ws.windows = np.memmap(filename, dtype=dtype, mode="r", shape=shape, offset=offset, order=order)
        return self.ws.windows

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int] | tuple[torch.Tensor, torch.Tensor, int]:
        index = int(self.indices[i])
        x = np.asarray(self.windows()[index], dtype=np.float32)
        if self.augment_p > 0:
            x = augment_window(x, np.random.default_rng([self.seed, self.epoch, index]), self.augment_p)
        if self.features is not None:
            return torch.from_numpy(x), torch.from_numpy(self.features[i]), int(self.targets[index])
        return torch.from_numpy(x), int(self.targets[index])
