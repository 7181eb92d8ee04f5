"""Fully sharded data parallelism (the spec's `strategy: "fsdp"`), with PyTorch's FSDP2 (`fully_shard`).

Each decoder layer, then the whole model, is sharded across the processes: a process holds 1/N of every weight,
gradient and AdamW moment, gathers a layer's weights just before using it and frees them after, and gradients are
reduce-scattered (averaged) so each process updates its own shard. The loss scaling and the data split are DDP's
(distributed.py), so a step is still the one-process step on the whole micro-batch.

Checkpoints keep the sharding: every process writes its shard of the trained tensors and of the optimizer state
with torch.distributed.checkpoint (`sharded/`: one `__<rank>_0.distcp` per process and a `.metadata`), plus its own
RNG state; process 0 writes trainer_state.json and renames the folder into place, so the folder is as atomic as a
one-process checkpoint. A resumed job loads each process's shard back (the same number of processes). The result is
gathered once, at the end, into process 0's memory for save_pretrained.

Not with prefix or prompt tuning (PEFT's prompt encoders live outside the decoder layers) nor fp16 (its loss scaler
would see only a shard's overflows); the large-vocabulary chunked loss is off (it reads the output head's weight
directly, which is a shard here).
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import torch

from .checkpoint import (SHARDED_DIR, begin_group_checkpoint, check_group_parts, finish_group_checkpoint, read_trainer_state, rng_state,
                         set_rng_state)
from .distributed import Dist

def decoder_layers(model: torch.nn.Module) -> List[torch.nn.Module]:
    """The transformer blocks of a Hugging Face causal LM (under PEFT too): the ModuleList holding the most blocks."""
    best: List[torch.nn.Module] = []
    for _, m in model.named_modules():
        if isinstance(m, torch.nn.ModuleList) and len(m) > len(best):
            best = list(m)
    return best


def shard_model(model: torch.nn.Module, dist: Dist) -> None:
    """Shards the model in place across the process group: each decoder layer, then the rest at the root."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    mesh = init_device_mesh(dist.device.type, (dist.world,))
    layers = decoder_layers(model)
    if not layers:
        raise RuntimeError("fsdp: no decoder layers found to shard")
    for layer in layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)


def _options():
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    # only what is trained: a LoRA job's checkpoint holds the adapter, not the frozen base
    return StateDictOptions(ignore_frozen_params=True)


def save_checkpoint(out: str, step: int, model: torch.nn.Module, opt: torch.optim.Optimizer, trainer_state: Dict[str, Any],
                    dist: Dist, keep_last: int = 2) -> Optional[str]:
    """Every process writes its shard (see the module comment); returns the folder on process 0."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    tmp = begin_group_checkpoint(out, step, dist)
    os.makedirs(os.path.join(tmp, SHARDED_DIR), exist_ok=True)
    torch.save(rng_state(), os.path.join(tmp, SHARDED_DIR, f"rng-{dist.rank}.pt"))
    msd, osd = get_state_dict(model, opt, options=_options())
    dcp.save({"model": msd, "optim": osd}, checkpoint_id=os.path.join(tmp, SHARDED_DIR))  # collective; .metadata last
    return finish_group_checkpoint(out, tmp, step, trainer_state, dist, keep_last)


def load_checkpoint(folder: str, model: torch.nn.Module, opt: torch.optim.Optimizer, dist: Dist) -> Dict[str, Any]:
    """Loads this process's shard of a sharded checkpoint into the model and optimizer and its RNG state; returns
    trainer_state.json."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    shards = os.path.join(folder, SHARDED_DIR)
    check_group_parts(folder, shards, dist, "sharded")
    msd, osd = get_state_dict(model, opt, options=_options())
    state = {"model": msd, "optim": osd}
    dcp.load(state, checkpoint_id=shards)
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"], options=_options())
    set_rng_state(torch.load(os.path.join(shards, f"rng-{dist.rank}.pt"), weights_only=True))
    return read_trainer_state(folder)


def full_state_dict(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The whole model's weights gathered on process 0, on the CPU (empty on the others). Collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))




