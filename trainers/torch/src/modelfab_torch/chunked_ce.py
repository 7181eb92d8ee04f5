"""Cross-entropy and label log-probs that never hold the whole [tokens x vocabulary] logits.

A 2,048-token sequence of a model with a 152k vocabulary (Qwen2.5) has 311M logits: 1.2 GB in fp32, and as much
again for their gradient, per sequence of the micro-batch. The loss here is taken over chunks of positions: each
chunk's logits are made from the final hidden states and the output matrix, reduced to a summed cross-entropy, and
recomputed in the backward pass (torch.utils.checkpoint), so at most one chunk of logits exists at a time.

The hidden states are the output of the decoder's final norm, caught by a forward hook while the model is asked for
the logits of the last position only (transformers' `logits_to_keep=1`), which works the same through PEFT's
wrappers (prompt and prefix tuning included).
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .chat import IGNORE_INDEX

# Logits of more elements than this (per micro-batch) are taken in chunks; below it the plain path is as fast.
CHUNK_ABOVE_ELEMENTS = 1 << 26  # 64M: 256 MB of fp32 logits
CHUNK_POSITIONS = 1024


def _chunk_loss(h: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    logits = F.linear(h, weight, bias).float()
    return F.cross_entropy(logits, y, ignore_index=IGNORE_INDEX, reduction="sum")


def chunked_ce_sum(hidden: torch.Tensor, labels: torch.Tensor, head: torch.nn.Linear, chunk: int = CHUNK_POSITIONS) -> torch.Tensor:
    """Sum of the cross-entropy over the scored positions: hidden [N, H], labels [N] (IGNORE_INDEX unscored)."""
    total = hidden.new_zeros((), dtype=torch.float32)
    for i in range(0, hidden.shape[0], chunk):
        y = labels[i:i + chunk]
        if not bool((y != IGNORE_INDEX).any()):
            continue
        total = total + checkpoint(_chunk_loss, hidden[i:i + chunk], y, head.weight, head.bias, use_reentrant=False)
    return total


def _chunk_logps(h: torch.Tensor, y: torch.Tensor, weight: torch.Tensor, bias: Optional[torch.Tensor]) -> torch.Tensor:
    logp = F.log_softmax(F.linear(h, weight, bias).float(), dim=-1)
    return logp.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1) * (y != IGNORE_INDEX)


def chunked_label_logps(hidden: torch.Tensor, labels: torch.Tensor, head: torch.nn.Linear, chunk: int = CHUNK_POSITIONS) -> torch.Tensor:
    """log p(label) at every position [N] (0 where unscored), for the preference stage's sequence log-probs."""
    parts = []
    for i in range(0, hidden.shape[0], chunk):
        y = labels[i:i + chunk]
        if not bool((y != IGNORE_INDEX).any()):
            parts.append(hidden.new_zeros(y.shape, dtype=torch.float32))
            continue
        parts.append(checkpoint(_chunk_logps, hidden[i:i + chunk], y, head.weight, head.bias, use_reentrant=False))
    return torch.cat(parts)


def _base(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model under PEFT's wrapper (or the model itself)."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def vocab_size(model: torch.nn.Module) -> int:
    return _base(model).config.vocab_size


def final_norm(model: torch.nn.Module) -> Optional[torch.nn.Module]:
    """The decoder's final norm of a transformers causal LM (PEFT-wrapped or not), or None when it has none known."""
    base = _base(model)
    decoder = base.get_decoder() if hasattr(base, "get_decoder") else None
    norm = getattr(decoder, "norm", None)
    return norm if isinstance(norm, torch.nn.Module) else None


def output_head(model: torch.nn.Module) -> Optional[torch.nn.Linear]:
    base = _base(model)
    head = base.get_output_embeddings() if hasattr(base, "get_output_embeddings") else None
    return head if isinstance(head, torch.nn.Linear) and type(head) is torch.nn.Linear else None


def hidden_states(run: Callable[[], object], norm: torch.nn.Module) -> torch.Tensor:
    """The final norm's output [B, T, H] while `run` calls the model (with logits_to_keep=1)."""
    caught = []
    handle = norm.register_forward_hook(lambda _m, _i, out: caught.append(out))
    try:
        run()
    finally:
        handle.remove()
    if len(caught) != 1:
        raise RuntimeError(f"chunked cross-entropy: the final norm ran {len(caught)} times in one forward")
    return caught[0]
