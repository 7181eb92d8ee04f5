"""Preference training and prefix tuning: the losses and gradients against the engine's own numbers (printed by
src/engine/preference.ts), the per-sequence log-probs, DPO's reference, the prefix's initial draws in PEFT's
layout, and whole DPO / ORPO / SimPO / prefix jobs (files, reward metrics, resume on the same curve)."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from conftest import make_job, read_jsonl
from modelfab_torch.chat import IGNORE_INDEX
from modelfab_torch.preference import preference_loss, sequence_logps
from modelfab_torch.rng import Rng
from modelfab_torch.spec import validate_job_spec
from modelfab_torch.worker import run_job

# preferenceLoss(ctx, logps [-5.5, -12.25, -7, -9.5], counts [3, 6, 4, 5], cfg, ref [-6, -11, -6.5, -10]) and the
# gradient its tape gives the log-probs, as the engine prints them.
ENGINE = [
    ({"loss": "dpo", "beta": 0.1}, 0.7144335453683088,
     [-0.023751040920615196, -0.02718193456530571, 0.023751040920615196, 0.02718193456530571],
     {"reward_accuracy": 0.5, "reward_margin": -0.0375, "reward_chosen": -0.0375, "reward_rejected": 0}),
    ({"loss": "orpo", "lambda": 0.2}, 2.0898249221989023,
     [-0.18749628961086273, -0.09369633346796036, 0.01588492840528488, 0.012724489904940128],
     {"reward_accuracy": 0, "reward_margin": -0.13232098910403145, "reward_chosen": -1.7808717800378107, "reward_rejected": -1.6485507909337793}),
    ({"loss": "simpo"}, 1.1203338084884173,
     [-0.220252126455307, -0.11439967900514603, 0.16518908739089966, 0.13727961480617523],
     {"reward_accuracy": 0, "reward_margin": -0.225, "reward_chosen": -3.875, "reward_rejected": -3.65}),
]


def spec_of(job: Path):
    return validate_job_spec(json.loads(job.read_text()))


@pytest.mark.parametrize("cfg, loss, grad, stats", ENGINE, ids=[e[0]["loss"] for e in ENGINE])
def test_losses_gradients_and_rewards_are_the_engines(cfg, loss, grad, stats):
    logps = torch.tensor([-5.5, -12.25, -7.0, -9.5], requires_grad=True)
    ref = torch.tensor([-6.0, -11.0, -6.5, -10.0], dtype=torch.float64)
    full = {"loss": cfg["loss"], "beta": None, "lambda": None, "gamma": None, **cfg}
    got, s = preference_loss(logps, torch.tensor([3, 6, 4, 5]), full, ref if cfg["loss"] == "dpo" else None)
    got.backward()
    assert got.item() == pytest.approx(loss, rel=1e-12)
    assert logps.grad.tolist() == pytest.approx(grad, rel=1e-6)
    assert s["loss"] == pytest.approx(loss, rel=1e-12)
    for k, v in stats.items():
        assert s[k] == pytest.approx(v, rel=1e-12, abs=1e-15), k


def test_dpo_without_a_reference_is_an_error():
    with pytest.raises(RuntimeError, match="reference"):
        preference_loss(torch.zeros(2), torch.ones(2), {"loss": "dpo"})


def test_sequence_logps_sum_the_scored_tokens_only():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 7)
    labels = torch.tensor([[IGNORE_INDEX, 3, 5, IGNORE_INDEX], [1, IGNORE_INDEX, IGNORE_INDEX, IGNORE_INDEX]])
    lp, counts = sequence_logps(logits, labels)
    ls = torch.log_softmax(logits, -1)
    assert lp.tolist() == pytest.approx([(ls[0, 1, 3] + ls[0, 2, 5]).item(), ls[1, 0, 1].item()], rel=1e-6)
    assert counts.tolist() == [2, 1]


def test_rng_normal_is_the_engines():
    r = Rng(12)  # new Rng(12).normal() x3 (Box-Muller; the second value kept for the next call)
    assert [r.normal() for _ in range(3)] == pytest.approx([-0.9064151748391874, -0.7826677120716841, 0.6745142054501112], rel=1e-15)


def test_prefix_init_is_the_engines_draws_in_pefts_layout():
    from transformers import LlamaConfig

    from modelfab_torch.methods import engine_prefix_init

    cfg = LlamaConfig(vocab_size=10, hidden_size=16, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    d, kw, p = 4, 8, 3
    got = engine_prefix_init(cfg, p, 5)
    assert got.shape == (p, 2 * 2 * kw)
    rng = Rng(5)
    for layer in range(2):
        k, v = [], []
        for _ in range(p * kw):
            k.append(rng.normal() * 0.02)
            v.append(rng.normal() * 0.02)
        k_eng = torch.tensor(k, dtype=torch.float32).view(p, kw)
        # per head, engine dims (2i, 2i+1) are HF dims (i, i + D/2)
        for h in range(2):
            for i in range(d // 2):
                for j in range(2):
                    assert got[:, 2 * layer * kw + h * d + j * (d // 2) + i].tolist() == k_eng[:, h * d + 2 * i + j].tolist()
        assert torch.equal(got[:, (2 * layer + 1) * kw:(2 * layer + 2) * kw], torch.tensor(v, dtype=torch.float32).view(p, kw))


def test_lora_dpo_reference_is_the_base_with_the_adapter_disabled(tmp_path, base_model):
    from transformers import AutoModelForCausalLM

    from modelfab_torch.chat import TextTokenizer
    from modelfab_torch.methods import apply_method
    from modelfab_torch.preference import load_pairs
    from modelfab_torch.worker import Trainer

    job = make_job(tmp_path / "job", base_model, "dpo", {"type": "lora", "rank": 4, "alpha": 8, "targets": ["q", "v", "down"]}, seqLen=96)
    spec = spec_of(job)
    tok = TextTokenizer(str(base_model))
    pairs = load_pairs(spec.train_path, tok, spec.hp.seq_len, "chatml")
    assert len(pairs) == 6
    # a pair one of whose replies is cut away entirely is dropped, as the engine drops it
    assert len(load_pairs(spec.train_path, tok, 32, "chatml")) == 4
    model = apply_method(AutoModelForCausalLM.from_pretrained(str(base_model)), spec.method, spec.seed)
    tr = Trainer(spec, model, pairs, [], tok.pad_id or 0, torch.device("cpu"), lambda: False, lambda s: None)
    tr.reference_logps(pairs)
    with model.disable_adapter(), torch.no_grad():
        model.eval()
        want, _, _ = tr.pair_logps(pairs[:2])
    got = [pairs[0].ref_chosen, pairs[1].ref_chosen, pairs[0].ref_rejected, pairs[1].ref_rejected]
    assert got == want.tolist()
    assert all(p.ref_chosen < 0 and p.ref_rejected < 0 for p in pairs)


@pytest.mark.parametrize("loss", ["dpo", "orpo", "simpo"])
def test_preference_job_writes_rewards_and_resumes_on_the_same_curve(tmp_path, base_model, loss):
    method = {"type": "lora", "rank": 4, "alpha": 8, "targets": ["q", "v"]} if loss == "dpo" else {"type": "full"}
    hp = {"maxSteps": 5, "evalEvery": 5, "seqLen": 96, "checkpointEvery": 0, "lr": 2e-2, "preference": {"loss": loss}}
    ref = make_job(tmp_path / "ref", base_model, "dpo", method, **hp)
    assert run_job(spec_of(ref)) == "succeeded"
    want = read_jsonl(tmp_path / "ref" / "metrics.jsonl")
    rewards = {"reward_accuracy", "reward_margin", "reward_chosen", "reward_rejected"}
    assert all(rewards <= set(m) for m in want)
    assert {f"eval_{k}" for k in rewards} <= set(want[-1]) and "eval_loss" in want[-1]
    assert all(0 <= m["reward_accuracy"] <= 1 for m in want)
    if loss == "dpo":
        assert want[0]["loss"] == pytest.approx(math.log(2), rel=1e-6)  # policy == reference at step 1
        assert want[0]["reward_margin"] == 0
    manifest = json.loads((tmp_path / "ref" / "manifest.json").read_text())
    assert set(manifest["eval_metrics"]) == rewards
    assert manifest["eval_metrics"]["reward_margin"] == pytest.approx(want[-1]["eval_reward_margin"])
    assert manifest["eval_loss"] < manifest["eval_loss_before"]  # it learnt the preference

    job = make_job(tmp_path / "job", base_model, "dpo", method, **hp)
    assert run_job(spec_of(job), stop_after_step=2) == "stopped"
    assert run_job(spec_of(job)) == "succeeded"
    got = read_jsonl(tmp_path / "job" / "metrics.jsonl")
    # the reference is recomputed from the same initial model, so the resumed curve is the uninterrupted one
    assert [m["loss"] for m in got] == pytest.approx([m["loss"] for m in want], rel=1e-6, abs=0)
    assert [m["reward_margin"] for m in got] == pytest.approx([m["reward_margin"] for m in want], rel=1e-5, abs=1e-9)


def test_prefix_tuning_writes_a_peft_adapter_the_trainer_reads_back(tmp_path, base_model):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    method = {"type": "prefix", "numVirtualTokens": 3}
    job = make_job(tmp_path / "job", base_model, "sft", method, maxSteps=4, lr=0.1, evalEvery=0, checkpointEvery=2)
    assert run_job(spec_of(job)) == "succeeded"
    out = tmp_path / "job"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["model_kind"] == "adapter" and manifest["model_format"] == "peft"
    assert manifest["trainable_params"] == 3 * 2 * 2 * 16  # P x layers x (k, v) x kv_heads * head_dim
    cfg = json.loads((out / "model" / "adapter_config.json").read_text())
    assert cfg["peft_type"] == "PREFIX_TUNING" and cfg["num_virtual_tokens"] == 3 and cfg["prefix_projection"] is False
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(base_model)), str(out / "model"))
    trained = model.prompt_encoder["default"].embedding.weight
    from modelfab_torch.methods import engine_prefix_init

    start = engine_prefix_init(model.base_model.config, 3, 7 + 1)
    assert trained.shape == start.shape and not torch.allclose(trained, start)
    losses = [m["loss"] for m in read_jsonl(out / "metrics.jsonl")]
    assert losses[-1] < losses[0]
