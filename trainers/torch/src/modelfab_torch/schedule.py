"""Step counts and the learning-rate curve, as the engine computes them (src/engine/optim.ts lrAt, train.ts).

The hyperparameters must mean the same in both trainers, so these are the engine's formulas (which are Hugging
Face's get_*_schedule_with_warmup, with the progress clamped at 1 past the last step) rather than torch's
LambdaLR: the learning rate of step k is a pure function of k, so resuming needs no scheduler object to restore.
"""
from __future__ import annotations

import math
from typing import Optional

SCHEDULES = ("cosine", "linear", "constant")


def js_round(x: float) -> int:
    """Math.round: halves go up (Python's round goes to even)."""
    return math.floor(x + 0.5)


def total_steps(n_examples: int, batch_size: int, grad_accum: int, epochs: Optional[int], max_steps: Optional[int]) -> int:
    if max_steps:
        return max_steps
    per_epoch = max(1, n_examples // (batch_size * grad_accum))
    return per_epoch * (epochs if epochs is not None else 1)


def warmup_steps(total: int, steps: Optional[int], ratio: Optional[float]) -> int:
    return steps if steps is not None else js_round((ratio or 0) * total)


def lr_at(step: int, lr: float, warmup: int, total: int, schedule: str, min_lr_ratio: float = 0.0) -> float:
    """The learning rate of the update with 0-based index `step` (see the engine's lrAt for the formula)."""
    w, t, r = warmup, total, min_lr_ratio
    if not (w >= 0 and t >= 0 and 0 <= r <= 1 and lr >= 0):
        raise ValueError(f"lr_at: need warmup >= 0, total >= 0, 0 <= min_lr_ratio <= 1, lr >= 0; got {w}, {t}, {r}, {lr}")
    if schedule not in SCHEDULES:
        raise ValueError(f"lr_at: unknown schedule {schedule!r}")
    if step < w:
        return lr * (step / max(1, w))
    if schedule == "constant":
        return lr
    span = max(1, t - w)
    if schedule == "cosine":
        factor = 0.5 * (1 + math.cos(math.pi * min(1, (step - w) / span)))
    else:
        factor = max(0, (t - step) / span)
    return lr * max(0, factor * (1 - r) + r)
