"""Data-parallel training across processes and machines (``torchrun``), and its small helpers.

``afdetect train`` runs unchanged under ``torchrun``: each process finds its place from the
environment ``torchrun`` sets (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``), joins one process group (backend ``nccl`` on CUDA, ``gloo`` on the CPU)
and trains one replica of the model with
:class:`torch.nn.parallel.DistributedDataParallel`.

Without ``torchrun`` (or with ``WORLD_SIZE=1``) nothing is initialised and every helper
here is the identity (:func:`all_reduce_sum` returns its input, :func:`barrier` does
nothing ...), so callers need no branches.

Example
-------
>>> ctx = init_distributed(torch.device("cpu"))  # a no-op outside torchrun
>>> ctx.enabled, ctx.rank, ctx.world_size
(False, 0, 1)
>>> all_reduce_mean(2.5)
2.5
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from afdetect.errors import ParameterError, UsageError

LAUNCH_VARIABLES: tuple[str, ...] = ("RANK", "WORLD_SIZE", "LOCAL_RANK")
"""Environment variables ``torchrun`` sets in every process it starts (ints)."""


_GROUPS_MADE: list[int] = [0]
"""Process groups :func:`init_distributed` has made in this process (store key prefix)."""


@dataclass(frozen=True)
class LaunchEnv:
    """Where this process stands in a ``torchrun`` launch.

    Attributes
    ----------
    rank : int
        Global process index, ``0 .. world_size - 1``; rank 0 writes all outputs.
    world_size : int
        Number of processes over all machines.
    local_rank : int
        Process index on this machine (selects the GPU ``cuda:LOCAL_RANK``).
    """

    rank: int
    world_size: int
    local_rank: int


@dataclass(frozen=True)
class DistContext:
    """The process group this process trains in (a single process: ``world_size == 1``).

    Attributes
    ----------
    rank, world_size, local_rank : int
        As in :class:`LaunchEnv`.
    device : torch.device
        Device of this process's model replica.
    backend : str or None
        ``nccl`` or ``gloo``; ``None`` when not distributed.
    owns_group : bool
        True when :func:`init_distributed` created the process group (and
        :func:`shutdown` destroys it); False when the caller had made it already.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None
    owns_group: bool = False

    @property
    def enabled(self) -> bool:
        """True when training runs in more than one process."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """True in the process that writes files and prints progress (rank 0)."""
        return self.rank == 0


def launch_env(environ: dict[str, str] | None = None) -> LaunchEnv | None:
    """Read the ``torchrun`` variables; ``None`` outside ``torchrun`` or when ``WORLD_SIZE`` is 1.

    Raises
    ------
    UsageError
        When the variables are present but not consistent integers.

    Example
    -------
    >>> launch_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    LaunchEnv(rank=1, world_size=2, local_rank=1)
    >>> launch_env({}) is None
    True
    """
    environ = os.environ if environ is None else environ
    if "WORLD_SIZE" not in environ:
        return None
    try:
        values = {name: int(environ.get(name, "0")) for name in LAUNCH_VARIABLES}
    except ValueError:
        shown = ", ".join(f"{name}={environ.get(name)!r}" for name in LAUNCH_VARIABLES)
        raise UsageError(None, f"torchrun environment is not integers: {shown}") from None
    env = LaunchEnv(values["RANK"], values["WORLD_SIZE"], values["LOCAL_RANK"])
    if env.world_size < 1 or not 0 <= env.rank < env.world_size or env.local_rank < 0:
        raise UsageError(
            None,
            f"inconsistent torchrun environment: RANK={env.rank} WORLD_SIZE={env.world_size} "
            f"LOCAL_RANK={env.local_rank}",
        )
    return env if env.world_size > 1 else None


def rank_device(device: torch.device, local_rank: int) -> torch.device:
    """The device of one process: CUDA becomes ``cuda:LOCAL_RANK``, the CPU stays the CPU.

    Raises
    ------
    UsageError
        When ``--device cuda:N`` names another GPU than ``LOCAL_RANK`` (pick GPUs with
        ``CUDA_VISIBLE_DEVICES`` instead), or when this machine has fewer GPUs than
        processes.

    Example
    -------
    >>> rank_device(torch.device("cpu"), 3)
    device(type='cpu')
    """
    if device.type != "cuda":
        return device
    if device.index is not None and device.index != local_rank:
        raise ParameterError(
            f"{{device}} {device} under torchrun: each process uses cuda:LOCAL_RANK (here cuda:{local_rank}); "
            "pass {device} cuda (or auto) and choose GPUs with CUDA_VISIBLE_DEVICES",
        )
    if local_rank >= torch.cuda.device_count():
        raise UsageError(
            None,
            f"LOCAL_RANK {local_rank} but only {torch.cuda.device_count()} CUDA devices: "
            "start at most one process per GPU (--nproc_per_node)",
        )
    return torch.device("cuda", local_rank)


def init_distributed(device: torch.device) -> DistContext:
    """Join the ``torchrun`` process group when launched by it; otherwise do nothing.

    Parameters
    ----------
    device : torch.device
        The resolved ``--device`` (``cpu``, ``cuda`` ...); under ``torchrun`` CUDA becomes
        ``cuda:LOCAL_RANK`` (see :func:`rank_device`).

    Returns
    -------
    DistContext
        ``world_size == 1`` and ``device`` unchanged outside ``torchrun``. A process group
        that already exists (made by the caller) is used as it is and left alive.
    """
    if dist.is_available() and dist.is_initialized():
        env = launch_env()
        local_rank = env.local_rank if env else 0
        device = rank_device(device, local_rank)
        return DistContext(
            dist.get_rank(), dist.get_world_size(), local_rank, device, dist.get_backend(), owns_group=False
        )
    env = launch_env()
    if env is None:
        return DistContext(device=device)
    if not dist.is_available():
        raise UsageError(None, "launched by torchrun but this torch build has no torch.distributed")
    device = rank_device(device, env.local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    # Each group of this process gets its own key prefix in the rendezvous store: a second
    # group (train() called again in the same launch) must not meet the first one's keys.
    store, rank, world_size = next(dist.rendezvous("env://"))
    store = dist.PrefixStore(f"afdetect/{_GROUPS_MADE[0]}", store)
    _GROUPS_MADE[0] += 1
    dist.init_process_group(backend=backend, store=store, rank=rank, world_size=world_size)
    return DistContext(env.rank, env.world_size, env.local_rank, device, backend, owns_group=True)


def shutdown(ctx: DistContext, wait: bool = True) -> None:
    """Leave the process group made by :func:`init_distributed` (a no-op otherwise).

    ``wait`` waits at a barrier first so no process leaves while rank 0 still writes;
    pass ``False`` after an error (the other processes may never reach it).
    """
    if not (ctx.owns_group and dist.is_initialized()):
        return
    if wait:
        dist.barrier()
    dist.destroy_process_group()


def is_active() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def get_rank() -> int:
    """Global rank: from the process group, else ``RANK`` (so it works before init), else 0."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank()
    env = launch_env()
    return env.rank if env else 0


def is_main() -> bool:
    """True in the process that writes outputs and prints (rank 0, or the only process)."""
    return get_rank() == 0


def barrier() -> None:
    """Wait until every process gets here (a no-op in a single process)."""
    if is_active():
        dist.barrier()


def _comm_device() -> torch.device:
    """Device the collectives need: the current GPU for ``nccl``, else the CPU."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: Sequence[float]) -> list[float]:
    """Element-wise sum of ``values`` over all processes (float64).

    Example
    -------
    >>> all_reduce_sum([1.0, 2.0])  # one process
    [1.0, 2.0]
    """
    if not is_active():
        return [float(v) for v in values]
    tensor = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().tolist()


def all_reduce_mean(value: float) -> float:
    """Mean of one number over all processes (unweighted; weight with :func:`all_reduce_sum`)."""
    if not is_active():
        return float(value)
    return all_reduce_sum([value])[0] / dist.get_world_size()


def all_gather_rows(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate every process's rows in rank order; the row counts may differ.

    Parameters
    ----------
    tensor : torch.Tensor
        ``(n_rank, ...)``; trailing dimensions and dtype equal on all processes.

    Returns
    -------
    torch.Tensor
        ``(sum of n_rank, ...)`` on ``tensor``'s device; ``tensor`` itself in one process.
    """
    if not is_active():
        return tensor
    device = _comm_device()
    world = dist.get_world_size()
    count = torch.tensor([tensor.shape[0]], dtype=torch.int64, device=device)
    counts = [torch.zeros_like(count) for _ in range(world)]
    dist.all_gather(counts, count)
    sizes = [int(c.item()) for c in counts]
    longest = max(sizes)
    if longest == 0:
        return tensor
    padded = torch.zeros((longest, *tensor.shape[1:]), dtype=tensor.dtype, device=device)
    padded[: tensor.shape[0]] = tensor.to(device)
    gathered = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(gathered, padded)
    return torch.cat([part[:size] for part, size in zip(gathered, sizes, strict=True)]).to(tensor.device)


def all_gather_tensors(tensor: torch.Tensor) -> list[torch.Tensor]:
    """Every process's ``tensor`` (same shape everywhere), in rank order, on ``tensor``'s device."""
    if not is_active():
        return [tensor]
    device = _comm_device()
    local = tensor.to(device)
    gathered = [torch.empty_like(local) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, local)
    return [part.to(tensor.device) for part in gathered]


def broadcast_buffers(module: nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (batch-norm running statistics) to every process.

    DistributedDataParallel keeps parameters equal on all processes, but each process
    updates its running statistics with its own last batch; after this call every
    replica is exactly the model rank 0 saves.
    """
    if not is_active():
        return
    for buffer in module.buffers():
        dist.broadcast(buffer.data, src=src)


def shard(n: int, rank: int, world_size: int) -> np.ndarray:
    """Contiguous share of ``range(n)`` for one process; the shares in rank order are ``range(n)``.

    Example
    -------
    >>> [shard(5, r, 2).tolist() for r in range(2)]
    [[0, 1, 2], [3, 4]]
    """
    return np.array_split(np.arange(n), world_size)[rank]


def rank_seed(seed: int, rank: int, epoch: int = 0) -> int:
    """Torch seed of one process's own random stream (dropout) from the run seed, rank and epoch.

    Example
    -------
    >>> rank_seed(0, 1) == rank_seed(0, 1) != rank_seed(0, 2)
    True
    """
    return int(np.random.SeedSequence([seed, rank, epoch]).generate_state(1)[0])
