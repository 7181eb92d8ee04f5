"""Training examples from the job's normalised JSON Lines, as the engine builds them (src/engine/batches.ts).

An example is (ids, labels) with the labels already shifted: labels[i] is the token that follows ids[i], or
IGNORE_INDEX where no loss is taken. Pretraining cuts one token stream (each text, then EOS) into windows of
seqLen + 1 tokens; SFT renders one chat per example through the chat template and keeps its label mask, truncated
to seqLen + 1 tokens, and drops a chat with nothing left to score. Batches pad on the right to the longest example
rounded up to a multiple of 8, which is safe under the causal mask and gives the engine's exact batches.
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
