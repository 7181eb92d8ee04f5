"""The job spec (src/factory/job-spec.ts JobSpec) as this trainer reads it, checked field by field.

Every problem is a JobSpecError naming the field, which the entry point turns into exit code 2 and an error event,
exactly as the engine's worker treats an invalid spec. What the engine accepts but this trainer does not run yet
(other bases than Hugging Face folders, QLoRA) is
refused the same way, with the reason, before any work is done.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from .chat import CHAT_TEMPLATES
from .schedule import SCHEDULES

METHOD_TYPES = ("full", "freeze", "lora", "qlora", "prefix", "prompt")
PREFERENCE_LOSSES = ("dpo", "orpo", "simpo")
STRATEGIES = ("ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3")
LINEAR_MODULES = ("q", "k", "v", "o", "gate", "up", "down")
# The engine's accepted spellings of a linear module (src/engine/config.ts MODULE_ALIASES).
MODULE_ALIASES = {
    "q": "q", "q_proj": "q", "attn_q": "q", "k": "k", "k_proj": "k", "attn_k": "k", "v": "v", "v_proj": "v", "attn_v": "v",
    "o": "o", "o_proj": "o", "attn_output": "o", "gate": "gate", "gate_proj": "gate", "ffn_gate": "gate",
    "up": "up", "up_proj": "up", "ffn_up": "up", "down": "down", "down_proj": "down", "ffn_down": "down",
}


class JobSpecError(Exception):
    """An invalid job spec or data file: the trainer exits 2."""


@dataclass
class Hyperparameters:
    batch_size: int
    lr: float
    seq_len: int
    epochs: Optional[int] = None
    max_steps: Optional[int] = None
    grad_accum: int = 1
    schedule: str = "cosine"
    warmup_ratio: Optional[float] = None
    warmup_steps: Optional[int] = None
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    eval_every: int = 0
    early_stopping_patience: int = 0
    checkpoint_every: int = 20
    chat_template: str = "chatml"
    # The preference stage's loss and its parameters (None: the engine's defaults for that loss).
    preference: Dict[str, Any] = field(default_factory=lambda: {"loss": "dpo", "beta": None, "lambda": None, "gamma": None})


@dataclass
class JobSpec:
    raw: Dict[str, Any]
    id: str
    stage: str
    base_kind: str
    base_path: str
    method: Dict[str, Any]
    train_path: str
    train_kind: str
    validation_path: Optional[str]
    validation_kind: Optional[str]
    hp: Hyperparameters
    seed: int
    output_dir: str
    threads: int
    # Mixed precision: "fp32" (none), "bf16" or "fp16" (autocast; weights, gradients and AdamW's state stay fp32;
    # fp16, whose range is narrow, with dynamic loss scaling).
    precision: str = "fp32"
    # Recompute each decoder layer's activations in the backward pass instead of keeping them.
    gradient_checkpointing: bool = False
    # Several examples per row, never attending to each other (data.py: collate_packed).
    packing: bool = False
    # How several processes share the work: "ddp" (each holds the whole model), "fsdp" (each holds a shard: fsdp.py),
    # "deepspeed-zero2" / "deepspeed-zero3" (DeepSpeed's engine partitions gradients and optimizer state, and with
    # ZeRO-3 the weights: zero.py).
    strategy: str = "ddp"
    extra: Dict[str, Any] = field(default_factory=dict)


def _need(cond: bool, what: str) -> None:
    if not cond:
        raise JobSpecError(f"job spec: {what}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_num(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def parse_modules(names: Any, field_name: str) -> List[str]:
    _need(isinstance(names, list) and all(isinstance(n, str) for n in names), f"{field_name} must be a list of module names")
    out = set()
    for raw in names:
        n = raw.strip()
        if n == "all":
            out.update(LINEAR_MODULES)
            continue
        _need(n in MODULE_ALIASES, f'{field_name}: unknown module "{n}"; expected one of {", ".join(MODULE_ALIASES)} or "all"')
        out.add(MODULE_ALIASES[n])
    return [m for m in LINEAR_MODULES if m in out]


def normalize_method(m: Any, cuda: bool) -> Dict[str, Any]:
    """The engine's normalizeMethod, plus what this trainer refuses (with the reason)."""
    _need(isinstance(m, dict) and m.get("type") in METHOD_TYPES,
          f"method.type must be one of {', '.join(METHOD_TYPES)}, got {m.get('type') if isinstance(m, dict) else m!r}")
    t = m["type"]
    if t == "full":
        return {"type": "full"}
    if t == "freeze":
        layers = m.get("trainableLayers", 1)
        _need(_is_int(layers) and layers != 0, f"method.trainableLayers must be a non-zero integer, got {layers!r}")
        mods = m.get("trainableModules", ["all"])
        _need(isinstance(mods, list) and all(isinstance(x, str) for x in mods), "method.trainableModules must be a list of names")
        linear = [x for x in mods if x not in ("all", "attn", "ffn", "norm")]
        if linear:
            parse_modules(linear, "method.trainableModules")
        extra = m.get("extraModules", [])
        _need(isinstance(extra, list) and all(x in ("token_embd", "output", "output_norm") for x in extra),
              f"method.extraModules must name token_embd, output or output_norm, got {extra!r}")
        return {"type": "freeze", "trainableLayers": layers, "trainableModules": mods, "extraModules": extra}
    if t in ("lora", "qlora"):
        rank, alpha, dropout = m.get("rank"), m.get("alpha"), m.get("dropout", 0)
        _need(_is_int(rank) and rank > 0, f"method.rank must be a positive integer, got {rank!r}")
        _need(_is_num(alpha) and alpha > 0, f"method.alpha must be > 0, got {alpha!r}")
        _need(_is_num(dropout) and 0 <= dropout < 1, f"method.dropout must be in [0, 1), got {dropout!r}")
        targets = parse_modules(m.get("targets", ["q", "v"]), "method.targets")
        _need(len(targets) > 0, "method.targets names no module")
        rslora = m.get("rslora", False)
        _need(isinstance(rslora, bool), f"method.rslora must be true or false, got {rslora!r}")
        if t == "qlora":
            # 4-bit NF4 base weights need bitsandbytes' CUDA kernels; there is no CPU path that trains the same thing.
            _need(cuda, "method qlora needs a CUDA GPU (4-bit NF4 base weights are bitsandbytes CUDA kernels); "
                        "this machine has none: use lora, or run the job on a GPU machine")
            raise JobSpecError("job spec: method qlora is not implemented by the torch trainer yet; use lora")
        return {"type": "lora", "rank": rank, "alpha": alpha, "dropout": dropout, "targets": targets, "rslora": rslora}
    if t in ("prompt", "prefix"):
        n = m.get("numVirtualTokens")
        _need(_is_int(n) and n > 0, f"method.numVirtualTokens must be a positive integer, got {n!r}")
        return {"type": t, "numVirtualTokens": n}
    raise JobSpecError(f"job spec: method {t} is not implemented by the torch trainer yet; run it with the engine trainer")


def _opt_int(h: Dict[str, Any], key: str, minimum: int) -> Optional[int]:
    v = h.get(key)
    if v is None:
        return None
    _need(_is_int(v) and v >= minimum, f"hyperparameters.{key} must be an integer >= {minimum}, got {v!r}")
    return v


def _opt_num(h: Dict[str, Any], key: str, lo: float, hi: float) -> Optional[float]:
    v = h.get(key)
    if v is None:
        return None
    _need(_is_num(v) and lo <= v <= hi, f"hyperparameters.{key} must be a number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _preference(p: Any) -> Dict[str, Any]:
    """hyperparameters.preference: {loss: dpo | orpo | simpo, beta?, lambda?, gamma?} (src/factory/job-spec.ts)."""
    p = {} if p is None else p
    _need(isinstance(p, dict), f"hyperparameters.preference must be an object, got {p!r}")
    loss = p.get("loss", "dpo")
    _need(loss in PREFERENCE_LOSSES, f"hyperparameters.preference.loss must be one of {', '.join(PREFERENCE_LOSSES)}, got {loss!r}")
    out: Dict[str, Any] = {"loss": loss}
    for key in ("beta", "lambda", "gamma"):
        v = p.get(key)
        _need(v is None or _is_num(v), f"hyperparameters.preference.{key} must be a number, got {v!r}")
        out[key] = None if v is None else float(v)
    return out


def validate_job_spec(s: Any, cuda: bool = False) -> JobSpec:
    """Checks a spec read from JSON (the engine's validateJobSpec, then what this trainer supports)."""
    _need(isinstance(s, dict), "must be an object")
    _need(s.get("version") == 1, f"version must be 1, got {s.get('version')!r}")
    _need(isinstance(s.get("id"), str) and len(s["id"]) > 0, "id must be a non-empty string")
    _need(s.get("stage") in ("pretrain", "sft", "dpo"), f"stage must be pretrain, sft or dpo, got {s.get('stage')!r}")
    base = s.get("base")
    _need(isinstance(base, dict) and base.get("kind") in ("engine", "gguf", "hf", "scratch"), "base.kind must be engine, gguf, hf or scratch")
    _need(isinstance(s.get("method"), dict) and isinstance(s["method"].get("type"), str), "method.type is required")
    data = s.get("data")
    _need(isinstance(data, dict) and isinstance(data.get("train"), dict) and isinstance(data["train"].get("path"), str), "data.train.path is required")
    h = s.get("hyperparameters")
    _need(isinstance(h, dict), "hyperparameters is required")
    _need(_is_int(h.get("batchSize")) and h["batchSize"] > 0, f"hyperparameters.batchSize must be a positive integer, got {h.get('batchSize')!r}")
    _need(_is_int(h.get("seqLen")) and h["seqLen"] > 1, f"hyperparameters.seqLen must be an integer > 1, got {h.get('seqLen')!r}")
    _need(_is_num(h.get("lr")) and h["lr"] > 0, f"hyperparameters.lr must be > 0, got {h.get('lr')!r}")
    _need(isinstance(s.get("outputDir"), str) and len(s["outputDir"]) > 0, "outputDir is required")
    _need(_is_int(s.get("seed")), "seed must be an integer")
    _need(_is_int(s.get("threads")) and s["threads"] >= 1, "threads must be a positive integer")

    # What the torch trainer runs (today): the engine accepts more and converts; say what to do instead.
    _need(base["kind"] == "hf", f"base.kind {base['kind']} is not read by the torch trainer: it trains Hugging Face folders "
                                "(the factory converts engine folders and GGUF files to one before launch)")
    _need(isinstance(base.get("path"), str) and len(base["path"]) > 0, "base.path is required")
    method = normalize_method(s["method"], cuda)
    # The spec's trainer options (src/factory/job-spec.ts): what this trainer does not do yet is refused, not ignored.
    _need(s.get("trainer", "torch") in ("engine", "torch"), f"trainer must be engine or torch, got {s.get('trainer')!r}")
    precision = s.get("precision", "fp32")
    _need(precision in ("fp32", "bf16", "fp16"), f"precision must be fp32, bf16 or fp16, got {precision!r}")
    if precision == "bf16" and cuda:
        import torch

        _need(torch.cuda.is_bf16_supported(), f"precision: bf16 is not supported by {torch.cuda.get_device_name()}; use fp32")
    for key in ("packing", "gradientCheckpointing"):
        _need(s.get(key) in (None, False, True), f"{key} must be true or false, got {s.get(key)!r}")
    if s.get("packing"):
        _need(s["stage"] in ("pretrain", "sft"), f"packing: stage {s['stage']} scores whole sequences per pair, which are not packed; "
                                                 "turn packing off")
        _need(method["type"] not in ("prefix", "prompt"), f"packing: not with {method['type']} tuning (its virtual tokens are "
                                                           "shared by a row, so packed examples would see each other's); turn packing off")
    strategy = s.get("strategy", "ddp")
    _need(strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    if strategy.startswith("deepspeed-"):
        from . import zero

        _need(zero.available(), f"strategy {strategy}: deepspeed is not installed in this environment; "
                                f"pip install {zero.PIN} (or run trainers/torch/setup-venv.sh)")
    if strategy == "fsdp":
        _need(method["type"] not in ("prefix", "prompt"), f"strategy fsdp: not with {method['type']} tuning (PEFT's prompt "
                                                           "encoder lives outside the decoder layers that are sharded); use ddp")
        _need(precision != "fp16", "strategy fsdp: not with precision fp16 (the loss scaler would see one shard's overflows); use bf16")
    if s.get("gradientCheckpointing") and method["type"] == "prefix":
        # PEFT's prefix rides in the attention cache, which a recomputed layer would extend a second time.
        raise JobSpecError("gradientCheckpointing: not with prefix tuning (its prefix lives in the attention cache, "
                           "which recomputing a layer would extend twice); use LoRA or turn it off")

    train_kind = data["train"].get("kind")
    want = {"pretrain": "pretrain", "sft": "sft", "dpo": "preference"}[s["stage"]]
    _need(train_kind == want, f"data.train.kind must be {want} for stage {s['stage']}, got {train_kind!r}")
    val = data.get("validation")
    if val is not None:
        _need(isinstance(val, dict) and isinstance(val.get("path"), str), "data.validation.path is required when data.validation is given")
        _need(val.get("kind") == want, f"data.validation.kind must be {want} for stage {s['stage']}, got {val.get('kind')!r}")

    schedule = h.get("schedule", "cosine")
    _need(schedule in SCHEDULES, f"hyperparameters.schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    template = h.get("chatTemplate", "chatml")
    _need(template in CHAT_TEMPLATES, f"hyperparameters.chatTemplate must be one of {', '.join(CHAT_TEMPLATES)}, got {template!r}")
    max_grad_norm = h.get("maxGradNorm", 1)
    _need(_is_num(max_grad_norm) and max_grad_norm >= 0, f"hyperparameters.maxGradNorm must be >= 0, got {max_grad_norm!r}")
    hp = Hyperparameters(
        batch_size=h["batchSize"], lr=float(h["lr"]), seq_len=h["seqLen"],
        epochs=_opt_int(h, "epochs", 1), max_steps=_opt_int(h, "maxSteps", 1),
        grad_accum=_opt_int(h, "gradAccum", 1) or 1, schedule=schedule,
        warmup_ratio=_opt_num(h, "warmupRatio", 0, 1), warmup_steps=_opt_int(h, "warmupSteps", 0),
        min_lr_ratio=_opt_num(h, "minLrRatio", 0, 1) or 0.0, weight_decay=_opt_num(h, "weightDecay", 0, math.inf) or 0.0,
        max_grad_norm=float(max_grad_norm), eval_every=_opt_int(h, "evalEvery", 0) or 0,
        early_stopping_patience=_opt_int(h, "earlyStoppingPatience", 0) or 0,
        # The engine checkpoints every 20 steps unless told otherwise (engine-worker.ts).
        checkpoint_every=h["checkpointEvery"] if h.get("checkpointEvery") is not None else 20,
        chat_template=template, preference=_preference(h.get("preference")),
    )
    _need(_is_int(hp.checkpoint_every) and hp.checkpoint_every >= 0, f"hyperparameters.checkpointEvery must be an integer >= 0, got {hp.checkpoint_every!r}")
    return JobSpec(
        raw=s, id=s["id"], stage=s["stage"], base_kind=base["kind"], base_path=base["path"], method=method,
        train_path=data["train"]["path"], train_kind=train_kind,
        validation_path=val["path"] if val else None, validation_kind=val.get("kind") if val else None,
        hp=hp, seed=s["seed"], output_dir=s["outputDir"], threads=s["threads"],
        precision=precision, gradient_checkpointing=bool(s.get("gradientCheckpointing")), packing=bool(s.get("packing")),
        strategy=strategy,
    )
