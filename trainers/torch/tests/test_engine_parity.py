"""The same job on both trainers: the engine (TypeScript, run through node) and this one.

A tiny random model made by the engine and exported by its Hugging Face writer (src/formats/hf-folder.ts) is the
base; the same job.json (same data, seed and hyperparameters, fp32 on CPU) runs on the engine's worker and on the
torch trainer. Checked: the token ids and labels of every record under every chat template, the first step's loss
(relative difference <= 1e-4) and the loss curve (within 1%). Skipped, saying why, where node or the repository's
node_modules are missing (the Python package alone, outside the repository)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import read_jsonl, write_jsonl
from modelfab_torch.chat import TextTokenizer, encode_chat
from modelfab_torch.spec import validate_job_spec
from modelfab_torch.worker import run_job

REPO = Path(__file__).resolve().parents[3]
HELPER = Path(__file__).resolve().parent / "engine" / "make-parity-model.ts"
STEP1_REL = 1e-4
CURVE_REL = 0.01

TEXTS = [
    "Hello world, it's 2026! The harbour office opens at eight.",
    "  leading spaces and\n\nnewlines\t\ttabs, then the warehouse ships routers.",
    "中文测试：模型工厂把数据变成模型。",
    "emoji 🚀 and <|im_end|> inside plain text stay text.",
    "numbers 1234567 and 3.14159; refunds go back to the card.",
    "Engineers rotate on call every second week, don't they?",
] * 2
CHATS = [
    [{"role": "user", "content": "hi <|im_end|> there"}, {"role": "assistant", "content": "  Hello!  "}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "\n\nWhy?"},
     {"role": "assistant", "content": "Because.", "weight": 0}, {"role": "user", "content": "again"},
     {"role": "assistant", "content": "No 中文, sorry."}],
    [{"role": "user", "content": "When does the office open?"}, {"role": "assistant", "content": "At eight in the morning."}],
    [{"role": "user", "content": "Where do routers ship from?"}, {"role": "assistant", "content": "The northern warehouse."}],
    [{"role": "user", "content": "Who is on call?"}, {"role": "assistant", "content": "Engineers, every second week."}],
    [{"role": "user", "content": "Where do refunds go?"}, {"role": "assistant", "content": "Back to the card 🚀."}],
]


def _engine_missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not (REPO / "node_modules" / "tsx").exists() or not (REPO / "src" / "factory" / "engine-worker-main.ts").exists():
        return f"{REPO} is not a modelfab checkout with node_modules"
    return None


pytestmark = pytest.mark.skipif(_engine_missing() is not None, reason=f"engine parity: {_engine_missing()}")


def node(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["node", "--import", "tsx", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def engine_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("parity")
    (d / "input.json").write_text(json.dumps({"texts": TEXTS, "chats": CHATS, "seed": 5}))
    r = node(str(HELPER), str(d / "made"), str(d / "input.json"))
    assert r.returncode == 0, r.stderr
    return d / "made"


def test_the_same_token_ids_and_labels(engine_model):
    ref = json.loads((engine_model / "engine-ids.json").read_text())
    tok = TextTokenizer(str(engine_model / "base"))
    assert tok.vocab_size == ref["vocabSize"]
    assert [tok.encode(t) for t in TEXTS] == ref["pretrain"]
    for template, encoded in ref["chats"].items():
        for chat, want in zip(CHATS, encoded):
            ids, labels = encode_chat(tok, chat, template)
            assert ids == want["ids"], (template, chat)
            assert labels == want["labels"], (template, chat)


def test_transformers_reads_the_engines_export_with_its_logits(engine_model):
    import torch
    from transformers import AutoModelForCausalLM

    ref = json.loads((engine_model / "engine-ids.json").read_text())["logits"]
    model = AutoModelForCausalLM.from_pretrained(str(engine_model / "base"), dtype=torch.float32).eval()
    with torch.no_grad():
        got = model(input_ids=torch.tensor([ref["ids"]])).logits[0]
    want = torch.tensor(ref["values"], dtype=torch.float32).view(got.shape)
    diff = (got - want).abs().max().item()
    print(f"hf_logit_max {diff:.3g}")
    assert diff <= 1e-4


def _job(folder: Path, base: Path, stage: str, method: dict, **hp) -> Path:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    kind = "pretrain" if stage == "pretrain" else "sft"
    rows = [{"text": t} for t in TEXTS] if kind == "pretrain" else [{"messages": c} for c in CHATS]
    write_jsonl(data / "train.jsonl", rows)
    write_jsonl(data / "validation.jsonl", rows[:3])
    hyper = {"batchSize": 2, "lr": 2e-3, "seqLen": 48, "maxSteps": 24, "warmupSteps": 2, "schedule": "cosine",
             "checkpointEvery": 0, "evalEvery": 0}
    hyper.update(hp)
    spec = {"version": 1, "id": "parity", "name": "parity", "stage": stage, "base": {"kind": "hf", "path": str(base)},
            "method": method, "data": {"train": {"path": str(data / "train.jsonl"), "kind": kind},
                                       "validation": {"path": str(data / "validation.jsonl"), "kind": kind}},
            "hyperparameters": hyper, "seed": 11, "outputDir": str(folder / "out"), "threads": 1}
    path = folder / "job.json"
    path.write_text(json.dumps(spec))
    return path


def both(tmp_path: Path, base: Path, stage: str, method: dict, **hp):
    """(engine metrics, torch metrics, engine manifest, torch manifest) of the same job."""
    ej = _job(tmp_path / "engine", base, stage, method, **hp)
    r = node("src/factory/engine-worker-main.ts", str(ej))
    assert r.returncode == 0, r.stderr
    tj = _job(tmp_path / "torch", base, stage, method, **hp)
    assert run_job(validate_job_spec(json.loads(tj.read_text()))) == "succeeded"
    e_out, t_out = tmp_path / "engine" / "out", tmp_path / "torch" / "out"
    return (read_jsonl(e_out / "metrics.jsonl"), read_jsonl(t_out / "metrics.jsonl"),
            json.loads((e_out / "manifest.json").read_text()), json.loads((t_out / "manifest.json").read_text()))


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), 1e-12)


@pytest.mark.parametrize("stage, method, hp", [
    ("sft", {"type": "full"}, {}),
    ("sft", {"type": "full"}, {"gradAccum": 2, "maxSteps": 12, "weightDecay": 0.1, "schedule": "linear"}),
    ("pretrain", {"type": "full"}, {"maxSteps": 16}),
    ("sft", {"type": "freeze", "trainableLayers": 1, "trainableModules": ["attn", "norm"]}, {"maxSteps": 16}),
], ids=["sft-full", "sft-full-accum-decay", "pretrain-full", "sft-freeze"])
def test_same_first_step_and_curve(tmp_path, engine_model, stage, method, hp):
    em, tm, eman, tman = both(tmp_path, engine_model / "base", stage, method, **hp)
    assert [m["step"] for m in em] == [m["step"] for m in tm]
    assert rel(em[0]["loss"], tm[0]["loss"]) <= STEP1_REL, (em[0]["loss"], tm[0]["loss"])
    assert rel(eman["eval_loss_before"], tman["eval_loss_before"]) <= STEP1_REL
    for e, t in zip(em, tm):
        assert rel(e["lr"], t["lr"]) <= 1e-12 if e["lr"] else t["lr"] == 0
        assert rel(e["loss"], t["loss"]) <= CURVE_REL, (e["step"], e["loss"], t["loss"])
        assert rel(e["grad_norm"], t["grad_norm"]) <= CURVE_REL * 5, (e["step"], e["grad_norm"], t["grad_norm"])
    assert eman["trainable_params"] == tman["trainable_params"] and eman["total_params"] == tman["total_params"]
    assert rel(eman["eval_loss"], tman["eval_loss"]) <= CURVE_REL


@pytest.mark.parametrize("rslora", [False, True])
def test_lora_follows_the_same_curve(tmp_path, engine_model, rslora):
    # A is drawn by the engine's generator in both trainers and B starts at zero, so the runs are the same run.
    method = {"type": "lora", "rank": 4, "alpha": 8, "targets": ["q", "k", "v", "down"], "rslora": rslora, "dropout": 0}
    em, tm, eman, tman = both(tmp_path, engine_model / "base", "sft", method, maxSteps=20, lr=1e-2)
    assert rel(em[0]["loss"], tm[0]["loss"]) <= STEP1_REL
    assert rel(eman["eval_loss_before"], tman["eval_loss_before"]) <= STEP1_REL
    assert eman["trainable_params"] == tman["trainable_params"]
    for e, t in zip(em, tm):
        assert rel(e["loss"], t["loss"]) <= CURVE_REL, (e["step"], e["loss"], t["loss"])
    assert em[-1]["loss"] < em[0]["loss"] * 0.99  # it trained: the comparison is not between two flat lines
