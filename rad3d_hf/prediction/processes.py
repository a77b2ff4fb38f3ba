"""This process's place in a multi-process run (``accelerate launch``, ``torchrun``) and the one barrier it needs.

Both launchers set ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``; a plain ``python``
run sets none of them and is process 0 of 1. (``accelerate launch`` on a machine without GPUs starts one process
unless given ``--multi_gpu``; the processes then run on CPU all the same.)
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Mapping
from dataclasses import dataclass

# A process that finishes its share waits here for the slowest one, which may take hours on a full split.
BARRIER_TIMEOUT = datetime.timedelta(days=2)


@dataclass(frozen=True)
class ProcessPlace:
    """``rank`` of ``world_size`` processes; ``local_rank`` picks the GPU on a node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _integer(environ: Mapping[str, str], name: str, default: int) -> int:
    text = environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"environment variable {name}={text!r} is not an integer") from None


def process_place(environ: Mapping[str, str] | None = None) -> ProcessPlace:
    """The place read from ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (defaults: process 0 of 1)."""
    environ = os.environ if environ is None else environ
    world = _integer(environ, "WORLD_SIZE", 1)
    rank = _integer(environ, "RANK", 0)
    local = _integer(environ, "LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"RANK={rank}, WORLD_SIZE={world}, LOCAL_RANK={local} do not describe a process of the run")
    return ProcessPlace(rank=rank, world_size=world, local_rank=local)


def wait_for_all(place: ProcessPlace) -> None:
    """Return once every process of the run got here (at once for a single process).

    Joins the launcher's process group (gloo over TCP, so it works on CPU and beside NCCL on GPUs) when none is set up.
    """
    if place.world_size == 1:
        return
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(
            backend="gloo",
            init_method="env://",
            rank=place.rank,
            world_size=place.world_size,
            timeout=BARRIER_TIMEOUT,
        )
    dist.barrier()


def leave(place: ProcessPlace) -> None:
    """Tear down the process group :func:`wait_for_all` joined."""
    if place.world_size == 1:
        return
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


__all__ = ["BARRIER_TIMEOUT", "ProcessPlace", "leave", "process_place", "wait_for_all"]
