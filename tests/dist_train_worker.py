"""One process of the ``torchrun`` launch in ``tests/test_distributed.py``: trains a tiny ECGCNN.

Usage::

    torchrun --standalone --nproc_per_node 2 tests/dist_train_worker.py DATA OUT_DIR EPOCHS [EPOCHS ...]

Trains with :func:`afdetect.training.loop.train` (process group joined from the ``torchrun``
environment) for the first ``EPOCHS``, then resumes from ``last.pt`` up to each further
``EPOCHS`` (a new process group each time, as a new launch would). After every epoch each
process writes ``OUT_DIR/rank{R}.pt`` (its model state) and ``OUT_DIR/rank{R}.json``
(results of the distributed helpers, computed while the process group is alive) for the
test to compare.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from torch import nn

from afdetect.training import distributed
from afdetect.training.loop import train
from afdetect.training.options import TrainConfig

TINY_MODEL: dict[str, object] = {"channels": (4, 8), "lstm_hidden": 8, "lstm_layers": 1}
"""Config overrides of the tiny ECGCNN trained here (as ``TINY_MODEL`` in conftest.py)."""


def main(argv: list[str]) -> None:
    """Train as asked on the command line (see module docstring)."""
    data, out_dir, epoch_targets = Path(argv[0]), Path(argv[1]), [int(a) for a in argv[2:]]
    torch.set_num_threads(1)

    def on_epoch_end(epoch: int, model: nn.Module) -> None:
        rank = distributed.get_rank()
        torch.save(model.state_dict(), out_dir / f"rank{rank}.pt")
        rows = distributed.all_gather_rows(torch.full((rank + 1, 2), float(rank)))
        checks = {
            "epoch": epoch,
            "world_size": torch.distributed.get_world_size(),
            "mean_rank": distributed.all_reduce_mean(float(rank)),
            "gathered_rows": rows[:, 0].tolist(),
        }
        (out_dir / f"rank{rank}.json").write_text(json.dumps(checks))

    for run, epochs in enumerate(epoch_targets):
        config = TrainConfig(
            data=data,
            out_dir=out_dir,
            epochs=epochs,
            batch_size=4,
            device="cpu",
            resume=run > 0,
            model_overrides=TINY_MODEL,
        )
        train(config, on_epoch_end=on_epoch_end)


if __name__ == "__main__":
    main(sys.argv[1:])
