"""Data parallelism under torchrun: what one process of a job needs to know and to agree on with the others.

`torchrun --standalone --nproc_per_node N -m modelfab_torch job.json` starts N processes with RANK, LOCAL_RANK and
WORLD_SIZE set; each joins one process group (NCCL on CUDA, one GPU per process; gloo on CPU). Every process holds
the whole model; each micro-batch of batchSize examples is split across them (example i goes to process i mod N),
and the gradients are averaged by DistributedDataParallel, so a step is the step one process would take on the whole
micro-batch. Process 0 alone writes the job's files.

Several machines are the same group: torchrun on each node (`--nnodes M --node_rank R --rdzv_backend c10d
--rdzv_endpoint HOST:PORT`, as a Slurm batch script or Kubeflow's TrainJob starts it) gives global ranks, and the job
folder lives on a path every node sees; `nodes` is WORLD_SIZE / LOCAL_WORLD_SIZE.

A single process (no WORLD_SIZE, or 1) gets `Dist.single()`, whose collectives are no-ops.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import List, Sequence, TypeVar

import torch

T = TypeVar("T")


@dataclass
class Dist:
    rank: int
    world: int
    local_rank: int
    device: torch.device
    nodes: int = 1

    @staticmethod
    def single(device: torch.device) -> "Dist":
        return Dist(0, 1, 0, device)

    @staticmethod
    def from_env(cuda: bool) -> "Dist":
        """The process group torchrun describes in the environment, joined; a single process without it."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return Dist.single(torch.device("cuda") if cuda else torch.device("cpu"))
        rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
        if cuda:
            torch.cuda.set_device(local)
        import torch.distributed as tdist

        tdist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(minutes=30))
        nodes = max(1, world // max(1, int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))))
        return Dist(rank, world, local, torch.device("cuda", local) if cuda else torch.device("cpu"), nodes)

    @property
    def main(self) -> bool:
        """This process writes the job's files."""
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> List[T]:
        """This process's share of a batch: items rank, rank + world, ..."""
        return list(items[self.rank::self.world])

    def sum(self, values: Sequence[float]) -> List[float]:
        """Each value summed over the processes (float64 on the wire)."""
        if self.world == 1:
            return [float(v) for v in values]
        import torch.distributed as tdist

        t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=self._wire())
        tdist.all_reduce(t)
        return t.cpu().tolist()

    def broadcast(self, obj: T) -> T:
        """Process 0's value of a small picklable object, on every process."""
        if self.world == 1:
            return obj
        import torch.distributed as tdist

        box = [obj]
        tdist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as tdist

            tdist.barrier()

    def any(self, flag: bool) -> bool:
        """True on every process when it is true on one (a stop request reaches one process first)."""
        return self.sum([1.0 if flag else 0.0])[0] > 0

    def close(self, wait: bool = False) -> None:
        """Leaves the process group. `wait` (a job that ended well on every process) first waits for the others,
        so no process tears down its side while process 0 still writes the files; after a failure nobody waits."""
        if self.world > 1:
            import torch.distributed as tdist

            if tdist.is_initialized():
                if wait:
                    tdist.barrier()
                tdist.destroy_process_group()

    def _wire(self) -> torch.device:
        # NCCL moves CUDA tensors only; gloo CPU ones
        return self.device if self.device.type == "cuda" else torch.device("cpu")
