"""Training examples from the job's normalised JSON Lines, as the engine builds them (src/engine/batches.ts).

An example is (ids, labels) with the labels already shifted: labels[i] is the token that follows ids[i], or
IGNORE_INDEX where no loss is taken. Pretraining cuts one token stream (each text, then EOS) into windows of
seqLen + 1 tokens; SFT renders one chat per example through the chat template and keeps its label mask, truncated
to seqLen + 1 tokens, and drops a chat with nothing left to score. Batches pad on the right to the longest example
rounded up to a multiple of 8, which is safe under the causal mask and gives the engine's exact batches.

With packing, a micro-batch's examples share rows instead (first fit, longest first, each row at most seqLen tokens
or the longest example): position ids restart at 0 for every example, from which transformers builds a
block-diagonal causal mask (SDPA and eager) or varlen flash-attention, so no example attends to another. Labels are
already shifted within each example, so the loss sums exactly the tokens it sums unpacked, over fewer pad tokens.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import torch

from .chat import IGNORE_INDEX, ChatError, TextTokenizer, check_template, encode_chat
from .spec import JobSpecError


@dataclass
class Example:
    ids: List[int]
    labels: List[int]


def read_jsonl(path: str) -> List[Any]:
    """Every line of a JSON Lines file; a bad line is a JobSpecError naming the file and line."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
    except FileNotFoundError:
        raise JobSpecError(f"{path}: data file not found") from None
    except UnicodeDecodeError as e:
        raise JobSpecError(f"{path}: not UTF-8 text ({e})") from None
    out = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise JobSpecError(f"{path}:{i + 1}: invalid JSON ({e})") from None
    return out


def pretrain_examples(tokens: Sequence[int], seq_len: int, stride: Optional[int] = None) -> List[Example]:
    stride = stride or seq_len
    out: List[Example] = []
    s = 0
    while s + 1 < len(tokens):
        end = min(s + seq_len + 1, len(tokens))
        if end - s < 2:
            break
        w = list(tokens[s:end])
        out.append(Example(w[:-1], w[1:]))
        if end == len(tokens):
            break
        s += stride
    return out


def masked_example(ids: Sequence[int], mask: Sequence[int], seq_len: int) -> Optional[Example]:
    n = min(len(ids), seq_len + 1)
    if n < 2:
        return None
    x = list(ids[: n - 1])
    y = [ids[i + 1] if mask[i + 1] else IGNORE_INDEX for i in range(n - 1)]
    return Example(x, y) if any(l != IGNORE_INDEX for l in y) else None


def load_examples(path: str, kind: str, tok: TextTokenizer, seq_len: int, template: str) -> List[Example]:
    rows = read_jsonl(path)
    if kind == "pretrain":
        ids: List[int] = []
        for i, r in enumerate(rows):
            if not isinstance(r, dict) or not isinstance(r.get("text"), str):
                raise JobSpecError(f'{path}:{i + 1}: a pretraining line needs "text"')
            ids.extend(tok.encode(r["text"]))
            if tok.eos_id is not None:
                ids.append(tok.eos_id)
        return pretrain_examples(ids, seq_len)
    if kind == "sft":
        try:
            check_template(tok, template)
        except ChatError as e:
            raise JobSpecError(str(e)) from None
        out: List[Example] = []
        for i, r in enumerate(rows):
            if not isinstance(r, dict) or not isinstance(r.get("messages"), list):
                raise JobSpecError(f'{path}:{i + 1}: an SFT line needs "messages"')
            try:
                enc_ids, labels = encode_chat(tok, r["messages"], template)
            except ChatError as e:
                raise JobSpecError(f"{path}:{i + 1}: {e}") from None
            e = masked_example(enc_ids, [0 if l == IGNORE_INDEX else 1 for l in labels], seq_len)
            if e:
                out.append(e)
        return out
    raise JobSpecError(f"data kind {kind!r} is not read by the torch trainer yet")


def collate(examples: Sequence[Example], pad_id: int, multiple: int = 8) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """(ids [B, T], labels [B, T], real tokens) with T the longest example rounded up to `multiple`."""
    t = max(len(e.ids) for e in examples)
    t = -(-t // multiple) * multiple
    ids = torch.full((len(examples), t), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), t), IGNORE_INDEX, dtype=torch.long)
    tokens = 0
    for b, e in enumerate(examples):
        ids[b, : len(e.ids)] = torch.tensor(e.ids, dtype=torch.long)
        labels[b, : len(e.labels)] = torch.tensor(e.labels, dtype=torch.long)
        tokens += len(e.ids)
    return ids, labels, tokens


def pack_rows(lengths: Sequence[int], capacity: int) -> List[List[int]]:
    """Example indices per row: first fit over the examples longest first (ties in order), rows of at most
    `capacity` tokens (an example longer than that gets a row of its own)."""
    rows: List[List[int]] = []
    room: List[int] = []
    for i in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        n = lengths[i]
        for r in range(len(rows)):
            if room[r] >= n:
                rows[r].append(i)
                room[r] -= n
                break
        else:
            rows.append([i])
            room.append(capacity - n)
    return rows


def collate_packed(examples: Sequence[Example], pad_id: int, capacity: int,
                   multiple: int = 8) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor, int]:
    """(ids [R, T], labels [R, T], position_ids [R, T], real tokens): the examples packed into R rows (pack_rows),
    each example's positions numbered from 0; padding, at the end of a row, numbered as one more sequence."""
    rows = pack_rows([len(e.ids) for e in examples], capacity)
    width = max(sum(len(examples[i].ids) for i in r) for r in rows)
    width = -(-width // multiple) * multiple
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), IGNORE_INDEX, dtype=torch.long)
    pos = torch.zeros((len(rows), width), dtype=torch.long)
    tokens = 0
    for b, r in enumerate(rows):
        at = 0
        for i in r:
            e = examples[i]
            n = len(e.ids)
            ids[b, at:at + n] = torch.tensor(e.ids, dtype=torch.long)
            labels[b, at:at + n] = torch.tensor(e.labels, dtype=torch.long)
            pos[b, at:at + n] = torch.arange(n)
            at += n
            tokens += n
        pos[b, at:] = torch.arange(width - at)
    return ids, labels, pos, tokens
