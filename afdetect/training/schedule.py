"""The learning-rate schedule of ECGCNN training (:mod:`afdetect.training.loop`): one cycle."""

from __future__ import annotations

import torch

ONE_CYCLE_WARMUP = 0.1
"""Fraction of the optimiser steps the one-cycle schedule spends raising the learning rate."""


def one_cycle(optimizer: torch.optim.Optimizer, max_lr: float, total_steps: int) -> torch.optim.lr_scheduler.OneCycleLR:
    """The one-cycle schedule over ``total_steps`` optimiser steps, warming up for 10 % of them.

    A run of under 15 steps (few epochs on little data) warms up for 1.5 steps instead, and a
    single-step run is scheduled as two, so that both phases keep a positive length: PyTorch
    divides by them (``--epochs 2`` of 5 steps each once died with ``ZeroDivisionError``).

    Example
    -------
    >>> net = torch.nn.Linear(2, 1)
    >>> [one_cycle(torch.optim.SGD(net.parameters(), lr=0.1), 0.1, n).total_steps for n in (1, 10, 100)]
    [2, 10, 100]
    """
    total = max(total_steps, 2)
    warmup = max(ONE_CYCLE_WARMUP, 1.5 / total)
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total, pct_start=warmup)
