"""The trainer as the scheduler runs it: `python -m modelfab_torch <job.json>`, exit codes 0 / 3 / 2 / 1, the last
event saying why, SIGTERM -> checkpoint and exit 3, SIGKILL -> a restart resumes from the latest checkpoint."""
from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import make_job, read_jsonl, run_trainer, trainer_cmd, trainer_env
from modelfab_torch.spec import validate_job_spec
from modelfab_torch.worker import run_job


def last_event(folder: Path) -> dict:
    return read_jsonl(folder / "events.jsonl")[-1]


def edit_job(job: Path, **changes) -> None:
    spec = json.loads(job.read_text())
    for path, value in changes.items():
        node = spec
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    job.write_text(json.dumps(spec))


def run_main(job: Path) -> int:
    """The entry point in this process (its exit code, without a process start per case); handlers restored."""
    from modelfab_torch.__main__ import main

    saved = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        return main([str(job)])
    finally:
        signal.signal(signal.SIGTERM, saved[0])
        signal.signal(signal.SIGINT, saved[1])


@pytest.mark.parametrize("change, message", [
    ({"hyperparameters__batchSize": 0}, "hyperparameters.batchSize must be a positive integer, got 0"),
    ({"stage": "rl"}, "stage must be pretrain, sft or dpo"),
    ({"stage": "dpo"}, "data.train.kind must be preference for stage dpo, got 'sft'"),
    ({"hyperparameters__preference": {"loss": "ipo"}}, "hyperparameters.preference.loss must be one of dpo, orpo, simpo, got 'ipo'"),
    ({"hyperparameters__preference": {"beta": "high"}}, "hyperparameters.preference.beta must be a number, got 'high'"),
    ({"base__kind": "engine"}, "base.kind engine is not read by the torch trainer"),
    ({"base__path": "/nonexistent/model"}, "/nonexistent/model/tokenizer.json: not found"),
    ({"method": {"type": "qlora", "rank": 4, "alpha": 8}}, "needs a CUDA GPU"),
    ({"method": {"type": "prefix", "numVirtualTokens": -1}}, "method.numVirtualTokens must be a positive integer, got -1"),
    ({"method": {"type": "prompt", "numVirtualTokens": 0}}, "method.numVirtualTokens must be a positive integer, got 0"),
    ({"hyperparameters__chatTemplate": "vicuna"}, "chatTemplate must be one of chatml, qwen2, llama3"),
    ({"hyperparameters__chatTemplate": "llama3"}, "chat template llama3 needs the token(s) <|begin_of_text|>"),
    ({"hyperparameters__schedule": "step"}, "schedule must be one of cosine, linear, constant"),
    ({"data__train__kind": "pretrain"}, "data.train.kind must be sft for stage sft"),
    ({"seed": 1.5}, "seed must be an integer"),
])
def test_invalid_spec_exits_2_and_says_why(tmp_path, base_model, change, message):
    job = make_job(tmp_path / "job", base_model, "sft")
    edit_job(job, **change)
    assert run_main(job) == 2
    ev = last_event(tmp_path / "job")
    assert ev["level"] == "error" and message in ev["message"], ev
    assert not (tmp_path / "job" / "metrics.jsonl").exists() and not (tmp_path / "job" / "manifest.json").exists()


def test_invalid_spec_as_a_process(tmp_path, base_model):
    job = make_job(tmp_path / "job", base_model, "sft")
    edit_job(job, hyperparameters__lr=-1)
    r = run_trainer(job)
    assert r.returncode == 2
    assert "hyperparameters.lr must be > 0, got -1" in r.stderr
    assert "hyperparameters.lr must be > 0, got -1" in last_event(tmp_path / "job")["message"]


def test_unparsable_spec_and_bad_data_exit_2(tmp_path, base_model):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "job.json").write_text("{ not json")
    assert run_main(broken / "job.json") == 2
    assert "job.json" in last_event(broken)["message"]
    assert run_main(tmp_path / "missing" / "job.json") == 1  # unreadable, as in the engine: a failure, not invalid

    job = make_job(tmp_path / "job", base_model, "sft")
    train = tmp_path / "job" / "data" / "train.jsonl"
    train.write_text(train.read_text() + '{"messages": [\n')
    assert run_main(job) == 2
    assert f"{train}:7: invalid JSON" in last_event(tmp_path / "job")["message"]

    job = make_job(tmp_path / "job2", base_model, "sft")
    (tmp_path / "job2" / "data" / "train.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "only a question"}]}) + "\n")
    assert run_main(job) == 2 and "no usable training examples" in last_event(tmp_path / "job2")["message"]


def test_a_failure_exits_1(tmp_path, base_model):
    import shutil

    base = tmp_path / "bad-base"
    shutil.copytree(base_model, base)
    (base / "model.safetensors").write_bytes(b"not safetensors")
    job = make_job(tmp_path / "job", base, "sft")
    assert run_main(job) == 1
    ev = last_event(tmp_path / "job")
    assert ev["level"] == "error" and ev["message"]


def read_metrics(path: Path) -> list:
    """Complete records only: a SIGKILL may cut a line, which the next writer seals and readers skip (as the engine's)."""
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


def wait_for_steps(out: Path, proc: subprocess.Popen, n: int, timeout: float = 240) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the trainer ended early with {proc.returncode}: {proc.stderr.read()}")
        p = out / "metrics.jsonl"
        if p.exists() and len(read_metrics(p)) >= n:
            return
        time.sleep(0.02)
    raise AssertionError(f"no {n} steps within {timeout} s")


def test_sigterm_checkpoints_and_exits_3_and_sigkill_resumes(tmp_path, base_model):
    steps = 60
    hp = dict(maxSteps=steps, checkpointEvery=5, evalEvery=0, lr=3e-3)
    ref = make_job(tmp_path / "ref", base_model, "sft", **hp)
    assert run_job(validate_job_spec(json.loads(ref.read_text()))) == "succeeded"
    want = {m["step"]: m["loss"] for m in read_jsonl(tmp_path / "ref" / "metrics.jsonl")}

    # SIGTERM: the current step ends, a checkpoint of that step is written, exit 3; a restart finishes the job.
    out = tmp_path / "term"
    job = make_job(out, base_model, "sft", **hp)
    proc = subprocess.Popen(trainer_cmd(job), env=trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_steps(out, proc, 3)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 3
    stopped_at = read_jsonl(out / "metrics.jsonl")[-1]["step"]
    assert stopped_at < steps and (out / "checkpoints" / f"step-{stopped_at}").is_dir()
    assert last_event(out)["message"] == f"stopped at step {stopped_at}; checkpoint written"
    assert not (out / "manifest.json").exists()
    r = run_trainer(job)
    assert r.returncode == 0, r.stderr
    metrics = read_jsonl(out / "metrics.jsonl")
    assert [m["step"] for m in metrics] == list(range(1, steps + 1))
    assert [m["loss"] for m in metrics] == pytest.approx([want[s] for s in range(1, steps + 1)], rel=1e-6, abs=0)
    assert json.loads((out / "manifest.json").read_text())["steps"] == steps

    # SIGKILL: no chance to checkpoint; the restart goes back to the last periodic checkpoint and redoes the steps after
    # it, so some steps are logged twice; the last record of every step is the uninterrupted curve.
    out = tmp_path / "kill"
    job = make_job(out, base_model, "sft", **hp)
    proc = subprocess.Popen(trainer_cmd(job), env=trainer_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_steps(out, proc, 12)
    proc.kill()
    proc.wait(timeout=60)
    killed_at = read_metrics(out / "metrics.jsonl")[-1]["step"]
    r = run_trainer(job)
    assert r.returncode == 0, r.stderr
    metrics = read_metrics(out / "metrics.jsonl")
    assert metrics[-1]["step"] == steps and len(metrics) >= steps
    resumed_from = metrics[killed_at]["step"] - 1  # the first record after the killed run's last one
    assert resumed_from % 5 == 0 and resumed_from <= killed_at
    last = {m["step"]: m["loss"] for m in metrics}
    assert [last[s] for s in range(1, steps + 1)] == pytest.approx([want[s] for s in range(1, steps + 1)], rel=1e-6, abs=0)
    assert any(e["message"] == "resuming from the latest checkpoint" for e in read_jsonl(out / "events.jsonl"))


def test_info_names_versions_and_devices():
    r = subprocess.run(trainer_cmd(Path("--info")), env=trainer_env(), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    import torch

    assert got["trainer"] == "torch" and got["torch"] == torch.__version__ and "lora" in got["methods"]
    assert isinstance(got["devices"], list) and (got["cuda"] is None) == (not torch.cuda.is_available())
