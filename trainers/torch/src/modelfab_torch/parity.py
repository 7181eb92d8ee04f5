"""The same job on the engine and on this trainer, compared: the machinery of the parity tests, and a report.

    python -m modelfab_torch.parity [--steps 50]

prints one line per method (first-step loss of each trainer, their relative difference, the largest relative
difference over the curve) and ends with one JSON line:
    {"bench": "torch", "methods": [...], "max_step1_rel": ..., "max_curve_dev": ..., "ddp_max_dev": ...,
     "hf_logit_max": ..., "peft_logit_max": ...}
ddp_max_dev: an SFT job under torchrun with 2 processes (gloo) against the same job in one process, the largest
relative difference of their loss curves; peft_logit_max: PEFT's forward with the engine's LoRA, prompt and prefix
adapters against the engine's logits. lm-eval's figure is not measured yet and is left out, not guessed.

The engine side runs through `node --import tsx` in the repository (this package lives in trainers/torch/ of the
checkout; MODELFAB_REPO overrides): its helper makes a tiny random model and exports it as a Hugging Face folder,
and its worker (src/factory/engine-worker-main.ts) runs the job.json this trainer runs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

REPO = Path(os.environ.get("MODELFAB_REPO") or Path(__file__).resolve().parents[4])
HELPER = REPO / "trainers" / "torch" / "tests" / "engine" / "make-parity-model.ts"

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

REJECTED = ["Go away.", "I refuse to answer that question at all.", "Never.", "Somewhere, maybe the south.",
            "Nobody ever is.", "Into the sea 🌊."]
# Preference pairs: each chat's turns before its last answer are the prompt, that answer is the chosen response.
PAIRS = [{"messages": c[:-1], "chosen": {"role": "assistant", "content": c[-1]["content"]},
          "rejected": {"role": "assistant", "content": r}} for c, r in zip(CHATS, REJECTED)]

LORA = {"type": "lora", "rank": 4, "alpha": 8, "targets": ["q", "k", "v", "down"]}

# (name, stage, method, hyperparameters over the defaults of job())
CASES: List[Tuple[str, str, Dict[str, Any], Dict[str, Any]]] = [
    ("sft-full", "sft", {"type": "full"}, {}),
    ("sft-full-accum-decay", "sft", {"type": "full"}, {"gradAccum": 2, "weightDecay": 0.1, "schedule": "linear"}),
    ("pretrain-full", "pretrain", {"type": "full"}, {}),
    ("sft-freeze", "sft", {"type": "freeze", "trainableLayers": 1, "trainableModules": ["attn", "norm"]}, {}),
    ("sft-lora", "sft", {"type": "lora", "rank": 4, "alpha": 8, "targets": ["q", "k", "v", "down"]}, {"lr": 3e-2}),
    ("sft-rslora", "sft", {"type": "lora", "rank": 4, "alpha": 8, "targets": ["q", "k", "v", "down"], "rslora": True}, {"lr": 3e-2}),
    ("sft-prompt", "sft", {"type": "prompt", "numVirtualTokens": 4}, {"lr": 0.1}),
    ("sft-prefix", "sft", {"type": "prefix", "numVirtualTokens": 4}, {"lr": 0.1}),
    ("dpo-full", "dpo", {"type": "full"}, {"lr": 5e-3}),
    ("dpo-lora", "dpo", LORA, {"lr": 3e-2}),
    ("dpo-prefix", "dpo", {"type": "prefix", "numVirtualTokens": 4}, {"lr": 0.1}),
    ("orpo-full", "dpo", {"type": "full"}, {"lr": 5e-3, "preference": {"loss": "orpo", "lambda": 0.2}}),
    ("simpo-full", "dpo", {"type": "full"}, {"lr": 5e-3, "preference": {"loss": "simpo", "beta": 2.0, "gamma": 0.5}}),
]


def engine_missing() -> Optional[str]:
    """Why the engine side cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (REPO / "node_modules" / "tsx").exists() or not (REPO / "src" / "factory" / "engine-worker-main.ts").exists():
        return f"{REPO} is not a modelfab checkout with node_modules"
    return None


def node(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(["node", "--import", "tsx", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def make_engine_model(folder: Path, seed: int = 5) -> Path:
    """<folder>/made/base (the engine's HF export) and <folder>/made/engine-ids.json; returns <folder>/made."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input.json").write_text(json.dumps({"texts": TEXTS, "chats": CHATS, "seed": seed}))
    r = node(str(HELPER), str(folder / "made"), str(folder / "input.json"))
    if r.returncode != 0:
        raise RuntimeError(f"the engine's model helper failed: {r.stderr}")
    return folder / "made"


def _write_jsonl(path: Path, rows: List[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _read_jsonl(path: Path) -> List[Dict[str, Any]]:
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def job(folder: Path, base: Path, stage: str, method: Dict[str, Any], **hp: Any) -> Path:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    kind = {"pretrain": "pretrain", "sft": "sft", "dpo": "preference"}[stage]
    rows = {"pretrain": [{"text": t} for t in TEXTS], "sft": [{"messages": c} for c in CHATS], "preference": PAIRS}[kind]
    _write_jsonl(data / "train.jsonl", rows)
    _write_jsonl(data / "validation.jsonl", rows[:3])
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


def run_both(folder: Path, base: Path, stage: str, method: Dict[str, Any], **hp: Any):
    """(engine metrics, torch metrics, engine manifest, torch manifest) of the same job."""
    from .spec import validate_job_spec
    from .worker import run_job

    ej = job(folder / "engine", base, stage, method, **hp)
    r = node("src/factory/engine-worker-main.ts", str(ej))
    if r.returncode != 0:
        raise RuntimeError(f"the engine's worker failed ({r.returncode}): {r.stderr}")
    tj = job(folder / "torch", base, stage, method, **hp)
    if run_job(validate_job_spec(json.loads(tj.read_text()))) != "succeeded":
        raise RuntimeError("the torch trainer did not finish")
    e_out, t_out = folder / "engine" / "out", folder / "torch" / "out"
    return (_read_jsonl(e_out / "metrics.jsonl"), _read_jsonl(t_out / "metrics.jsonl"),
            json.loads((e_out / "manifest.json").read_text()), json.loads((t_out / "manifest.json").read_text()))


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(a), 1e-12)


def hf_logit_max(made: Path) -> float:
    import torch
    from transformers import AutoModelForCausalLM

    ref = json.loads((made / "engine-ids.json").read_text())["logits"]
    model = AutoModelForCausalLM.from_pretrained(str(made / "base"), dtype=torch.float32).eval()
    with torch.no_grad():
        got = model(input_ids=torch.tensor([ref["ids"]])).logits[0]
    want = torch.tensor(ref["values"], dtype=torch.float32).view(got.shape)
    return (got - want).abs().max().item()


def peft_logit_max(made: Path) -> Dict[str, float]:
    """max |logit diff| of PEFT over the engine's HF export with each of the engine's PEFT adapters, per kind."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    ref = json.loads((made / "engine-ids.json").read_text())
    ids = torch.tensor([ref["logits"]["ids"]])
    out: Dict[str, float] = {}
    for kind, values in ref["adapterLogits"].items():
        base = AutoModelForCausalLM.from_pretrained(str(made / "base"), dtype=torch.float32)
        model = PeftModel.from_pretrained(base, str(made / "adapters" / kind)).eval()
        kwargs = {}
        if kind == "prefix":
            # the engine numbers a sequence from 0 behind its prefix; PEFT adds the prefix length to the ids it is given
            p = model.peft_config["default"].num_virtual_tokens
            kwargs["position_ids"] = (torch.arange(ids.shape[1]) - p).unsqueeze(0)
        with torch.no_grad():
            got = model(input_ids=ids, **kwargs).logits[0]
        want = torch.tensor(values, dtype=torch.float32).view(got.shape)
        out[kind] = (got - want).abs().max().item()
    return out


def ddp_max_dev(folder: Path, base: Path, steps: int) -> float:
    """An SFT job (full, batch 4, gradient accumulation 2) in one process and under torchrun with 2 processes (gloo):
    the largest relative difference of their loss curves."""
    from .spec import validate_job_spec
    from .worker import run_job

    hp = {"maxSteps": steps, "batchSize": 4, "gradAccum": 2}
    one = job(folder / "one", base, "sft", {"type": "full"}, **hp)
    if run_job(validate_job_spec(json.loads(one.read_text()))) != "succeeded":
        raise RuntimeError("the one-process job did not finish")
    two = job(folder / "two", base, "sft", {"type": "full"}, **hp)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(__file__).resolve().parents[1]) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "modelfab_torch", str(two)],
                       env=env, capture_output=True, text=True, timeout=1200)
    if r.returncode != 0:
        raise RuntimeError(f"torchrun failed ({r.returncode}): {r.stderr[-2000:]}")
    a, b = _read_jsonl(folder / "one" / "out" / "metrics.jsonl"), _read_jsonl(folder / "two" / "out" / "metrics.jsonl")
    if len(a) != len(b):
        raise RuntimeError(f"the curves differ in length: {len(a)} and {len(b)} steps")
    return max(rel(x["loss"], y["loss"]) for x, y in zip(a, b))


def main(argv: List[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m modelfab_torch.parity")
    ap.add_argument("--steps", type=int, default=50, help="steps per method (default 50)")
    ap.add_argument("--only", default="", help="comma-separated case names (default: all)")
    args = ap.parse_args(argv)
    wanted = [n for n in args.only.split(",") if n]
    unknown = [n for n in wanted if n not in {c[0] for c in CASES}]
    if unknown:
        ap.error(f"unknown case(s) {', '.join(unknown)}; known: {', '.join(c[0] for c in CASES)}")
    cases = [c for c in CASES if not wanted or c[0] in wanted]
    why = engine_missing()
    if why:
        sys.stderr.write(f"parity: the engine cannot run here: {why}\n")
        return 1
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="modelfab-parity-") as tmp:
        made = make_engine_model(Path(tmp) / "model")
        logit = hf_logit_max(made)
        step1: List[float] = []
        curve: List[float] = []
        print(f"{'method':<22} {'engine step 1':>14} {'torch step 1':>14} {'step-1 rel':>11} {'curve max rel':>14}")
        for name, stage, method, hp in cases:
            em, tm, _, _ = run_both(Path(tmp) / name, made / "base", stage, method, **{"maxSteps": args.steps, **hp})
            s1 = rel(em[0]["loss"], tm[0]["loss"])
            dev = max(rel(e["loss"], t["loss"]) for e, t in zip(em, tm))
            step1.append(s1)
            curve.append(dev)
            print(f"{name:<22} {em[0]['loss']:>14.6f} {tm[0]['loss']:>14.6f} {s1:>11.2e} {dev:>14.2e}")
        ddp = ddp_max_dev(Path(tmp) / "ddp", made / "base", args.steps)
        print(f"torchrun, 2 processes (gloo) against 1, SFT full: largest relative loss difference {ddp:.2e}")
        peft = peft_logit_max(made)
        print(f"transformers on the engine's HF export: max |logit diff| {logit:.2e}")
        print("PEFT on the engine's adapters: max |logit diff| " + ", ".join(f"{k} {v:.2e}" for k, v in peft.items()))
        print(json.dumps({"bench": "torch", "methods": [c[0] for c in cases], "steps": args.steps,
                          "max_step1_rel": max(step1), "max_curve_dev": max(curve), "ddp_max_dev": ddp,
                          "hf_logit_max": logit, "peft_logit_max": max(peft.values())}, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
