"""The engine's random numbers (src/engine/rng.ts), bit for bit, for what must agree between the two trainers.

The example order of every epoch is a permutation the engine draws from (seed, epoch) with xoshiro128** seeded
through splitmix32; drawing the same permutation here means the two trainers see the same batches in the same
order, which the parity checks (same first-step loss, same loss curve) depend on. Arithmetic follows JavaScript:
32-bit wrapping multiplies (Math.imul), ToUint32 conversions, and doubles for uniform().
"""
from __future__ import annotations

import math
from typing import List, Optional, Sequence, TypeVar, Union

_M32 = 0xFFFFFFFF
T = TypeVar("T")


def to_uint32(x: Union[int, float]) -> int:
    """JavaScript's `x >>> 0` for a finite number: the integer part modulo 2^32."""
    if isinstance(x, float):
        if not math.isfinite(x):
            return 0
        x = int(x)  # truncates toward zero, as ToUint32 does
    return x & _M32


def _imul(a: int, b: int) -> int:
    return (a * b) & _M32


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


class Rng:
    """xoshiro128**; `Rng(seed)` draws exactly what `new Rng(seed)` draws in the engine."""

    def __init__(self, seed: Union[int, float, Sequence[int]] = 0) -> None:
        self.spare: Optional[float] = None  # normal()'s second Box-Muller value, as the engine keeps it
        if isinstance(seed, (int, float)):
            x = to_uint32(seed)
            s = []
            for _ in range(4):
                x = (x + 0x9E3779B9) & _M32
                z = x
                z = _imul(z ^ (z >> 16), 0x85EBCA6B)
                z = _imul(z ^ (z >> 13), 0xC2B2AE35)
                s.append((z ^ (z >> 16)) & _M32)
            if (s[0] | s[1] | s[2] | s[3]) == 0:
                s[0] = 1
            self.s = s
        else:
            if len(seed) not in (4, 5):
                raise ValueError(f"Rng: state must have 4 or 5 words, got {len(seed)}")
            self.s = [int(w) & _M32 for w in seed[:4]]

    def state(self) -> List[int]:
        return list(self.s)

    def next_u32(self) -> int:
        s = self.s
        result = _imul(_rotl(_imul(s[1], 5), 7), 9)
        t = (s[1] << 9) & _M32
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 11)
        return result

    def uniform(self) -> float:
        return self.next_u32() / 4294967296

    def normal(self) -> float:
        """Standard normal by Box-Muller, the second value kept for the next call (the engine's normal())."""
        if self.spare is not None:
            v, self.spare = self.spare, None
            return v
        u = 0.0
        while u == 0:
            u = self.uniform()
        v = self.uniform()
        r = math.sqrt(-2 * math.log(u))
        self.spare = r * math.sin(2 * math.pi * v)
        return r * math.cos(2 * math.pi * v)

    def uniforms(self, n: int) -> List[float]:
        """n draws of uniform(), in order; the loop of next_u32 inlined (initialising large LoRA matrices)."""
        s0, s1, s2, s3 = self.s
        out = [0.0] * n
        m = _M32
        for i in range(n):
            x = (s1 * 5) & m
            x = ((x << 7) | (x >> 25)) & m
            out[i] = ((x * 9) & m) / 4294967296
            t = (s1 << 9) & m
            s2 ^= s0
            s3 ^= s1
            s1 ^= s2
            s0 ^= s3
            s2 ^= t
            s3 = ((s3 << 11) | (s3 >> 21)) & m
        self.s = [s0, s1, s2, s3]
        return out

    def int(self, n: int) -> int:
        return math.floor(self.uniform() * n)

    def shuffle(self, a: List[T]) -> List[T]:
        for i in range(len(a) - 1, 0, -1):
            j = self.int(i + 1)
            a[i], a[j] = a[j], a[i]
        return a


def epoch_order(n: int, seed: int, epoch: int) -> List[int]:
    """The engine's `epochOrder`: the permutation of n examples for (seed, epoch)."""
    # JavaScript evaluates seed * 1000003 + epoch * 7919 in doubles before `>>> 0`; so do we, to agree on huge seeds.
    mixed = to_uint32(float(seed) * 1000003.0 + float(epoch) * 7919.0)
    return Rng(mixed).shuffle(list(range(n)))
