"""Tiny models made in the test (nothing downloaded): a byte-level BPE tokenizer with the ChatML tokens, and a
random Llama with hidden size 32 and 2 layers, saved as a Hugging Face folder; and helpers that write a job and
run the trainer the way the scheduler does."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

TEXTS = [
    "The harbour office opens at eight and closes at five.",
    "Spruce Systems ships its routers from the northern warehouse.",
    "A support ticket is answered within two working days.",
    "Refunds are paid back to the card that was charged.",
    "The quarterly report lists revenue, costs and the head count.",
    "Engineers rotate on call every second week.",
] * 3

CHATS = [
    [{"role": "user", "content": "When does the office open?"}, {"role": "assistant", "content": "At eight in the morning."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Where do routers ship from?"},
     {"role": "assistant", "content": "The northern warehouse."}],
    [{"role": "user", "content": "How fast are tickets answered?"}, {"role": "assistant", "content": "I am not sure.", "weight": 0},
     {"role": "user", "content": "Please check."}, {"role": "assistant", "content": "Within two working days."}],
    [{"role": "user", "content": "Where do refunds go?"}, {"role": "assistant", "content": "Back to the charged card."}],
    [{"role": "user", "content": "What is in the report?"}, {"role": "assistant", "content": "Revenue, costs and head count."}],
    [{"role": "user", "content": "Who is on call?"}, {"role": "assistant", "content": "Engineers, every second week."}],
]

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


# Preference lines as the factory normalises them: the prompt, then the chosen and the rejected reply.
PAIRS = [{"messages": c[:-1], "chosen": c[-1], "rejected": {"role": "assistant", "content": r}}
         for c, r in zip(CHATS, ["No.", "Go away, I will not say.", "Never ever.", "Nobody knows.", "Somewhere else.", "Who cares?"])]


def make_tokenizer(folder: Path) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=360, special_tokens=SPECIALS, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    corpus = TEXTS + [m["content"] for c in CHATS for m in c]
    tok.train_from_iterator(corpus, trainer)
    tok.save(str(folder / "tokenizer.json"))
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>", "bos_token": None, "add_bos_token": False,
        "tokenizer_class": "PreTrainedTokenizerFast",
    }))


def make_model(folder: Path, vocab: int, seed: int = 0, tie: bool = False) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=256, tie_word_embeddings=tie, rms_norm_eps=1e-5)
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(str(folder), safe_serialization=True)


@pytest.fixture(scope="session")
def base_model(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("base") / "tiny-llama"
    folder.mkdir()
    make_tokenizer(folder)
    from tokenizers import Tokenizer

    make_model(folder, Tokenizer.from_file(str(folder / "tokenizer.json")).get_vocab_size())
    return folder


def write_jsonl(path: Path, rows: List[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def make_job(job_dir: Path, base: Path, stage: str = "sft", method: Optional[Dict] = None, **hp: Any) -> Path:
    """Writes <job_dir>/job.json and its data as the factory materialises them; returns the job.json path."""
    data = job_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    kind = {"pretrain": "pretrain", "sft": "sft", "dpo": "preference"}[stage]
    rows = {"pretrain": [{"text": t} for t in TEXTS], "sft": [{"messages": c} for c in CHATS], "preference": PAIRS}[kind]
    write_jsonl(data / "train.jsonl", rows)
    write_jsonl(data / "validation.jsonl", rows[:3])
    hyper = {"batchSize": 2, "lr": 1e-2, "seqLen": 32, "maxSteps": 6, "checkpointEvery": 2, "evalEvery": 3, "warmupSteps": 1}
    hyper.update(hp)
    spec = {
        "version": 1, "id": "ftjob-test", "name": "tiny x test", "stage": stage,
        "base": {"kind": "hf", "path": str(base)}, "method": method or {"type": "full"},
        "data": {"train": {"path": str(data / "train.jsonl"), "kind": kind},
                 "validation": {"path": str(data / "validation.jsonl"), "kind": kind}},
        "hyperparameters": hyper, "seed": 7, "outputDir": str(job_dir), "threads": 1,
    }
    path = job_dir / "job.json"
    path.write_text(json.dumps(spec, indent=2))
    return path


def read_jsonl(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def trainer_cmd(job: Path) -> List[str]:
    return [sys.executable, "-m", "modelfab_torch", str(job)]


def trainer_env() -> Dict[str, str]:
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def run_trainer(job: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(trainer_cmd(job), env=trainer_env(), capture_output=True, text=True, timeout=timeout)
