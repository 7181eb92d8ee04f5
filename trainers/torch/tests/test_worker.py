"""Jobs run in this process: the files a trainer writes, each method, resume continuing the same curve."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import make_job, read_jsonl
from modelfab_torch.spec import validate_job_spec
from modelfab_torch.worker import run_job

METRIC_FIELDS = {"step", "epoch", "loss", "lr", "grad_norm", "tokens_per_s", "elapsed_s", "eta_s"}


def spec_of(job: Path):
    return validate_job_spec(json.loads(job.read_text()))


def test_sft_full_writes_every_file(tmp_path, base_model):
    job = make_job(tmp_path / "job", base_model, "sft")
    assert run_job(spec_of(job), heartbeat_s=0.05) == "succeeded"
    out = tmp_path / "job"
    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5, 6]
    for m in metrics:
        assert METRIC_FIELDS <= set(m), m
        assert all(isinstance(m[k], (int, float)) for k in METRIC_FIELDS)
    assert [m["step"] for m in metrics if "eval_loss" in m] == [3, 6]
    assert metrics[0]["lr"] == 0 and metrics[1]["lr"] == pytest.approx(1e-2)  # one warm-up step starts at lr 0
    assert metrics[-1]["loss"] < metrics[0]["loss"]
    events = read_jsonl(out / "events.jsonl")
    assert events[0]["message"] == "started" and events[0]["data"]["trainer"] == "torch"
    assert events[-1]["message"] == "succeeded" and all({"created_at", "level", "message"} <= set(e) for e in events)
    beat = json.loads((out / "heartbeat").read_text())
    assert beat["pid"] == os.getpid() and beat["step"] == 6
    # checkpoints: the last two, complete, and the folder has no temporaries left
    assert sorted(os.listdir(out / "checkpoints")) == ["step-4", "step-6"]
    ck = out / "checkpoints" / "step-6"
    assert {"model.safetensors", "optimizer.pt", "rng.pt", "trainer_state.json"} <= set(os.listdir(ck))
    state = json.loads((ck / "trainer_state.json").read_text())
    assert state["step"] == 6 and state["trainer"] == "torch" and {"epoch", "cursor"} <= set(state)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["model_kind"] == "model" and manifest["model_format"] == "hf"
    assert manifest["steps"] == 6 and manifest["train_loss"] == metrics[-1]["loss"]
    assert manifest["eval_loss"] == metrics[-1]["eval_loss"] and manifest["eval_loss"] < manifest["eval_loss_before"]
    assert manifest["trainable_params"] == manifest["total_params"] > 0
    assert manifest["model_dir"] == str(out / "model") and manifest["chat_template"] == "chatml"
    # model/ is a Hugging Face folder that transformers loads, with the trained weights and the chat template
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(str(out / "model"))
    base = AutoModelForCausalLM.from_pretrained(str(base_model))
    w = "model.layers.0.self_attn.q_proj.weight"
    assert not torch.equal(trained.state_dict()[w], base.state_dict()[w])
    assert torch.equal(trained.state_dict()[w], load_file(str(ck / "model.safetensors"))[w])
    cfg = json.loads((out / "model" / "tokenizer_config.json").read_text())
    assert cfg["chat_template"].startswith("{% for message in messages %}")


def test_pretrain_and_freeze(tmp_path, base_model):
    job = make_job(tmp_path / "job", base_model, "pretrain", {"type": "freeze", "trainableLayers": 1, "extraModules": ["output_norm"]},
                   maxSteps=3, evalEvery=0)
    assert run_job(spec_of(job)) == "succeeded"
    out = tmp_path / "job"
    ck = load_file(str(out / "checkpoints" / "step-3" / "model.safetensors"))
    assert "model.norm.weight" in ck and all(k.startswith("model.layers.1.") or k == "model.norm.weight" for k in ck)
    assert len(ck) == 10  # layer 1's nine tensors + the final norm
    from transformers import AutoModelForCausalLM

    trained = AutoModelForCausalLM.from_pretrained(str(out / "model")).state_dict()
    base = AutoModelForCausalLM.from_pretrained(str(base_model)).state_dict()
    assert torch.equal(trained["model.layers.0.mlp.up_proj.weight"], base["model.layers.0.mlp.up_proj.weight"])
    assert not torch.equal(trained["model.layers.1.mlp.up_proj.weight"], base["model.layers.1.mlp.up_proj.weight"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["trainable_params"] < manifest["total_params"]
    assert math.isfinite(manifest["unigram_perplexity"]) and manifest["eval_loss"] is not None
    assert "chat_template" not in manifest or manifest["chat_template"] == "chatml"  # the tokenizer has ChatML's tokens


@pytest.mark.parametrize("rslora", [False, True])
def test_lora_writes_a_peft_adapter(tmp_path, base_model, rslora):
    method = {"type": "lora", "rank": 4, "alpha": 8, "targets": ["q", "v", "down"], "rslora": rslora}
    job = make_job(tmp_path / "job", base_model, "sft", method, lr=5e-2)
    assert run_job(spec_of(job)) == "succeeded"
    out = tmp_path / "job"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model_kind"] == "adapter" and manifest["model_format"] == "peft"
    # rank 4 on q [32->32], v [32->16], down [64->32] in two layers
    assert manifest["trainable_params"] == 2 * (4 * (32 + 32) + 4 * (32 + 16) + 4 * (64 + 32))
    cfg = json.loads((out / "model" / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["lora_alpha"] == 8 and cfg["use_rslora"] is rslora
    assert sorted(cfg["target_modules"]) == ["down_proj", "q_proj", "v_proj"]
    assert cfg["base_model_name_or_path"] == str(base_model)  # absolute spec paths: an absolute base
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base_model)), str(out / "model"))
    b = [t for n, t in model.named_parameters() if "lora_B" in n]
    assert b and all(t.abs().sum() > 0 for t in b)  # B starts at zero: trained
    scale = 8 / 2 if rslora else 8 / 4
    assert model.base_model.model.model.layers[0].self_attn.q_proj.scaling["default"] == scale


def test_stop_then_resume_continues_the_same_curve(tmp_path, base_model):
    ref = make_job(tmp_path / "ref", base_model, "sft", maxSteps=7, checkpointEvery=0, evalEvery=0, gradAccum=2)
    assert run_job(spec_of(ref)) == "succeeded"
    want = [m["loss"] for m in read_jsonl(tmp_path / "ref" / "metrics.jsonl")]

    job = make_job(tmp_path / "job", base_model, "sft", maxSteps=7, checkpointEvery=0, evalEvery=0, gradAccum=2)
    assert run_job(spec_of(job), stop_after_step=3) == "stopped"
    out = tmp_path / "job"
    assert os.listdir(out / "checkpoints") == ["step-3"] and not (out / "manifest.json").exists()
    assert read_jsonl(out / "events.jsonl")[-1]["message"] == "stopped at step 3; checkpoint written"
    assert run_job(spec_of(job)) == "succeeded"
    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(1, 8))
    assert read_jsonl(out / "events.jsonl")[-2]["message"] == "resuming from the latest checkpoint"
    # same data order, weights, moments and schedule: the resumed curve is the uninterrupted one
    assert [m["loss"] for m in metrics] == pytest.approx(want, rel=1e-6, abs=0)
    assert [m["lr"] for m in metrics] == [m["lr"] for m in read_jsonl(tmp_path / "ref" / "metrics.jsonl")]
    assert metrics[-1]["elapsed_s"] >= metrics[2]["elapsed_s"]


def test_relative_paths_resolve_in_the_data_folder(tmp_path, base_model, monkeypatch):
    # The factory writes paths relative to the data folder, the trainer's working directory; an adapter then names
    # its base relative to itself, so the data folder can move.
    import shutil

    data_root = tmp_path / "data-folder"
    shutil.copytree(base_model, data_root / "models" / "tiny")
    make_job(data_root / "jobs" / "j1", data_root / "models" / "tiny", "sft", {"type": "lora", "rank": 2, "alpha": 4}, maxSteps=2)
    spec = json.loads((data_root / "jobs" / "j1" / "job.json").read_text())
    rel = lambda p: os.path.relpath(p, data_root)
    spec["base"]["path"] = rel(spec["base"]["path"])
    spec["outputDir"] = rel(spec["outputDir"])
    for split in spec["data"].values():
        split["path"] = rel(split["path"])
    monkeypatch.chdir(data_root)
    assert run_job(validate_job_spec(spec)) == "succeeded"
    manifest = json.loads((data_root / "jobs" / "j1" / "manifest.json").read_text())
    assert manifest["model_dir"] == "jobs/j1/model"
    cfg = json.loads((data_root / "jobs" / "j1" / "model" / "adapter_config.json").read_text())
    assert cfg["base_model_name_or_path"] == "../../../models/tiny"
    assert (data_root / "jobs" / "j1" / "model" / cfg["base_model_name_or_path"] / "config.json").exists()


def test_epochs_and_early_stopping(tmp_path, base_model):
    # No maxSteps: epochs x floor(examples / (batch x accum)) steps, the epoch field counting passes over the data.
    job = make_job(tmp_path / "epochs", base_model, "sft", maxSteps=None, epochs=2, evalEvery=0, checkpointEvery=0, seqLen=128)
    assert run_job(spec_of(job)) == "succeeded"
    metrics = read_jsonl(tmp_path / "epochs" / "metrics.jsonl")
    assert [m["epoch"] for m in metrics] == pytest.approx([1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    assert os.listdir(tmp_path / "epochs" / "checkpoints") == ["step-6"]  # checkpointEvery 0: only the last

    # A learning rate that makes the eval loss worse: stopped after `patience` evaluations without improvement,
    # with a checkpoint, and the job still succeeds with the model it has.
    job = make_job(tmp_path / "early", base_model, "sft", maxSteps=40, lr=3.0, warmupSteps=0, evalEvery=1,
                   earlyStoppingPatience=2, checkpointEvery=0)
    assert run_job(spec_of(job)) == "succeeded"
    metrics = read_jsonl(tmp_path / "early" / "metrics.jsonl")
    n = len(metrics)
    assert n < 40
    evals = [m["eval_loss"] for m in metrics]
    best = min(evals[:-2])
    assert not (evals[-1] < best) and not (evals[-2] < best)
    assert os.listdir(tmp_path / "early" / "checkpoints") == [f"step-{n}"]
    assert json.loads((tmp_path / "early" / "manifest.json").read_text())["steps"] == n


def test_prompt_tuning_writes_a_peft_adapter_and_resumes(tmp_path, base_model):
    method = {"type": "prompt", "numVirtualTokens": 3}
    ref = make_job(tmp_path / "ref", base_model, "sft", method, maxSteps=5, lr=0.1, evalEvery=0, checkpointEvery=0)
    assert run_job(spec_of(ref)) == "succeeded"
    want = [m["loss"] for m in read_jsonl(tmp_path / "ref" / "metrics.jsonl")]
    job = make_job(tmp_path / "job", base_model, "sft", method, maxSteps=5, lr=0.1, evalEvery=0, checkpointEvery=0)
    assert run_job(spec_of(job), stop_after_step=2) == "stopped"
    assert list(load_file(str(tmp_path / "job" / "checkpoints" / "step-2" / "model.safetensors"))) == [
        "prompt_encoder.default.embedding.weight"]
    assert run_job(spec_of(job)) == "succeeded"
    assert [m["loss"] for m in read_jsonl(tmp_path / "job" / "metrics.jsonl")] == pytest.approx(want, rel=1e-6, abs=0)
    out = tmp_path / "job"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model_kind"] == "adapter" and manifest["model_format"] == "peft"
    assert manifest["trainable_params"] == 3 * 32
    cfg = json.loads((out / "model" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "PROMPT_TUNING" and cfg["num_virtual_tokens"] == 3
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(str(base_model))
    start = base.get_input_embeddings().weight.detach().clone()
    model = PeftModel.from_pretrained(base, str(out / "model"))
    prompt = model.prompt_encoder["default"].embedding.weight
    assert prompt.shape == (3, 32)
    # trained away from the vocabulary rows it started as
    assert all(not any(torch.equal(row, e) for e in start) for row in prompt.detach())


def test_follows_the_threads_the_scheduler_lends(tmp_path, base_model):
    job = make_job(tmp_path / "job", base_model, "sft")
    (tmp_path / "job" / "threads").write_text("2\n")  # the scheduler lent the idle core before the first step
    before = torch.get_num_threads()
    try:
        assert run_job(spec_of(job), heartbeat_s=0.05) == "succeeded"
        events = read_jsonl(tmp_path / "job" / "events.jsonl")
        granted = min(2, os.cpu_count() or 1)  # capped at the machine
        lent = [e["data"]["threads"] for e in events if e["message"].startswith("now on")]
        assert lent == ([granted] if granted != 1 else [])  # the spec's 1 thread, then the grant
        assert torch.get_num_threads() == granted
    finally:
        torch.set_num_threads(before)


def test_thread_grant_reads_a_change_once(tmp_path):
    from modelfab_torch.files import ThreadGrant

    g = ThreadGrant(str(tmp_path), cap=4)
    assert g.poll() is None
    (tmp_path / "threads").write_text("3\n")
    assert g.poll() == 3 and g.poll() is None
    os.replace(tmp_path / "threads", tmp_path / "old")
    (tmp_path / "threads").write_text("16")
    assert g.poll() == 4  # capped at the machine
    (tmp_path / "threads").write_text("two!")
    assert g.poll() is None
