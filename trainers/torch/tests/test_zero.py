"""DeepSpeed ZeRO-2 and ZeRO-3 (strategy deepspeed-zero2 / deepspeed-zero3) under torchrun on CPU (DeepSpeed's CPU
accelerator, gloo): two processes follow the one-process curve for full and LoRA SFT and save the same model; a
ZeRO-3 job stopped after a checkpoint resumes from it on the same curve; the generated config passes DeepSpeed's own
validation; nothing is compiled at run time."""
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

deepspeed = pytest.importorskip("deepspeed", reason="deepspeed is not installed (trainers/torch/requirements.lock pins it)")

HP = {"batchSize": 4, "gradAccum": 2, "maxSteps": 4, "evalEvery": 2, "checkpointEvery": 2}
LORA = {"type": "lora", "rank": 4, "alpha": 8}
# The curve agrees to float32 rounding: DeepSpeed sums the partitions' gradients in another order than one process
TOL = 2e-5


def torchrun(job: Path, extensions: Path, stop_after_step=None) -> subprocess.CompletedProcess:
    if stop_after_step is None:
        target = ["-m", "modelfab_torch", str(job)]
    else:
        script = job.parent / "stop_after.py"
        script.write_text("import json, sys\nfrom modelfab_torch.spec import validate_job_spec\nfrom modelfab_torch.worker import run_job\n"
                          f"sys.exit(3 if run_job(validate_job_spec(json.load(open(sys.argv[1]))), stop_after_step={stop_after_step}) == 'stopped' else 0)\n")
        target = [str(script), str(job)]
    env = trainer_env()
    # a C++ op built at run time (ninja) would land here; the tests check that none is
    env["TORCH_EXTENSIONS_DIR"] = str(extensions)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", *target]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)


def zero_job(folder: Path, base: Path, strategy: str, method=None, **hp) -> Path:
    path = make_job(folder, base, "sft", method, **hp)
    spec = json.loads(path.read_text())
    spec["strategy"] = strategy
    path.write_text(json.dumps(spec))
    return path


def close(a, b, tol=TOL):
    assert len(a) == len(b), (a, b)
    for x, y in zip(a, b):
        assert abs(x - y) <= tol * max(1.0, abs(x)), (a, b)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, base_model):
    """The one-process runs the ZeRO runs are compared with: full and LoRA SFT."""
    runs = {}
    for name, method in (("full", None), ("lora", LORA)):
        folder = tmp_path_factory.mktemp(f"one-{name}")
        assert run_job(validate_job_spec(json.loads(make_job(folder, base_model, "sft", method, **HP).read_text()))) == "succeeded"
        runs[name] = folder
    return runs


def assert_same_run(one: Path, two: Path, strategy: str, method: str) -> None:
    """The two-process run's curve, checkpoints, config, manifest and saved model against the one-process run's."""
    a, b = read_jsonl(one / "metrics.jsonl"), read_jsonl(two / "metrics.jsonl")
    assert [m["step"] for m in b] == [1, 2, 3, 4]
    close([m["loss"] for m in a], [m["loss"] for m in b])
    close([m["grad_norm"] for m in a], [m["grad_norm"] for m in b])
    close([m["eval_loss"] for m in a if "eval_loss" in m], [m["eval_loss"] for m in b if "eval_loss" in m])
    assert not any(m.get("skipped") for m in b)
    # DeepSpeed's checkpoint in the scheduler's layout: its partitions and each process's RNG under deepspeed/
    step4 = two / "checkpoints" / "step-4"
    files = sorted(p.name for p in (step4 / "deepspeed").iterdir())
    assert "rng-0.pt" in files and "rng-1.pt" in files, files
    assert sum(1 for f in files if f.endswith("_optim_states.pt")) == 2, files  # one ZeRO partition per process
    # the module states: whole under ZeRO-2, one file per process under ZeRO-3 (its weights are partitioned too)
    model_states = [f for f in files if f.endswith("model_states.pt")]
    assert model_states == (["mp_rank_00_model_states.pt"] if strategy.endswith("2") else
                            ["zero_pp_rank_0_mp_rank_00_model_states.pt", "zero_pp_rank_1_mp_rank_00_model_states.pt"]), files
    assert (step4 / "trainer_state.json").exists() and not (step4 / "model.safetensors").exists()
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["step-2", "step-4"]
    # the config it ran with, in the job folder
    cfg = json.loads((two / "deepspeed.json").read_text())
    assert cfg["zero_optimization"]["stage"] == (2 if strategy.endswith("2") else 3)
    assert (cfg["train_micro_batch_size_per_gpu"], cfg["gradient_accumulation_steps"]) == (2, 2)
    manifest = json.loads((two / "manifest.json").read_text())
    assert manifest["strategy"] == strategy and manifest["processes"] == 2
    one_manifest = json.loads((one / "manifest.json").read_text())
    assert (manifest["trainable_params"], manifest["total_params"]) == (one_manifest["trainable_params"], one_manifest["total_params"])
    # the result gathered to process 0 and saved once: the one-process model's tensors
    name = "adapter_model.safetensors" if method == "lora" else "model.safetensors"
    ta, tb = load_file(str(one / "model" / name)), load_file(str(two / "model" / name))
    assert ta.keys() == tb.keys()
    for k in ta:
        assert ta[k].shape == tb[k].shape and torch.allclose(ta[k], tb[k], atol=1e-5, rtol=1e-4), k


# ZeRO-3 with full fine-tuning is the resume test's job (stopped after step 2, then resumed)
@pytest.mark.parametrize("strategy,method", [("deepspeed-zero2", "full"), ("deepspeed-zero3", "lora")])
def test_zero_follows_the_one_process_curve_and_saves_the_same_model(tmp_path, base_model, one_process, strategy, method):
    r = torchrun(zero_job(tmp_path / "two", base_model, strategy, LORA if method == "lora" else None, **HP), tmp_path / "ext")
    assert r.returncode == 0, r.stderr[-3000:]
    assert_same_run(one_process[method], tmp_path / "two", strategy, method)
    assert not (tmp_path / "ext").exists(), "an op was compiled at run time"


def test_a_zero3_job_stopped_after_a_checkpoint_resumes_on_the_one_process_curve(tmp_path, base_model, one_process):
    cut = zero_job(tmp_path / "cut", base_model, "deepspeed-zero3", None, **HP)
    r = torchrun(cut, tmp_path / "ext", stop_after_step=2)
    # torchrun reports a worker's exit 3 as a failure (1); the factory reads the job's last event (runners.ts)
    assert r.returncode != 0
    assert read_jsonl(tmp_path / "cut" / "events.jsonl")[-1]["message"] == "stopped at step 2; checkpoint written", r.stderr[-3000:]
    assert (tmp_path / "cut" / "checkpoints" / "step-2" / "deepspeed" / "rng-1.pt").exists()
    assert not (tmp_path / "cut" / "manifest.json").exists()
    r = torchrun(cut, tmp_path / "ext")
    assert r.returncode == 0, r.stderr[-3000:]
    assert any(e["message"] == "resuming from the latest checkpoint" for e in read_jsonl(tmp_path / "cut" / "events.jsonl"))
    assert_same_run(one_process["full"], tmp_path / "cut", "deepspeed-zero3", "full")
    assert not (tmp_path / "ext").exists(), "an op was compiled at run time"


@pytest.mark.parametrize("strategy,precision", [("deepspeed-zero2", "bf16"), ("deepspeed-zero3", "fp16"), ("deepspeed-zero3", "fp32")])
def test_the_generated_config_passes_deepspeeds_own_validation(monkeypatch, strategy, precision):
    from deepspeed.runtime import config as ds_config
    from deepspeed.runtime.zero.config import DeepSpeedZeroConfig
    from modelfab_torch.zero import deepspeed_config

    cfg = deepspeed_config(strategy, batch_size=8, grad_accum=4, max_grad_norm=1.0, precision=precision, world=4, hidden_size=4096)
    # DeepSpeedConfig checks the batch sizes against the group's size: four processes, without starting them
    monkeypatch.setattr(ds_config.dist, "get_rank", lambda *a, **k: 0)
    monkeypatch.setattr(ds_config.dist, "get_world_size", lambda *a, **k: 4)
    parsed = ds_config.DeepSpeedConfig(json.loads(json.dumps(cfg)))
    assert (parsed.train_batch_size, parsed.train_micro_batch_size_per_gpu, parsed.gradient_accumulation_steps) == (32, 2, 4)
    assert parsed.zero_optimization_stage == (2 if strategy.endswith("2") else 3)
    assert (parsed.bfloat16_config.enabled, parsed.float16_config.enabled) == (precision == "bf16", precision == "fp16")
    assert parsed.gradient_clipping == 1.0 and parsed.zero_allow_untested_optimizer
    zero = DeepSpeedZeroConfig(**cfg["zero_optimization"])
    assert zero.offload_optimizer is None or zero.offload_optimizer.device == "none"
    assert zero.overlap_comm and zero.reduce_bucket_size == 4096 * 4096
    # the validation can fail: a misspelt key is refused
    with pytest.raises(Exception, match="reduce_bucket_sise"):
        DeepSpeedZeroConfig(**{**cfg["zero_optimization"], "reduce_bucket_sise": 1})
    # and the batch must split across the processes
    with pytest.raises(Exception):
        ds_config.DeepSpeedConfig({**cfg, "train_micro_batch_size_per_gpu": 3})


def test_without_deepspeed_the_strategies_are_refused_and_not_listed(tmp_path, base_model, monkeypatch):
    spec = json.loads(zero_job(tmp_path / "p", base_model, "deepspeed-zero3").read_text())
    assert validate_job_spec(spec).strategy == "deepspeed-zero3"
    from modelfab_torch import zero
    from modelfab_torch.__main__ import info

    assert info()["strategies"] == ["ddp", "fsdp", "deepspeed-zero2", "deepspeed-zero3"]
    monkeypatch.setattr(zero, "available", lambda: False)
    assert info()["strategies"] == ["ddp", "fsdp"]  # --info lists them only where deepspeed imports
    with pytest.raises(JobSpecError, match=r"deepspeed is not installed in this environment; pip install deepspeed==0\.19\.8"):
        validate_job_spec(spec)
