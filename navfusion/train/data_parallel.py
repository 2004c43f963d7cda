"""What differs between the ranks of a data-parallel training call (see ``navfusion.parallel.world``).

Every rank draws the same global batch and trains on its slice (``World.shard``; DDP averages
the gradients); rank 0 alone builds missing cache files, writes files, logs and validates.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import torch

from navfusion.parallel.world import World, close_world, init_world

T = TypeVar("T")


@contextmanager
def joined_world(world: World | None, device: str) -> Iterator[World]:
    """``world`` when given; else this process's group, joined from torchrun's environment (a single
    process without one) and left again on exit. A group someone else initialised stays open."""
    owns_group = world is None and not (torch.distributed.is_available() and torch.distributed.is_initialized())
    world = world if world is not None else init_world(device)
    try:
        yield world
    finally:
        if owns_group:
            close_world(world)


def rank0_first(world: World, load: Callable[[], T]) -> T:
    """Run ``load`` on rank 0 first, then on the other ranks: rank 0 builds missing views/features
    (one writer per scene folder), the others read what it wrote."""
    if not world.is_main:
        world.barrier()
    out = load()
    if world.is_main:
        world.barrier()
    return out
