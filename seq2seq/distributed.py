"""Data parallelism with ``torchrun``: which process this is, and the few collective operations training needs.

    torchrun --nproc_per_node=2 train.py --arch gru                  # two processes on this machine
    torchrun --nnodes=2 --nproc_per_node=8 --rdzv-backend=c10d \\
             --rdzv-endpoint=HOST:29400 --rdzv-id=run1 train.py ...   # on each of two machines

torchrun sets ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE`` in every process; ``setup`` reads them and joins
the process group (NCCL between GPUs, gloo between CPU processes). Without them (plain ``python
train.py``) there is one process and every operation here returns its input.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        """Rank 0: the one process that writes files and prints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def setup(device: str = "auto", timeout_minutes: float = 180) -> Context:
    """The process's place in the run, joining the process group when launched by torchrun.

    ``timeout_minutes``: how long a rank waits for the others (rank 0 validates alone while they wait)."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank, local_rank = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device == "auto":
        device = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and world_size > 1:
        device = f"cuda:{local_rank}"   # one GPU per process
    device = torch.device(device)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size,
                                timeout=datetime.timedelta(minutes=timeout_minutes))
    return Context(rank, local_rank, world_size, device)


def all_sum(ctx: Context, *values: float) -> list[float]:
    """The sums of ``values`` over all processes (float64)."""
    if not ctx.distributed:
        return [float(v) for v in values]
    t = torch.tensor(values, dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return t.tolist()


def broadcast(ctx: Context, obj):
    """Rank 0's ``obj`` on every process (any picklable object)."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(ctx: Context) -> None:
    if ctx.distributed:
        dist.barrier()


def shutdown(ctx: Context) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.destroy_process_group()
