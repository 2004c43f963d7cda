"""The process group a training run belongs to (``torchrun`` / DDP), and what each rank does.

One process per device. ``torchrun`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` (and the
rendezvous variables); :func:`init_world` reads them and joins the process group with ``gloo``
on CPU or ``nccl`` on CUDA. Without those variables the run is a single process and nothing here
communicates, so the default path costs nothing and needs no GPU.

The data-parallel contract the trainer follows (so that N processes give the same weights as one
process with the same global batch, up to float reduction order):

- every rank draws the *same* global batch of states from identically seeded generators, then
  keeps its contiguous slice (:meth:`World.shard`); the global batch must divide by the world size;
- the model is wrapped in DDP (:meth:`World.wrap`), which averages gradients over ranks: the mean
  over ranks of per-shard mean losses equals the global-batch mean loss, since shards are equal;
- work that draws random numbers outside the batch (DAgger rollouts) runs on rank 0 alone and its
  result and the generator's new state are broadcast (:meth:`World.main_only`), so the ranks'
  generators never diverge;
- files (checkpoints, logs, resolved config) are written by rank 0 only (:attr:`World.is_main`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from navfusion.device import resolve_device
from navfusion.errors import ConfigError

T = TypeVar("T")

#: torchrun's environment variables that make a process part of a group.
ENV_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class World:
    """This process's place in the training group.

    Attributes:
        rank: global rank (0 = main: writes files, logs, validates).
        size: number of processes.
        local_rank: rank on this machine (selects the GPU).
        device: where this rank's model and batches live.
        backend: ``"gloo"`` / ``"nccl"`` when a process group is up, else ``None``.
    """

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    # -- the global batch

    def check_batch(self, batch_size: int) -> None:
        """The global batch must split into equal shards (else DDP's mean of means is not the mean)."""
        if batch_size % self.size:
            raise ConfigError(f"batch_size: got {batch_size}, expected a multiple of the world size {self.size} "
                              "(every rank trains on an equal slice of the global batch)")

    def shard(self, batch: np.ndarray | torch.Tensor) -> Any:
        """This rank's contiguous slice ``[r*B/W, (r+1)*B/W)`` of a global batch (first axis)."""
        if self.size == 1:
            return batch
        self.check_batch(len(batch))
        n = len(batch) // self.size
        return batch[self.rank * n:(self.rank + 1) * n]

    # -- the model

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """``module`` on this rank's device, in DDP when distributed (gradients averaged over ranks).

        ``find_unused_parameters=True``: agents may hold parameters a step does not use (a gate some
        kinds ignore). (``static_graph=True`` would be cheaper but silently skipped the gradient
        averaging of ExpertBank's ``functional_call`` parameters in the first step -- the DDP test
        catches that.) Call the agent's own methods (``loss``, rollouts) on the unwrapped module.
        """
        module.to(self.device)
        if not self.distributed or not any(p.requires_grad for p in module.parameters()):
            return module
        from torch.nn.parallel import DistributedDataParallel as DDP

        if self.device.type == "cuda":
            # BatchNorm over the global batch, as one process would compute it (the parameters stay
            # the same objects, so an optimiser built before still holds them). CPU/gloo has no
            # SyncBatchNorm: there each rank normalises its own slice.
            module = torch.nn.SyncBatchNorm.convert_sync_batchnorm(module)
        ids = [self.device.index] if self.device.type == "cuda" else None
        return DDP(module, device_ids=ids, find_unused_parameters=True)

    # -- collectives (no-ops in a single process)

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def broadcast(self, obj: T) -> T:
        """Rank 0's ``obj`` on every rank (any picklable object)."""
        if not self.distributed:
            return obj
        box = [obj if self.is_main else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def main_only(self, fn: Callable[[], T], rng: np.random.Generator | None = None) -> T:
        """Run ``fn`` on rank 0 only; every rank gets its result and ``rng`` ends in rank 0's state."""
        if not self.distributed:
            return fn()
        result = fn() if self.is_main else None
        state = json.dumps(rng.bit_generator.state) if (rng is not None and self.is_main) else None
        result, state = self.broadcast((result, state))
        if rng is not None:
            rng.bit_generator.state = json.loads(state)
        return result

    def mean(self, value: float) -> float:
        """Mean of a scalar over ranks (e.g. the global-batch loss for logging)."""
        if not self.distributed:
            return float(value)
        t = torch.tensor([float(value)], dtype=torch.float64,
                         device=self.device if self.backend == "nccl" else "cpu")
        torch.distributed.all_reduce(t)
        return float(t.item()) / self.size


def env_world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_world(device: str | torch.device | None = "cpu", backend: str | None = None,
               timeout_s: float = 1800.0) -> World:
    """This process's :class:`World`: joins torchrun's process group when ``WORLD_SIZE > 1``.

    Args:
        device: ``cpu`` / ``cuda`` / ``auto``; with ``cuda`` each rank takes ``cuda:<LOCAL_RANK>``.
        backend: process-group backend (default ``nccl`` on CUDA, ``gloo`` otherwise).
        timeout_s: collective timeout (rank 0 validating while the others wait counts here).
    """
    size = env_world_size()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if size <= 1:
        return World(0, 1, 0, dev, None)
    import datetime

    dist = torch.distributed
    if not dist.is_initialized():
        be = backend or ("nccl" if dev.type == "cuda" else "gloo")
        dist.init_process_group(be, timeout=datetime.timedelta(seconds=timeout_s))
    return World(dist.get_rank(), dist.get_world_size(), local, dev, dist.get_backend())


def close_world(world: World) -> None:
    """Leave the process group (end of a distributed run)."""
    if world.distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
