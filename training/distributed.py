"""The process group of a torchrun launch, or a world of one: what training code asks of it is the same.

Under ``torchrun --nproc-per-node N [--nnodes M ...]`` the environment names the rank and world size;
gloo runs on CPUs, nccl when every rank has a GPU. Without torchrun nothing is initialised and every
collective below is a no-op, so single-process runs are unchanged.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

log = logging.getLogger("distributed")


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def barrier(self) -> None:
        if self.distributed:
            dist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every rank if ``flag`` is true on at least one (one small all-reduce)."""
        if not self.distributed:
            return flag
        t = torch.tensor([int(flag)])
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def min(self, value: int) -> int:
        if not self.distributed:
            return value
        t = torch.tensor([value])
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return int(t.item())

    def close(self) -> None:
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()


def init_world() -> World:
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return World()
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    dist.init_process_group(backend=backend)
    world = World(dist.get_rank(), dist.get_world_size(), backend)
    log.info("rank %d of %d (%s)", world.rank, world.size, backend)
    return world
