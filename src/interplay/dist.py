"""torch.distributed glue (launched by ``torchrun``): rank/world, collectives, rank-0-only output.

Single-process runs never initialise a process group; every helper then degrades to a no-op, so the
same code path serves one CPU core and many GPUs. gloo on CPU, NCCL on CUDA.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def setup(device_type: str) -> Dist:
    """Initialise the process group when started by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not dist.is_initialized():
        backend = "nccl" if device_type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device_type == "cuda":
        torch.cuda.set_device(local)
    return Dist(dist.get_rank(), dist.get_world_size(), local)


def is_main_process() -> bool:
    """Rank 0 (or no torchrun at all), readable before the process group exists."""
    return int(os.environ.get("RANK", "0")) == 0


def device_for(d: Dist, device: torch.device) -> torch.device:
    if device.type == "cuda" and d.enabled:
        return torch.device("cuda", d.local_rank)
    return device


def all_reduce_sum(t: torch.Tensor, d: Dist) -> torch.Tensor:
    if d.enabled:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def gather_objects(obj: Any, d: Dist) -> list[Any]:
    """Every rank's ``obj`` in rank order (on all ranks)."""
    if not d.enabled:
        return [obj]
    out: list[Any] = [None] * d.world
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, d: Dist) -> Any:
    if not d.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def shard(items: list, d: Dist) -> list:
    """Round-robin share of ``items`` for this rank."""
    return items[d.rank :: d.world]


def cleanup(d: Dist | None = None) -> None:
    """Tear down the process group, if one was started."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
