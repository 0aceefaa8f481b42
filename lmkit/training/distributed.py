"""What changes when the Trainer runs under ``torchrun``: which process this is, the process
group, and values averaged or gathered over all processes.

Introduced in chapter 14. With ``torchrun --nproc_per_node=N`` every process takes its share
of the same global batch, gradients are averaged, and the reported losses are global means,
equal to a single-process run. In a single process every helper here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from lmkit.device import pick_device

__all__ = ["Processes", "any_process", "gather_rng_states", "global_mean", "start_process_group"]


@dataclass(frozen=True)
class Processes:
    """Which process this is, from the variables ``torchrun`` sets. Introduced in chapter 14."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Processes:
        return cls(
            int(os.environ.get("WORLD_SIZE", "1")),
            int(os.environ.get("RANK", "0")),
            int(os.environ.get("LOCAL_RANK", "0")),
        )

    @property
    def ddp(self) -> bool:
        """True under ``torchrun`` with more than one process."""
        return self.world_size > 1

    def device(self, preferred: str) -> torch.device:
        """The device to train on; under DDP each process takes the GPU of its local rank."""
        device = pick_device(preferred)
        if self.ddp and device.type == "cuda":
            device = torch.device("cuda", self.local_rank)
            torch.cuda.set_device(device)
        return device


def start_process_group(processes: Processes, device: torch.device) -> bool:
    """Join the process group if DDP needs one and none exists; True if this call made it."""
    if not processes.ddp or dist.is_initialized():
        return False
    dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return True


def global_mean(value: torch.Tensor, world_size: int) -> float:
    """``value`` averaged over all processes (a no-op in a single process)."""
    if world_size > 1:
        value = value.detach().clone()
        dist.all_reduce(value, op=dist.ReduceOp.SUM)  # gloo has no AVG
        value /= world_size
    return float(value)


def any_process(flag: bool, device: torch.device, world_size: int) -> bool:
    """True if ``flag`` is True on any process, so that all of them stop together."""
    if world_size == 1:
        return flag
    value = torch.tensor(float(flag), device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def gather_rng_states(device: torch.device, world_size: int) -> dict[str, torch.Tensor]:
    """torch's generator states of every process as ``{"rank{r}.torch_cpu": …}`` (a collective)."""
    local = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        local["torch_cuda"] = torch.cuda.get_rng_state(device)
    if world_size == 1:
        return {f"rank0.{k}": v for k, v in local.items()}
    comm_device = device if dist.get_backend() == "nccl" else torch.device("cpu")
    gathered = {}
    for key, state in local.items():
        parts = [torch.empty_like(state, device=comm_device) for _ in range(world_size)]
        dist.all_gather(parts, state.to(comm_device))
        gathered.update({f"rank{r}.{key}": part.cpu() for r, part in enumerate(parts)})
    return gathered
