"""Fine-tuning methods on a transformers Llama-family model, meaning what they mean in the engine
(src/engine/methods.ts):

  full    every parameter trains.
  freeze  only the last N layers (negative: the first |N|), optionally only some of their parts (attn, ffn, norm,
          or linear module names), plus whole tensors outside the layers (token_embd, output, output_norm).
  lora    PEFT LoRA on the target linears: A Kaiming-uniform, B zero (the model starts unchanged), scale alpha/r,
          or alpha/sqrt(r) with rsLoRA; the base is frozen. A is drawn by the engine's generator in the engine's
          order (layer by layer, targets in q k v o gate up down order, row-major), the same distribution as PEFT's
          kaiming_uniform(a=sqrt(5)) but the very same numbers, so a LoRA job follows the same curve on both
          trainers. Pure Python draws cost about 2 us per element (4M for a 7B model at rank 16 on q and v:
          about 10 s), once per job: a resumed job loads A from its checkpoint instead.
  prompt  PEFT prompt tuning: P trainable embeddings before every sequence (positions 0..P-1, the text after
          them), initialised as the engine does: the embeddings of P vocabulary tokens drawn by its generator.
"""
from __future__ import annotations

import math
import re
from typing import Dict, List, Optional, Tuple

import torch

# HF Llama / Qwen2 parameter paths inside a layer -> the engine's (GGUF) part names.
HF_LAYER_PART = {
    "input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
    "self_attn.o_proj": "attn_output", "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate",
    "mlp.up_proj": "ffn_up", "mlp.down_proj": "ffn_down",
}
HF_GLOBAL = {"model.embed_tokens": "token_embd", "lm_head": "output", "model.norm": "output_norm"}
MODULE_TENSOR = {"q": "attn_q", "k": "attn_k", "v": "attn_v", "o": "attn_output", "gate": "ffn_gate", "up": "ffn_up", "down": "ffn_down"}
PEFT_TARGET = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj", "gate": "gate_proj", "up": "up_proj", "down": "down_proj"}
_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)\.(weight|bias)$")


def engine_name(hf_name: str) -> Optional[Tuple[Optional[int], str]]:
    """(layer or None, engine part) of an HF parameter name, or None for names the engine has no tensor for."""
    m = _LAYER.match(hf_name)
    if m:
        part = HF_LAYER_PART.get(m.group(2))
        return None if part is None else (int(m.group(1)), part)
    for prefix, name in HF_GLOBAL.items():
        if hf_name == prefix + ".weight":
            return (None, name)
    return None


def freeze_trainable(hf_name: str, num_layers: int, spec: Dict) -> bool:
    """The engine's freezeTrainable, over HF parameter names."""
    where = engine_name(hf_name)
    if where is None:
        return False
    layer, part = where
    if layer is None:
        return part in spec.get("extraModules", [])
    n = spec.get("trainableLayers", 1)
    if not (layer >= num_layers - n if n > 0 else layer < -n):
        return False
    mods = spec.get("trainableModules", ["all"])
    if "all" in mods:
        return True
    if "attn" in mods and part.startswith("attn_") and part != "attn_norm":
        return True
    if "ffn" in mods and part.startswith("ffn_") and part != "ffn_norm":
        return True
    if "norm" in mods and part.endswith("_norm"):
        return True
    from .spec import parse_modules  # the aliases live with the spec checks
    linear = [x for x in mods if x not in ("attn", "ffn", "norm")]
    return bool(linear) and any(MODULE_TENSOR[t] == part for t in parse_modules(linear, "method.trainableModules"))


def engine_lora_init(peft_model: torch.nn.Module, method: Dict, seed: int) -> None:
    """Overwrites every lora_A with the engine's draws (src/engine/llama-model.ts applyMethod) from Rng(seed)."""
    import numpy as np

    from .rng import Rng

    rng = Rng(seed)
    layers = peft_model.base_model.model.model.layers
    for layer in layers:
        for mod in method["targets"]:
            owner = layer.self_attn if mod in ("q", "k", "v", "o") else layer.mlp
            lin = getattr(owner, PEFT_TARGET[mod])
            a = lin.lora_A["default"].weight
            r, inp = a.shape
            u = np.array(rng.uniforms(r * inp), dtype=np.float64)
            # The engine computes in doubles and stores float32: the same operations, the same rounding.
            vals = (u * 2 - 1) * (1 / math.sqrt(inp))
            with torch.no_grad():
                a.copy_(torch.from_numpy(vals.astype(np.float32)).view(r, inp))


def engine_prefix_init(config, n_virtual: int, seed: int) -> torch.Tensor:
    """The engine's prefix draws (llama-model.ts applyMethod: per layer, k and v values alternately, N(0, 0.02^2)
    from Rng(seed)) in PEFT's PREFIX_TUNING layout [P, layers * 2 * kv_heads * head_dim]: for each virtual token,
    per layer the key prefix (slot 2l) then the value prefix (slot 2l+1), as src/model-files/peft.ts exports it.
    Key prefixes are permuted within each head from the engine's interleaved rotary order to HF's half-split order,
    the permutation HF applies to q and k weights, so q.k is the same number on both sides."""
    import numpy as np

    from .rng import Rng

    layers, kvh = config.num_hidden_layers, config.num_key_value_heads
    d = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kw = kvh * d
    rng = Rng(seed)
    out = np.zeros((n_virtual, layers * 2 * kw), dtype=np.float32)
    half = d // 2
    # engine index h*D + 2i + j goes to HF index h*D + j*half + i (llama-layout.ts engineToHfRows)
    perm = np.empty(kw, dtype=np.int64)
    for h in range(kvh):
        for i in range(half):
            for j in range(2):
                perm[h * d + j * half + i] = h * d + 2 * i + j
    for l in range(layers):
        k = np.empty(n_virtual * kw, dtype=np.float64)
        v = np.empty(n_virtual * kw, dtype=np.float64)
        for i in range(n_virtual * kw):
            k[i] = rng.normal() * 0.02
            v[i] = rng.normal() * 0.02
        k32 = k.astype(np.float32).reshape(n_virtual, kw)[:, perm]
        out[:, 2 * l * kw:(2 * l + 1) * kw] = k32
        out[:, (2 * l + 1) * kw:(2 * l + 2) * kw] = v.astype(np.float32).reshape(n_virtual, kw)
    return torch.from_numpy(out)


def apply_method(model: torch.nn.Module, method: Dict, seed: int, init: bool = True) -> torch.nn.Module:
    """Installs the method; returns the model to train (a PeftModel for LoRA). The engine seeds method init with
    seed + 1. `init` False skips drawing initial adapter values (a resumed job loads them from its checkpoint)."""
    t = method["type"]
    if t == "full":
        for p in model.parameters():
            p.requires_grad_(True)
        return model
    if t == "freeze":
        n_layers = model.config.num_hidden_layers
        for name, p in model.named_parameters():
            p.requires_grad_(freeze_trainable(name, n_layers, method))
        if not any(p.requires_grad for p in model.parameters()):
            from .spec import JobSpecError
            raise JobSpecError(f"job spec: method freeze {method} trains no parameter of this {n_layers}-layer model")
        return model
    if t == "lora":
        from peft import LoraConfig, get_peft_model

        torch.manual_seed(seed + 1)
        cfg = LoraConfig(
            r=method["rank"], lora_alpha=method["alpha"], lora_dropout=method["dropout"],
            target_modules=[PEFT_TARGET[m] for m in method["targets"]], use_rslora=method["rslora"],
            bias="none", task_type="CAUSAL_LM",
        )
        peft_model = get_peft_model(model, cfg)
        if init:
            engine_lora_init(peft_model, method, seed + 1)
        return peft_model
    if t == "prompt":
        from peft import PromptTuningConfig, PromptTuningInit, get_peft_model

        from .rng import Rng

        n = method["numVirtualTokens"]
        emb = model.get_input_embeddings().weight
        peft_model = get_peft_model(model, PromptTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=n,
                                                              prompt_tuning_init=PromptTuningInit.RANDOM))
        if init:
            rng = Rng(seed + 1)
            ids = [rng.int(model.config.vocab_size) for _ in range(n)]
            with torch.no_grad():
                peft_model.prompt_encoder["default"].embedding.weight.copy_(emb[torch.tensor(ids)])
        return peft_model
    if t == "prefix":
        from peft import PrefixTuningConfig, get_peft_model

        peft_model = get_peft_model(model, PrefixTuningConfig(task_type="CAUSAL_LM", num_virtual_tokens=method["numVirtualTokens"],
                                                              prefix_projection=False))
        if init:
            with torch.no_grad():
                peft_model.prompt_encoder["default"].embedding.weight.copy_(engine_prefix_init(model.config, method["numVirtualTokens"], seed + 1))
        return peft_model
    raise ValueError(f"apply_method: unsupported method {t}")


def trainable(model: torch.nn.Module) -> List[Tuple[str, torch.nn.Parameter]]:
    return [(n, p) for n, p in model.named_parameters() if p.requires_grad]


def numel(p: torch.Tensor) -> int:
    """A parameter's elements, whole even when ZeRO-3 has partitioned it (its own tensor is then empty)."""
    return int(getattr(p, "ds_numel", 0) or p.numel())


def base_param_count(model: torch.nn.Module) -> int:
    """Parameters of the base model (adapter tensors excluded; tied embeddings once), the engine's parameterCount."""
    return sum(numel(p) for n, p in model.named_parameters() if "lora_" not in n and not n.startswith("prompt_encoder."))


def prefix_tokens(method: Dict) -> int:
    """Key/value rows prefix tuning puts before every sequence in every layer (no rows of output)."""
    return method["numVirtualTokens"] if method["type"] == "prefix" else 0


def virtual_tokens(method: Dict) -> int:
    """Rows a method puts before every sequence (prompt tuning), which the loss never scores."""
    return method["numVirtualTokens"] if method["type"] == "prompt" else 0
