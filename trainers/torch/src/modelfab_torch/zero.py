"""DeepSpeed ZeRO (the spec's `strategy: "deepspeed-zero2"` and `"deepspeed-zero3"`), with DeepSpeed's engine.

ZeRO-2 partitions the gradients and AdamW's state across the processes (each holds the whole weights); ZeRO-3 also
partitions the weights, gathering a layer's just before it runs. The data split and the loss scaling are DDP's
(distributed.py): each share's loss is divided by the whole micro-batch's scored tokens and multiplied by the number
of processes; DeepSpeed's backward divides by gradAccum and its reduction averages over the processes, so a step is
still the one-process step on the whole micro-batch.

1. The config (`deepspeed_config`) is generated from the spec: the micro-batch per process, gradAccum, clipping at
   maxGradNorm, the bf16 / fp16 section for the spec's precision (fp16 with dynamic loss scaling from 2^16, halved
   at an overflow whose step is skipped, doubled after 2,000 good steps: torch's GradScaler), the ZeRO stage with
   overlapped communication and buckets sized from the model's hidden size, offload off. The worker writes it to
   `<outputDir>/deepspeed.json`, so it can be read and reused.
2. The engine is DeepSpeed's with the trainer's own torch AdamW (a client optimizer) and torch's collectives: no C++
   op is built.
   Gradient exchange happens once per step: the accumulation boundary is set on the last micro-batch.
3. Checkpoints: every process calls `engine.save_checkpoint` into the dot-folder the checkpoint is built in
   (`deepspeed/`: the module states and one ZeRO partition file per process) and writes its RNG state beside them;
   after a barrier process 0 writes trainer_state.json and renames the folder into place (checkpoint.py). A resumed
   job loads it with `engine.load_checkpoint` on as many processes as wrote it.
4. The result: each weight gathered to process 0 once, at the end (the fp32 master copy of a trained tensor; under
   ZeRO-3 a frozen one gathered from its partitions), for save_pretrained.

Under bf16 or fp16 DeepSpeed keeps the model in 16 bits (frozen weights included) and the trained weights' fp32
master copies in the optimizer; the saved result takes the master copies.
"""
from __future__ import annotations

import json
import os
from contextlib import nullcontext
from typing import Any, Dict, Optional, Tuple

import torch

from .checkpoint import (DEEPSPEED_DIR, begin_group_checkpoint, check_group_parts, finish_group_checkpoint, read_trainer_state, rng_state,
                         set_rng_state)
from .distributed import Dist
from .files import write_atomic

STAGES = {"deepspeed-zero2": 2, "deepspeed-zero3": 3}
PIN = "deepspeed==0.19.8"
CONFIG_FILE = "deepspeed.json"


def available() -> bool:
    """Whether deepspeed imports here (it is an optional part of the environment)."""
    try:
        import deepspeed  # noqa: F401
    except Exception:
        return False
    return True


def deepspeed_config(strategy: str, batch_size: int, grad_accum: int, max_grad_norm: float, precision: str, world: int,
                     hidden_size: int) -> Dict[str, Any]:
    """The DeepSpeed config of a job: pure (see the module comment, 1)."""
    stage = STAGES[strategy]
    # HF Trainer's "auto" sizes: a bucket of hidden^2 elements, parameters under 10 * hidden kept whole under ZeRO-3
    bucket = hidden_size * hidden_size
    zero: Dict[str, Any] = {
        "stage": stage, "overlap_comm": True, "contiguous_gradients": True, "reduce_scatter": True,
        "reduce_bucket_size": bucket, "offload_optimizer": {"device": "none"},
    }
    if stage == 2:
        zero.update({"allgather_partitions": True, "allgather_bucket_size": bucket})
    else:
        zero.update({"offload_param": {"device": "none"}, "stage3_prefetch_bucket_size": int(0.9 * bucket),
                     "stage3_param_persistence_threshold": 10 * hidden_size, "stage3_gather_16bit_weights_on_model_save": False})
    return {
        "train_batch_size": batch_size * grad_accum,
        "train_micro_batch_size_per_gpu": batch_size // world,
        "gradient_accumulation_steps": grad_accum,
        "gradient_clipping": max_grad_norm,
        "bf16": {"enabled": precision == "bf16"},
        "fp16": {"enabled": precision == "fp16", "loss_scale": 0, "initial_scale_power": 16, "loss_scale_window": 2000,
                 "hysteresis": 1, "min_loss_scale": 1},
        "zero_optimization": zero,
        # the trainer's torch AdamW: DeepSpeed's fused optimizers would be C++ ops built at run time
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 2 ** 31 - 1,
        "wall_clock_breakdown": False,
    }


def write_config(out: str, config: Dict[str, Any]) -> str:
    path = os.path.join(out, CONFIG_FILE)
    write_atomic(path, json.dumps(config, indent=2) + "\n")
    return path


def start_engine(model: torch.nn.Module, opt: torch.optim.Optimizer, config: Dict[str, Any]):
    """DeepSpeed's engine over the model and the trainer's optimizer (the process group is already joined)."""
    import deepspeed
    import deepspeed.ops

    # DeepSpeed's communication backend probes every C++ op (compiler runs) and on the CPU accelerator builds a
    # shared-memory all-reduce with ninja when it starts; its collectives here are torch's (NCCL, gloo), so no op
    # is counted compatible and nothing is compiled (tests/test_zero.py checks).
    deepspeed.ops.__compatible_ops__ = {}
    engine, _, _, _ = deepspeed.initialize(model=model, optimizer=opt, config=config, dist_init_required=False)
    return engine


def loss_scale(engine) -> Optional[float]:
    """fp16's current loss scale; None without fp16."""
    if not engine.fp16_enabled():
        return None
    return float(engine.optimizer.loss_scale)


def step(engine) -> Tuple[float, bool]:
    """Takes the step the accumulated gradients make (DeepSpeed clips them; a non-finite gradient skips the update).
    Returns (the gradient's global norm before clipping, whether the update was skipped)."""
    skipped_before = engine.skipped_steps
    engine.step()
    norm = engine.get_global_grad_norm()
    norm = float(norm) if norm is not None else float("nan")
    return norm, engine.skipped_steps > skipped_before


def save_checkpoint(out: str, step_: int, engine, trainer_state: Dict[str, Any], dist: Dist, keep_last: int = 2) -> Optional[str]:
    """Every process writes its partition (see the module comment, 3); returns the folder on process 0."""
    tmp = begin_group_checkpoint(out, step_, dist)
    # collective; a LoRA job's checkpoint holds the adapter and its optimizer state, not the frozen base
    engine.save_checkpoint(tmp, tag=DEEPSPEED_DIR, save_latest=False, exclude_frozen_parameters=True)
    torch.save(rng_state(), os.path.join(tmp, DEEPSPEED_DIR, f"rng-{dist.rank}.pt"))
    return finish_group_checkpoint(out, tmp, step_, trainer_state, dist, keep_last)


def load_checkpoint(folder: str, engine, dist: Dist) -> Dict[str, Any]:
    """Loads this process's partition into the engine (weights and optimizer state) and its RNG state; returns
    trainer_state.json."""
    check_group_parts(folder, os.path.join(folder, DEEPSPEED_DIR), dist, "DeepSpeed")
    path, _ = engine.load_checkpoint(folder, tag=DEEPSPEED_DIR, load_module_strict=False, load_optimizer_states=True,
                                     load_lr_scheduler_states=False)
    if path is None:
        raise RuntimeError(f"resume: DeepSpeed could not load {folder}")
    set_rng_state(torch.load(os.path.join(folder, DEEPSPEED_DIR, f"rng-{dist.rank}.pt"), weights_only=True))
    return read_trainer_state(folder)


def full_state_dict(model: torch.nn.Module, dist: Dist) -> Dict[str, torch.Tensor]:
    """The whole model's weights in fp32 on process 0's CPU (empty on the others), one tensor at a time: a trained
    tensor's fp32 master copy, a frozen one as the model holds it (gathered under ZeRO-3). Collective."""
    import deepspeed
    from deepspeed.utils import safe_get_full_fp32_param

    out: Dict[str, torch.Tensor] = {}
    seen: Dict[int, str] = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if id(p) in seen:  # tied weights: one tensor under both names
            if dist.main:
                out[name] = out[seen[id(p)]]
            continue
        seen[id(p)] = name
        full = safe_get_full_fp32_param(p) if p.requires_grad else None
        if full is None:
            partitioned = hasattr(p, "ds_id")
            with deepspeed.zero.GatheredParameters([p]) if partitioned else nullcontext():
                full = p.data.detach().clone()
        if dist.main:
            out[name] = full.to(torch.float32).cpu()
    keys = set(model.state_dict().keys())  # on every process: the persistent buffers
    if dist.main:
        for name, b in model.named_buffers():
            if name in keys:
                out[name] = b.detach().cpu()
    return out
