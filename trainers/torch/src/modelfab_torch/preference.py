"""Preference training as the engine does it (src/engine/preference.ts, src/engine/ops/sequence.ts,
src/engine/train.ts preferenceObjective): DPO, ORPO and SimPO over chosen/rejected pairs.

A micro-batch of P pairs is one forward over 2P sequences [chosen_1..chosen_P, rejected_1..rejected_P]; each is
scored on its response tokens only, giving log pi(y|x) per sequence (the sum over its scored tokens) and the count
of those tokens. The losses, with the mean over pairs:

    DPO    -log sigma(beta * ((pi_c - ref_c) - (pi_r - ref_r)))       ref computed once, before training
    ORPO   -pi_c/|y_c| - lambda * log sigma(logodds_c - logodds_r)    logodds(m) = m - log(1 - e^m), m per token
    SimPO  -log sigma(beta * (pi_c/|y_c| - pi_r/|y_r|) - gamma)

The engine computes the per-sequence log-probs in float32 and the loss and its gradient in doubles; here the loss
is computed in float64 from the float32 log-probs too, so the two agree to float32 rounding.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .chat import IGNORE_INDEX
from .data import Example

DEFAULTS = {"dpo": {"beta": 0.1}, "simpo": {"beta": 2.0, "gamma": 0.5}, "orpo": {"lambda": 0.1}}
METRICS = ("reward_accuracy", "reward_margin", "reward_chosen", "reward_rejected")


@dataclass
class Pair:
    chosen: Example
    rejected: Example
    ref_chosen: Optional[float] = None
    ref_rejected: Optional[float] = None


def sequence_logps(logits: torch.Tensor, labels: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(sum of log p(label) over each sequence's scored positions [B], scored-token counts [B]) from logits
    [B, T, V] and labels [B, T] (IGNORE_INDEX where unscored)."""
    mask = labels != IGNORE_INDEX
    logp = F.log_softmax(logits.float(), dim=-1)
    picked = logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * mask).sum(-1), mask.sum(-1)


def _param(cfg: Dict, key: str) -> float:
    v = cfg.get(key)
    return DEFAULTS[cfg["loss"]][key] if v is None else float(v)


def preference_loss(logps: torch.Tensor, counts: torch.Tensor, cfg: Dict,
                    ref: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Dict[str, float]]:
    """(loss, stats) of P pairs from logps [2P] (chosen first, then rejected): the engine's preferenceLoss. `ref`
    [2P] holds the reference log-probs (DPO only). Stats use the engine's metric names."""
    p = logps.shape[0] // 2
    lp = logps.double()
    c, r = lp[:p], lp[p:]
    n = counts.double().clamp(min=1)
    nc, nr = n[:p], n[p:]
    loss_type = cfg["loss"]
    if loss_type == "dpo":
        if ref is None:
            raise RuntimeError("preference_loss: DPO needs reference log-probs")
        beta = _param(cfg, "beta")
        ref = ref.double().to(lp.device)
        rew_c, rew_r = beta * (c - ref[:p]), beta * (r - ref[p:])
        per = -F.logsigmoid(rew_c - rew_r)
    elif loss_type == "simpo":
        beta, gamma = _param(cfg, "beta"), _param(cfg, "gamma")
        rew_c, rew_r = beta * c / nc, beta * r / nr
        per = -F.logsigmoid(rew_c - rew_r - gamma)
    elif loss_type == "orpo":
        lam = _param(cfg, "lambda")
        mc, mr = c / nc, r / nr  # mean per-token log-probs (< 0)
        rew_c, rew_r = mc - torch.log(-torch.expm1(mc)), mr - torch.log(-torch.expm1(mr))
        per = -mc - lam * F.logsigmoid(rew_c - rew_r)
    else:
        raise ValueError(f"preference_loss: unknown loss {loss_type!r}")
    with torch.no_grad():
        d = rew_c - rew_r
        stats = {
            "loss": per.mean().item(), "reward_accuracy": (d > 0).double().mean().item(), "reward_margin": d.mean().item(),
            "reward_chosen": rew_c.mean().item(), "reward_rejected": rew_r.mean().item(),
        }
    return per.mean(), stats


def pair_batch(items: Sequence[Pair]) -> List[Example]:
    """The sequences of one forward: every chosen response, then every rejected one (the engine's pairLogps)."""
    return [p.chosen for p in items] + [p.rejected for p in items]


def ref_tensor(items: Sequence[Pair]) -> torch.Tensor:
    if any(p.ref_chosen is None or p.ref_rejected is None for p in items):
        raise RuntimeError("DPO: reference log-probs missing; compute them before training")
    return torch.tensor([p.ref_chosen for p in items] + [p.ref_rejected for p in items], dtype=torch.float64)


def load_pairs(path: str, tok, seq_len: int, template: str) -> List[Pair]:
    """Normalised preference lines {messages (the prompt), chosen: {role, content}, rejected: {role, content}}, each
    response rendered after the prompt as the assistant's turn and scored on that turn only (the engine's
    preferencePair); a pair whose either side has nothing left to score after truncation is dropped."""
    from .chat import ChatError, check_template, encode_chat
    from .data import masked_example, read_jsonl
    from .spec import JobSpecError

    try:
        check_template(tok, template)
    except ChatError as e:
        raise JobSpecError(str(e)) from None
    out: List[Pair] = []
    for i, r in enumerate(read_jsonl(path)):
        ok = (isinstance(r, dict) and isinstance(r.get("messages"), list)
              and isinstance(r.get("chosen"), dict) and isinstance(r["chosen"].get("content"), str)
              and isinstance(r.get("rejected"), dict) and isinstance(r["rejected"].get("content"), str))
        if not ok:
            raise JobSpecError(f"{path}:{i + 1}: a preference line needs messages, chosen.content and rejected.content")

        def one(answer: str) -> Optional[Example]:
            try:
                ids, labels = encode_chat(tok, [*r["messages"], {"role": "assistant", "content": answer}], template)
            except ChatError as e:
                raise JobSpecError(f"{path}:{i + 1}: {e}") from None
            return masked_example(ids, [0 if l == IGNORE_INDEX else 1 for l in labels], seq_len)

        c, rj = one(r["chosen"]["content"]), one(r["rejected"]["content"])
        if c and rj:
            out.append(Pair(c, rj))
    return out
