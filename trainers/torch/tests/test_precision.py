"""Trainer options of the job spec: gradient checkpointing (the same curve, recomputed), bf16 and fp16 mixed
precision (an fp32 model trained under autocast; fp16 with dynamic loss scaling), and the combinations refused with
the reason."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from conftest import make_job, read_jsonl
from modelfab_torch.spec import JobSpecError, validate_job_spec
from modelfab_torch.worker import run_job


def job_with(tmp: Path, base: Path, name: str, method=None, hp=None, **top):
    job = make_job(tmp / name, base, "sft", method, **{"maxSteps": 4, "evalEvery": 0, "checkpointEvery": 0, **(hp or {})})
    spec = json.loads(job.read_text())
    spec.update(top)
    job.write_text(json.dumps(spec))
    return validate_job_spec(spec)


def losses(out: Path):
    return [m["loss"] for m in read_jsonl(out / "metrics.jsonl")]


@pytest.mark.parametrize("method", [{"type": "full"}, {"type": "lora", "rank": 4, "alpha": 8}, {"type": "prompt", "numVirtualTokens": 4}])
def test_gradient_checkpointing_follows_the_same_curve(tmp_path, base_model, method, monkeypatch):
    from transformers.models.llama import modeling_llama

    calls = {"n": 0}
    forward = modeling_llama.LlamaDecoderLayer.forward

    def counted(self, *a, **k):
        calls["n"] += 1
        return forward(self, *a, **k)

    monkeypatch.setattr(modeling_llama.LlamaDecoderLayer, "forward", counted)
    assert run_job(job_with(tmp_path, base_model, "plain", method)) == "succeeded"
    plain_calls, calls["n"] = calls["n"], 0
    assert run_job(job_with(tmp_path, base_model, "ckpt", method, gradientCheckpointing=True)) == "succeeded"
    # every training forward of a layer runs again in the backward pass: 2 layers x 4 steps more
    assert calls["n"] == plain_calls + 2 * 4, (plain_calls, calls["n"])
    a, b = losses(tmp_path / "plain"), losses(tmp_path / "ckpt")
    assert len(a) == len(b) == 4
    for x, y in zip(a, b):
        assert abs(x - y) <= 1e-5 * max(1.0, abs(x)), (a, b)
    manifest = json.loads((tmp_path / "ckpt" / "manifest.json").read_text())
    assert manifest["gradient_checkpointing"] is True and manifest["precision"] == "fp32"
    assert read_jsonl(tmp_path / "ckpt" / "events.jsonl")[0]["data"]["gradient_checkpointing"] is True


def test_bf16_trains_an_fp32_model_close_to_the_fp32_curve(tmp_path, base_model):
    assert run_job(job_with(tmp_path, base_model, "fp32")) == "succeeded"
    assert run_job(job_with(tmp_path, base_model, "bf16", precision="bf16")) == "succeeded"
    a, b = losses(tmp_path / "fp32"), losses(tmp_path / "bf16")
    # bf16 keeps 8 bits of mantissa: the first step's loss agrees to about 1%, and the run still learns
    assert abs(a[0] - b[0]) / a[0] < 0.02, (a, b)
    assert b[-1] < b[0]
    assert a != b, "the bf16 run really ran in bf16"
    manifest = json.loads((tmp_path / "bf16" / "manifest.json").read_text())
    assert manifest["precision"] == "bf16"
    # the master weights, and so the saved model, stay fp32
    with safe_open(str(tmp_path / "bf16" / "model" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}


def test_fp16_scales_the_loss_and_follows_the_fp32_curve(tmp_path, base_model):
    assert run_job(job_with(tmp_path, base_model, "fp32")) == "succeeded"
    assert run_job(job_with(tmp_path, base_model, "fp16", precision="fp16")) == "succeeded"
    a, b = losses(tmp_path / "fp32"), losses(tmp_path / "fp16")
    assert abs(a[0] - b[0]) / a[0] < 0.01, (a, b)
    assert b[-1] < b[0] and a != b
    records = read_jsonl(tmp_path / "fp16" / "metrics.jsonl")
    assert [m["loss_scale"] for m in records] == [2.0 ** 16] * 4 and not any(m.get("skipped") for m in records)
    assert json.loads((tmp_path / "fp16" / "manifest.json").read_text())["precision"] == "fp16"
    with safe_open(str(tmp_path / "fp16" / "model" / "model.safetensors"), "pt") as f:
        assert {f.get_tensor(k).dtype for k in f.keys()} == {torch.float32}


def test_fp16_overflow_skips_the_step_halves_the_scale_and_resumes_with_it(tmp_path, base_model, monkeypatch):
    from modelfab_torch import worker

    # a scale so large that the half-precision gradients overflow: those steps are skipped, the scale halves each time
    monkeypatch.setattr(worker, "LOSS_SCALE_INIT", 2.0 ** 60)
    spec = job_with(tmp_path, base_model, "over", hp={"checkpointEvery": 2}, precision="fp16")
    assert run_job(spec, stop_after_step=2) == "stopped"
    first = read_jsonl(tmp_path / "over" / "metrics.jsonl")
    assert [m["loss_scale"] for m in first] == [2.0 ** 60, 2.0 ** 59]
    assert all(m.get("skipped") for m in first), first
    # resumed, the scale goes on from where it was (the checkpoint holds it), not from the start
    assert run_job(spec) == "succeeded"
    after = read_jsonl(tmp_path / "over" / "metrics.jsonl")[2:]
    assert [m["loss_scale"] for m in after] == [2.0 ** 58, 2.0 ** 57]


def test_options_not_run_are_refused_with_the_reason(tmp_path, base_model):
    with pytest.raises(JobSpecError, match="gradientCheckpointing: not with prefix tuning"):
        job_with(tmp_path, base_model, "b", {"type": "prefix", "numVirtualTokens": 4}, gradientCheckpointing=True)
    with pytest.raises(JobSpecError, match="packing: not with prompt tuning"):
        job_with(tmp_path, base_model, "c", {"type": "prompt", "numVirtualTokens": 4}, packing=True)
    with pytest.raises(JobSpecError, match="gradientCheckpointing must be true or false"):
        job_with(tmp_path, base_model, "d", gradientCheckpointing="yes")
