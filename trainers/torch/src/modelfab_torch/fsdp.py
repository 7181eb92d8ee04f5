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
import re
from typing import Any, Dict, List, Optional

import torch

from .checkpoint import (SHARDED_DIR, TRAINER_STATE_FILE, checkpoints_dir, clean_stale_temps, install_checkpoint, prune_checkpoints,
                         rng_state, set_rng_state)
from .distributed import Dist
from .files import fsync_dir, write_atomic

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

    parent = checkpoints_dir(out)
    if dist.main:
        os.makedirs(parent, exist_ok=True)
        clean_stale_temps(out)
    tmp = dist.broadcast(os.path.join(parent, f".tmp-step-{step}-{os.getpid()}-{os.urandom(4).hex()}") if dist.main else "")
    dist.barrier()  # the parent exists and old temps are gone before anyone writes
    os.makedirs(os.path.join(tmp, SHARDED_DIR), exist_ok=True)
    torch.save(rng_state(), os.path.join(tmp, SHARDED_DIR, f"rng-{dist.rank}.pt"))
    msd, osd = get_state_dict(model, opt, options=_options())
    dcp.save({"model": msd, "optim": osd}, checkpoint_id=os.path.join(tmp, SHARDED_DIR))  # collective; .metadata last
    dist.barrier()  # every shard is on disk
    if not dist.main:
        return None
    write_atomic(os.path.join(tmp, TRAINER_STATE_FILE), _json(trainer_state))
    fsync_tree(tmp)
    final = install_checkpoint(out, tmp, step)
    prune_checkpoints(out, keep_last)
    return final


def load_checkpoint(folder: str, model: torch.nn.Module, opt: torch.optim.Optimizer, dist: Dist) -> Dict[str, Any]:
    """Loads this process's shard of a sharded checkpoint into the model and optimizer and its RNG state; returns
    trainer_state.json."""
    import json

    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    shards = os.path.join(folder, SHARDED_DIR)
    written = sorted(int(m.group(1)) for m in (re.match(r"^rng-(\d+)\.pt$", n) for n in os.listdir(shards)) if m)
    if len(written) != dist.world:
        raise RuntimeError(f"resume: {folder} was written by {len(written)} processes; this job runs {dist.world} "
                           "(a sharded checkpoint resumes on as many processes as wrote it)")
    msd, osd = get_state_dict(model, opt, options=_options())
    state = {"model": msd, "optim": osd}
    dcp.load(state, checkpoint_id=shards)
    set_state_dict(model, opt, model_state_dict=state["model"], optim_state_dict=state["optim"], options=_options())
    set_rng_state(torch.load(os.path.join(shards, f"rng-{dist.rank}.pt"), weights_only=True))
    with open(os.path.join(folder, TRAINER_STATE_FILE), encoding="utf-8") as f:
        return json.load(f)


def full_state_dict(model: torch.nn.Module) -> Dict[str, torch.Tensor]:
    """The whole model's weights gathered on process 0, on the CPU (empty on the others). Collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def fsync_tree(folder: str) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(root)


def _json(state: Dict[str, Any]) -> str:
    import json

    return json.dumps(state, indent=2) + "\n"
