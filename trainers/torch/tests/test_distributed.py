"""Data parallelism under torchrun on CPU (gloo): two processes follow the one-process curve, and process 0 alone
writes the job's files."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import make_job, read_jsonl, trainer_env
from modelfab_torch.spec import validate_job_spec
from modelfab_torch.worker import run_job


def torchrun(job: Path, nproc: int = 2) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "modelfab_torch", str(job)]
    return subprocess.run(cmd, env=trainer_env(), capture_output=True, text=True, timeout=600)


def torchrun_two_nodes(job: Path) -> None:
    """Two torchrun launchers, one per "node", meeting at a c10d rendezvous on this machine: the protocol a Slurm
    batch script or a Kubeflow TrainJob uses across machines, one process per node."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    procs = [subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--nnodes=2", f"--node_rank={r}", "--nproc_per_node=1",
                               "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=two-nodes", "--master_addr=127.0.0.1",
                               "-m", "modelfab_torch", str(job)], env=trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for r in (0, 1)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for p, out in zip(procs, outs):
        assert p.returncode == 0, out[-3000:]


def curve(out: Path, key: str = "loss"):
    return [m[key] for m in read_jsonl(out / "metrics.jsonl")]


def close(a, b, tol=2e-5):
    assert len(a) == len(b), (a, b)
    for x, y in zip(a, b):
        assert abs(x - y) <= tol * max(1.0, abs(x)), (a, b)


@pytest.mark.parametrize("stage,method", [("sft", {"type": "full"}), ("dpo", {"type": "lora", "rank": 4, "alpha": 8})])
def test_two_processes_follow_the_one_process_curve(tmp_path, base_model, stage, method):
    hp = {"batchSize": 4, "gradAccum": 2, "maxSteps": 4, "evalEvery": 2, "checkpointEvery": 2}
    one = make_job(tmp_path / "one", base_model, stage, method, **hp)
    two = make_job(tmp_path / "two", base_model, stage, method, **hp)
    assert run_job(validate_job_spec(json.loads(one.read_text()))) == "succeeded"
    r = torchrun(two)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = tmp_path / "one", tmp_path / "two"
    close(curve(a), curve(b))
    close(curve(a, "grad_norm"), curve(b, "grad_norm"))
    close([m["eval_loss"] for m in read_jsonl(a / "metrics.jsonl") if "eval_loss" in m],
          [m["eval_loss"] for m in read_jsonl(b / "metrics.jsonl") if "eval_loss" in m])
    if stage == "dpo":
        close(curve(a, "reward_accuracy"), curve(b, "reward_accuracy"))
    # one writer: each step once, one start and one end, and the same trained tensors
    assert [m["step"] for m in read_jsonl(b / "metrics.jsonl")] == [1, 2, 3, 4]
    events = read_jsonl(b / "events.jsonl")
    assert [e["message"] for e in events if e["message"] in ("started", "succeeded")] == ["started", "succeeded"]
    assert events[0]["data"]["processes"] == 2
    manifest = json.loads((b / "manifest.json").read_text())
    assert manifest["processes"] == 2 and manifest["status"] == "succeeded"
    ta, tb = load_file(str(a / "checkpoints" / "step-4" / "model.safetensors")), load_file(str(b / "checkpoints" / "step-4" / "model.safetensors"))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert torch.allclose(ta[k], tb[k], atol=1e-5, rtol=1e-4), k


def test_a_batch_the_processes_cannot_share_evenly_is_refused(tmp_path, base_model):
    job = make_job(tmp_path / "odd", base_model, "sft", batchSize=3)
    r = torchrun(job)
    assert r.returncode != 0
    errors = [e for e in read_jsonl(tmp_path / "odd" / "events.jsonl") if e["level"] == "error"]
    assert any("batchSize 3 must be a multiple of the 2 processes" in e["message"] for e in errors), errors
    assert not (tmp_path / "odd" / "manifest.json").exists()


def test_two_nodes_follow_the_one_process_curve(tmp_path, base_model):
    hp = {"batchSize": 4, "maxSteps": 3}
    one = make_job(tmp_path / "one", base_model, "sft", {"type": "lora", "rank": 4, "alpha": 8}, **hp)
    two = make_job(tmp_path / "two", base_model, "sft", {"type": "lora", "rank": 4, "alpha": 8}, **hp)
    assert run_job(validate_job_spec(json.loads(one.read_text()))) == "succeeded"
    torchrun_two_nodes(two)
    close(curve(tmp_path / "one"), curve(tmp_path / "two"))
    manifest = json.loads((tmp_path / "two" / "manifest.json").read_text())
    assert (manifest["processes"], manifest["nodes"]) == (2, 2)
    assert [e["message"] for e in read_jsonl(tmp_path / "two" / "events.jsonl") if e["message"] in ("started", "succeeded")] == ["started", "succeeded"]
