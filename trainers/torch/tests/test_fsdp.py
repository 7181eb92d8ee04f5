"""Fully sharded data parallelism (strategy fsdp) under torchrun on CPU (gloo): two processes, each holding half of
every weight and AdamW moment, follow the one-process curve; checkpoints are sharded (one file per process) and a
job killed after a checkpoint resumes from it on the same curve; the result is the whole model, saved once."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import make_job, read_jsonl, trainer_env
from modelfab_torch.spec import JobSpecError, validate_job_spec
from modelfab_torch.worker import run_job


def torchrun(job: Path, stop_after_step=None) -> subprocess.CompletedProcess:
    if stop_after_step is None:
        target = ["-m", "modelfab_torch", str(job)]
    else:
        # the job stopped after that step as a stop request would stop it (run_job's stop_after_step), in every process
        script = job.parent / "stop_after.py"
        script.write_text("import json, sys\nfrom modelfab_torch.spec import validate_job_spec\nfrom modelfab_torch.worker import run_job\n"
                          f"sys.exit(3 if run_job(validate_job_spec(json.load(open(sys.argv[1]))), stop_after_step={stop_after_step}) == 'stopped' else 0)\n")
        target = [str(script), str(job)]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *target]
    return subprocess.run(cmd, env=trainer_env(), capture_output=True, text=True, timeout=600)


def fsdp_job(folder: Path, base: Path, method, **hp) -> Path:
    path = make_job(folder, base, "sft", method, **hp)
    spec = json.loads(path.read_text())
    spec["strategy"] = "fsdp"
    path.write_text(json.dumps(spec))
    return path


def close(a, b, tol=2e-5):
    assert len(a) == len(b), (a, b)
    for x, y in zip(a, b):
        assert abs(x - y) <= tol * max(1.0, abs(x)), (a, b)


HP = {"batchSize": 4, "gradAccum": 2, "maxSteps": 4, "evalEvery": 2, "checkpointEvery": 2}


@pytest.mark.parametrize("method", [{"type": "full"}, {"type": "lora", "rank": 4, "alpha": 8}])
def test_sharded_processes_follow_the_one_process_curve(tmp_path, base_model, method):
    one = make_job(tmp_path / "one", base_model, "sft", method, **HP)
    assert run_job(validate_job_spec(json.loads(one.read_text()))) == "succeeded"
    r = torchrun(fsdp_job(tmp_path / "two", base_model, method, **HP))
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = read_jsonl(tmp_path / "one" / "metrics.jsonl"), read_jsonl(tmp_path / "two" / "metrics.jsonl")
    close([m["loss"] for m in a], [m["loss"] for m in b])
    close([m["grad_norm"] for m in a], [m["grad_norm"] for m in b])
    close([m["eval_loss"] for m in a if "eval_loss" in m], [m["eval_loss"] for m in b if "eval_loss" in m])
    # sharded checkpoints: one shard file per process, the trainer state beside them, no whole copy
    step4 = tmp_path / "two" / "checkpoints" / "step-4"
    assert sorted(p.name for p in (step4 / "sharded").iterdir()) == [".metadata", "__0_0.distcp", "__1_0.distcp", "rng-0.pt", "rng-1.pt"]
    assert (step4 / "trainer_state.json").exists() and not (step4 / "model.safetensors").exists()
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert manifest["strategy"] == "fsdp" and manifest["processes"] == 2
    # the saved result is the whole model (or adapter), gathered once: the same tensors as the one-process job's
    name = "adapter_model.safetensors" if method["type"] == "lora" else "model.safetensors"
    ta, tb = load_file(str(tmp_path / "one" / "model" / name)), load_file(str(tmp_path / "two" / "model" / name))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert ta[k].shape == tb[k].shape and torch.allclose(ta[k], tb[k], atol=1e-5, rtol=1e-4), k


def test_a_sharded_job_resumes_from_its_shards_on_the_same_curve(tmp_path, base_model):
    whole = fsdp_job(tmp_path / "whole", base_model, None, **HP)
    assert torchrun(whole).returncode == 0
    cut = fsdp_job(tmp_path / "cut", base_model, None, **HP)
    # the trainer stops after step 2 as a stop request would (its checkpoint is step 2), then runs again
    r = torchrun(cut, stop_after_step=2)
    # torchrun reports a worker's exit 3 as a failure (1); the factory reads the job's last event (runners.ts)
    assert r.returncode != 0
    assert read_jsonl(tmp_path / "cut" / "events.jsonl")[-1]["message"] == "stopped at step 2; checkpoint written", r.stderr[-3000:]
    assert (tmp_path / "cut" / "checkpoints" / "step-2" / "sharded" / ".metadata").exists()
    assert not (tmp_path / "cut" / "manifest.json").exists()
    r = torchrun(cut)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = read_jsonl(tmp_path / "whole" / "metrics.jsonl"), read_jsonl(tmp_path / "cut" / "metrics.jsonl")
    assert [m["step"] for m in b] == [1, 2, 3, 4]
    close([m["loss"] for m in a], [m["loss"] for m in b], tol=1e-6)
    assert any(e["message"] == "resuming from the latest checkpoint" for e in read_jsonl(tmp_path / "cut" / "events.jsonl"))


def test_what_fsdp_does_not_shard_is_refused(tmp_path, base_model):
    with pytest.raises(JobSpecError, match="strategy fsdp: not with prompt tuning"):
        validate_job_spec(json.loads(fsdp_job(tmp_path / "p", base_model, {"type": "prompt", "numVirtualTokens": 4}).read_text()))
    spec = json.loads(fsdp_job(tmp_path / "h", base_model, None).read_text())
    with pytest.raises(JobSpecError, match="strategy fsdp: not with precision fp16"):
        validate_job_spec({**spec, "precision": "fp16"})
    with pytest.raises(JobSpecError, match="strategy must be one of ddp, fsdp, deepspeed-zero2, deepspeed-zero3, got .zero3."):
        validate_job_spec({**spec, "strategy": "zero3"})
