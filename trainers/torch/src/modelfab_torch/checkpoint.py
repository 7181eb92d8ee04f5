"""Training checkpoints, written atomically in the engine's layout (src/engine/checkpoint.ts):

  <out>/checkpoints/step-<N>/model.safetensors   the trainable tensors (all weights, the trained layers, or the
                                                  adapter) under their torch names, F32, {"format": "pt"}
  <out>/checkpoints/step-<N>/optimizer.pt         torch AdamW state_dict (moments and step counts)
  <out>/checkpoints/step-<N>/rng.pt               torch's CPU (and CUDA) generator states
  <out>/checkpoints/step-<N>/trainer_state.json   step, data position (epoch, cursor), the schedule's inputs, the
                                                  early-stopping state, tokens seen, elapsed time

A job sharded across processes (fsdp.py) writes sharded/ instead of the first three: each process's shard of the
trained tensors and the optimizer state (torch.distributed.checkpoint) and its RNG state. A DeepSpeed job (zero.py)
writes deepspeed/: DeepSpeed's own checkpoint (`engine.save_checkpoint`: the module states and one ZeRO partition
file per process) and each process's RNG state.

A checkpoint is built in checkpoints/.tmp-step-<N>-<pid>-<hex>/ (every file fsync'd, then the folder) and renamed
into place, then the parent is fsync'd: a step-<N> folder is always complete, and an interrupted write leaves only
a dot-folder that the next listing of a later process deletes. Retention deletes only after the new one is in
place. The folder names and the complete-folder rule are the engine's, so the scheduler and the engine's listing
see these checkpoints as they see the engine's.
"""
from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch
from safetensors.torch import load_file, save_file

from .distributed import Dist
from .files import fsync_dir, write_atomic

MODEL_FILE = "model.safetensors"
OPTIMIZER_FILE = "optimizer.pt"
RNG_FILE = "rng.pt"
TRAINER_STATE_FILE = "trainer_state.json"
SHARDED_DIR = "sharded"
DEEPSPEED_DIR = "deepspeed"
# DeepSpeed's module states: mp_rank_00_model_states.pt (ZeRO-2), zero_pp_rank_<r>_mp_rank_00_model_states.pt (ZeRO-3)
_DEEPSPEED_MODEL_FILE = re.compile(r"^(?:zero_pp_rank_\d+_)?mp_rank_\d+_model_states\.pt$")

_STEP_DIR = re.compile(r"^step-(\d+)$")
_TEMP_DIR = re.compile(r"^\.(?:tmp|old)-step-\d+-(\d+)-[0-9a-f]+$")


@dataclass
class CheckpointInfo:
    step: int
    path: str


def checkpoints_dir(out: str) -> str:
    return os.path.join(out, "checkpoints")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # our writes are synchronous: a leftover of ours is from a dead attempt
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def clean_stale_temps(out: str) -> List[str]:
    parent = checkpoints_dir(out)
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    removed = []
    for name in names:
        m = _TEMP_DIR.match(name)
        if not m or _alive(int(m.group(1))):
            continue
        p = os.path.join(parent, name)
        shutil.rmtree(p, ignore_errors=True)
        removed.append(p)
    return removed


def list_checkpoints(out: str) -> List[CheckpointInfo]:
    parent = checkpoints_dir(out)
    try:
        names = os.listdir(parent)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        m = _STEP_DIR.match(name)
        p = os.path.join(parent, name)
        if m and os.path.exists(os.path.join(p, TRAINER_STATE_FILE)) and checkpoint_layout(p) is not None:
            found.append(CheckpointInfo(int(m.group(1)), p))
    return sorted(found, key=lambda c: c.step)


def is_sharded(folder: str) -> bool:
    """A checkpoint written by a sharded job (fsdp.py), complete: torch.distributed.checkpoint writes .metadata last."""
    return os.path.exists(os.path.join(folder, SHARDED_DIR, ".metadata"))


def is_deepspeed(folder: str) -> bool:
    """A checkpoint written by DeepSpeed's engine (zero.py)."""
    try:
        return any(_DEEPSPEED_MODEL_FILE.match(n) for n in os.listdir(os.path.join(folder, DEEPSPEED_DIR)))
    except (FileNotFoundError, NotADirectoryError):
        return False


def checkpoint_layout(folder: str) -> Optional[str]:
    """"sharded" (fsdp.py), "deepspeed" (zero.py), "whole" (one copy of the trained tensors), or None (incomplete)."""
    if is_sharded(folder):
        return "sharded"
    if is_deepspeed(folder):
        return "deepspeed"
    return "whole" if os.path.exists(os.path.join(folder, MODEL_FILE)) else None


def latest_checkpoint(out: str) -> Optional[CheckpointInfo]:
    clean_stale_temps(out)
    all_ = list_checkpoints(out)
    return all_[-1] if all_ else None


def prune_checkpoints(out: str, keep_last: int) -> List[str]:
    all_ = list_checkpoints(out)
    removed = []
    for c in all_[: max(0, len(all_) - keep_last)]:
        # Renamed first so a crash mid-delete leaves a dot-folder, never a half-deleted step-N.
        doomed = os.path.join(os.path.dirname(c.path), f".old-step-{c.step}-{os.getpid()}-{os.urandom(4).hex()}")
        os.rename(c.path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        removed.append(c.path)
    return removed


def _save_torch(path: str, obj: Any) -> None:
    with open(path, "wb") as f:
        torch.save(obj, f)
        f.flush()
        os.fsync(f.fileno())


def rng_state() -> Dict[str, Any]:
    state: Dict[str, Any] = {"cpu": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["cpu"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def write_checkpoint(out: str, step: int, tensors: Dict[str, torch.Tensor], optimizer: Dict[str, Any],
                     trainer_state: Dict[str, Any], keep_last: int = 2) -> str:
    parent = checkpoints_dir(out)
    os.makedirs(parent, exist_ok=True)
    clean_stale_temps(out)
    suffix = f"{os.getpid()}-{os.urandom(4).hex()}"
    tmp = os.path.join(parent, f".tmp-step-{step}-{suffix}")
    os.mkdir(tmp)
    try:
        weights = {k: v.detach().to(torch.float32).contiguous().cpu() for k, v in tensors.items()}
        model_path = os.path.join(tmp, MODEL_FILE)
        save_file(weights, model_path, metadata={"format": "pt"})
        with open(model_path, "rb+") as f:
            os.fsync(f.fileno())
        _save_torch(os.path.join(tmp, OPTIMIZER_FILE), optimizer)
        _save_torch(os.path.join(tmp, RNG_FILE), rng_state())
        write_atomic(os.path.join(tmp, TRAINER_STATE_FILE), json.dumps(trainer_state, indent=2) + "\n")
        fsync_dir(tmp)
        final = install_checkpoint(out, tmp, step)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    prune_checkpoints(out, keep_last)
    return final


def install_checkpoint(out: str, tmp: str, step: int) -> str:
    """Renames a complete, fsync'd temporary folder into place as checkpoints/step-<step> (one already there is
    moved aside first and deleted after), then fsyncs the parent. Returns the final folder."""
    parent = checkpoints_dir(out)
    final = os.path.join(parent, f"step-{step}")
    if os.path.exists(final):
        old = os.path.join(parent, f".old-step-{step}-{os.getpid()}-{os.urandom(4).hex()}")
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(tmp, final)
    fsync_dir(parent)
    return final


@dataclass
class LoadedCheckpoint:
    step: int
    path: str
    tensors: Dict[str, torch.Tensor]
    optimizer: Optional[Dict[str, Any]]
    rng: Optional[Dict[str, Any]]
    trainer_state: Dict[str, Any]


def read_checkpoint(folder: str) -> LoadedCheckpoint:
    m = _STEP_DIR.match(os.path.basename(folder))
    if not m:
        raise ValueError(f"{folder} is not a step-<N> checkpoint folder")
    tensors = load_file(os.path.join(folder, MODEL_FILE))
    opt_path, rng_path = os.path.join(folder, OPTIMIZER_FILE), os.path.join(folder, RNG_FILE)
    optimizer = torch.load(opt_path, weights_only=True) if os.path.exists(opt_path) else None
    rng = torch.load(rng_path, weights_only=True) if os.path.exists(rng_path) else None
    with open(os.path.join(folder, TRAINER_STATE_FILE), encoding="utf-8") as f:
        state = json.load(f)
    return LoadedCheckpoint(int(m.group(1)), folder, tensors, optimizer, rng, state)


# ------------------------------------------------------------------ checkpoints every process writes a part of

def begin_group_checkpoint(out: str, step: int, dist: Dist) -> str:
    """The temporary folder every process of a sharded (FSDP) or partitioned (DeepSpeed) checkpoint writes its part
    into: process 0 makes the parent and removes temporaries of dead runs, the name is broadcast, and nobody writes
    before the folder's parent exists. Collective."""
    parent = checkpoints_dir(out)
    if dist.main:
        os.makedirs(parent, exist_ok=True)
        clean_stale_temps(out)
    tmp = dist.broadcast(os.path.join(parent, f".tmp-step-{step}-{os.getpid()}-{os.urandom(4).hex()}") if dist.main else "")
    dist.barrier()
    return tmp


def fsync_tree(folder: str) -> None:
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        fsync_dir(root)


def finish_group_checkpoint(out: str, tmp: str, step: int, trainer_state: Dict[str, Any], dist: Dist, keep_last: int) -> Optional[str]:
    """Once every process has written its part into `tmp`: process 0 adds trainer_state.json, syncs the folder to
    disk, renames it into place and prunes old checkpoints; returns the folder there (None on the others).
    Collective."""
    dist.barrier()  # every part is on disk
    if not dist.main:
        return None
    write_atomic(os.path.join(tmp, TRAINER_STATE_FILE), json.dumps(trainer_state, indent=2) + "\n")
    fsync_tree(tmp)
    final = install_checkpoint(out, tmp, step)
    prune_checkpoints(out, keep_last)
    return final


def check_group_parts(folder: str, parts: str, dist: Dist, kind: str) -> None:
    """A group checkpoint resumes on as many processes as wrote it: one `rng-<rank>.pt` each in `parts`."""
    written = [n for n in os.listdir(parts) if re.match(r"^rng-(\d+)\.pt$", n)]
    if len(written) != dist.world:
        raise RuntimeError(f"resume: {folder} was written by {len(written)} processes; this job runs {dist.world} "
                           f"(a {kind} checkpoint resumes on as many processes as wrote it)")


def read_trainer_state(folder: str) -> Dict[str, Any]:
    with open(os.path.join(folder, TRAINER_STATE_FILE), encoding="utf-8") as f:
        return json.load(f)
