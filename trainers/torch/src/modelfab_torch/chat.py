"""Chat templates and SFT labels, the engine's (src/engine/tokenizer/chat-template.ts) rule for rule.

A turn is prefix(role) + content + end + separator. Each piece is encoded on its own: template text with special
tokens recognised, message content with them read as plain text (so "<|im_end|>" typed by a user stays text).
Labels train the assistant content and the end token that closes it, unless the message has weight 0; everything
else is IGNORE_INDEX. Both trainers must produce the same ids for the same records: the tokenizer is the model
folder's tokenizer.json (the one the engine writes), read by Hugging Face `tokenizers`.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from tokenizers import Tokenizer

IGNORE_INDEX = -100
ROLES = ("system", "user", "assistant", "tool")


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    bos: str
    prefix: Dict[str, str]
    end: str
    separator: str
    trim_content: bool
    default_system: Optional[str]
    requires: Tuple[str, ...]
    # Tokens that end generation, and the same template in Jinja (what HF's tokenizer_config.json stores).
    stop: Tuple[str, ...]
    jinja: str


def _prefixes(f) -> Dict[str, str]:
    return {r: f(r) for r in ROLES}


_CHATML_JINJA = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_QWEN2_JINJA = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
_LLAMA3_JINJA = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}"
    "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

CHAT_TEMPLATES: Dict[str, ChatTemplate] = {
    "chatml": ChatTemplate("chatml", "", _prefixes(lambda r: f"<|im_start|>{r}\n"), "<|im_end|>", "\n", False, None,
                           ("<|im_start|>", "<|im_end|>"), ("<|im_end|>",), _CHATML_JINJA),
    "qwen2": ChatTemplate("qwen2", "", _prefixes(lambda r: f"<|im_start|>{r}\n"), "<|im_end|>", "\n", False,
                          "You are a helpful assistant.", ("<|im_start|>", "<|im_end|>"), ("<|im_end|>", "<|endoftext|>"),
                          _QWEN2_JINJA),
    "llama3": ChatTemplate("llama3", "<|begin_of_text|>", _prefixes(lambda r: f"<|start_header_id|>{r}<|end_header_id|>\n\n"),
                           "<|eot_id|>", "", True, None,
                           ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
                           ("<|eot_id|>", "<|end_of_text|>"), _LLAMA3_JINJA),
}


class ChatError(ValueError):
    """A message the template cannot render (the caller names the file and line)."""


class TextTokenizer:
    """A model folder's tokenizer.json with the engine's two encodings and its bos/eos/pad ids."""

    def __init__(self, folder: str) -> None:
        path = os.path.join(folder, "tokenizer.json")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: not found (a Hugging Face model folder needs its tokenizer.json)")
        self.tok = Tokenizer.from_file(path)
        cfg: Dict[str, object] = {}
        cfg_path = os.path.join(folder, "tokenizer_config.json")
        if os.path.exists(cfg_path):
            with open(cfg_path, encoding="utf-8") as f:
                cfg = json.load(f)
        # As the engine's importer does: bos/eos/pad are named in tokenizer_config.json, as text or AddedToken.
        self.bos_id = self._id_of(cfg.get("bos_token"))
        self.eos_id = self._id_of(cfg.get("eos_token"))
        self.pad_id = self._id_of(cfg.get("pad_token"))

    def _id_of(self, value: object) -> Optional[int]:
        if value is None:
            return None
        content = value if isinstance(value, str) else value.get("content") if isinstance(value, dict) else None
        return None if content is None else self.tok.token_to_id(content)

    def encode(self, text: str, allow_special: bool = False) -> List[int]:
        # encode_special_tokens=True reads special tokens as plain text (the engine's allowSpecial false); added
        # (non-special) tokens stay atomic either way, in both implementations.
        self.tok.encode_special_tokens = not allow_special
        return self.tok.encode(text, add_special_tokens=False).ids

    def has_token(self, text: str) -> bool:
        return self.tok.token_to_id(text) is not None

    @property
    def vocab_size(self) -> int:
        return self.tok.get_vocab_size(with_added_tokens=True)


# JavaScript's String.prototype.trim set (WhiteSpace and LineTerminator): Python's str.strip differs on a few
# characters (it strips \x1c-\x1f and \x85, keeps \ufeff), which would change Llama 3's trimmed content.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def js_trim(s: str) -> str:
    return s.strip(_JS_SPACE)


def _segments(messages: Sequence[dict], t: ChatTemplate) -> List[Tuple[str, bool, bool]]:
    """(text, is_template_text, trained) pieces of a conversation, in order."""
    out: List[Tuple[str, bool, bool]] = []
    msgs = list(messages)
    if t.default_system is not None and msgs and msgs[0].get("role") != "system":
        msgs = [{"role": "system", "content": t.default_system}] + msgs
    if msgs and t.bos:
        out.append((t.bos, True, False))
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise ChatError(f"chat message {i}: must be an object")
        role = m.get("role")
        if role not in t.prefix:
            raise ChatError(f"chat message {i}: unknown role {json.dumps(role)}")
        content = m.get("content")
        if not isinstance(content, str):
            raise ChatError(f"chat message {i}: content must be a string")
        weight = m.get("weight")
        if weight is not None and (weight not in (0, 1) or isinstance(weight, bool)):
            raise ChatError(f"chat message {i}: weight must be 0 or 1")
        trained = role == "assistant" and weight != 0
        out.append((t.prefix[role], True, False))
        out.append((js_trim(content) if t.trim_content else content, False, trained))
        out.append((t.end, True, trained))
        if t.separator:
            out.append((t.separator, True, False))
    return out


def check_template(tok: TextTokenizer, template: str) -> None:
    t = CHAT_TEMPLATES[template]
    missing = [s for s in t.requires if not tok.has_token(s)]
    if missing:
        raise ChatError(f"chat template {template} needs the token(s) {', '.join(missing)}, which the tokenizer lacks")


def encode_chat(tok: TextTokenizer, messages: Sequence[dict], template: str = "chatml") -> Tuple[List[int], List[int]]:
    """Token ids and unshifted labels (IGNORE_INDEX where untrained) of a conversation."""
    t = CHAT_TEMPLATES[template]
    check_template(tok, template)
    ids: List[int] = []
    labels: List[int] = []
    for text, is_template, trained in _segments(messages, t):
        if not text:
            continue
        seg = tok.encode(text, allow_special=is_template)
        ids.extend(seg)
        labels.extend(seg if trained else [IGNORE_INDEX] * len(seg))
    return ids, labels
