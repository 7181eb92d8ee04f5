"""The pure parts: the engine's random numbers and schedule (reference values printed by the engine's own code),
chat templates and SFT labels, examples and batches."""
from __future__ import annotations

import pytest

from modelfab_torch.chat import IGNORE_INDEX, ChatError, TextTokenizer, encode_chat, js_trim
from modelfab_torch.data import collate, masked_example, pretrain_examples
from modelfab_torch.rng import Rng, epoch_order
from modelfab_torch.schedule import js_round, lr_at, total_steps, warmup_steps
from modelfab_torch.spec import JobSpecError, normalize_method, parse_modules, validate_job_spec


def test_rng_draws_what_the_engine_draws():
    # new Rng(7).nextU32() x3 and epochOrder(...) as src/engine/rng.ts and batches.ts print them
    r = Rng(7)
    assert [r.next_u32() for _ in range(3)] == [1004282400, 2200021487, 1928073449]
    assert epoch_order(10, 42, 0) == [9, 1, 5, 6, 4, 3, 8, 2, 0, 7]
    assert epoch_order(13, 42, 3) == [7, 3, 4, 9, 11, 8, 5, 2, 6, 10, 0, 12, 1]
    # a seed whose product with 1000003 passes 2^32 (JavaScript's double arithmetic, then ToUint32)
    assert epoch_order(7, 123456789012, 1) == [5, 0, 2, 4, 6, 1, 3]


def test_schedule_is_the_engines():
    # lrAt(s, {lr: 1e-3, warmupSteps: 2, totalSteps: 10, schedule: 'cosine', minLrRatio: 0.1}) from optim.ts
    want = [0, 0.0005, 0.001, 0.0007222075445642904, 0.00013425421036992097, 0.0001, 0.0001]
    assert [lr_at(s, 1e-3, 2, 10, "cosine", 0.1) for s in [0, 1, 2, 5, 9, 10, 12]] == want
    want = [0.0003, 0.00027, 0.00023999999999999998, 0.00015, 0.000029999999999999997, 0]
    assert [lr_at(s, 3e-4, 0, 10, "linear") for s in [0, 1, 2, 5, 9, 10]] == want
    assert lr_at(7, 1e-3, 2, 10, "constant") == 1e-3
    with pytest.raises(ValueError):
        lr_at(0, 1e-3, 0, 10, "step")


def test_step_counts():
    assert total_steps(10, 2, 1, None, None) == 5
    assert total_steps(10, 2, 2, 3, None) == 6  # floor(10 / 4) per epoch
    assert total_steps(1, 4, 1, 2, None) == 2  # at least one step per epoch
    assert total_steps(10, 2, 1, 9, 7) == 7  # maxSteps wins
    assert js_round(2.5) == 3 and js_round(0.5) == 1  # Math.round, not banker's rounding
    assert warmup_steps(10, None, 0.25) == 3 and warmup_steps(10, 4, 0.9) == 4


def test_examples_and_batches():
    ex = pretrain_examples(list(range(10)), 4)
    assert [(e.ids, e.labels) for e in ex] == [([0, 1, 2, 3], [1, 2, 3, 4]), ([4, 5, 6, 7], [5, 6, 7, 8]), ([8], [9])]
    assert masked_example([5, 6, 7, 8], [0, 0, 1, 1], 8).labels == [IGNORE_INDEX, 7, 8]
    assert masked_example([5, 6, 7, 8], [0, 0, 0, 1], 1) is None  # truncated before anything is scored
    ids, labels, tokens = collate([ex[0], ex[2]], pad_id=99)
    assert ids.shape == (2, 8) and tokens == 5
    assert ids[1].tolist() == [8] + [99] * 7 and labels[1].tolist() == [9] + [IGNORE_INDEX] * 7


def test_chat_labels_follow_the_engine_rule(base_model):
    tok = TextTokenizer(str(base_model))
    start, end = tok.tok.token_to_id("<|im_start|>"), tok.tok.token_to_id("<|im_end|>")
    msgs = [{"role": "user", "content": "hi <|im_end|>"}, {"role": "assistant", "content": "no", "weight": 0},
            {"role": "user", "content": "again"}, {"role": "assistant", "content": "yes"}]
    ids, labels = encode_chat(tok, msgs, "chatml")
    assert len(ids) == len(labels)
    # user text that spells a special token stays text: <|im_end|> appears once per turn, not inside the content
    assert ids.count(end) == 4 and ids.count(start) == 4
    trained = [i for i, l in zip(ids, labels) if l != IGNORE_INDEX]
    assert trained == tok.encode("yes") + [end]  # the weight-0 turn and everything but the last answer are masked
    prefix, content = tok.encode("<|im_start|>user\n", True), tok.encode("hi <|im_end|>")
    assert ids[: len(prefix) + len(content) + 1] == prefix + content + [end]
    q_ids, _ = encode_chat(tok, msgs[-1:], "qwen2")
    assert q_ids[: len(tok.encode("<|im_start|>system\n", True))] == tok.encode("<|im_start|>system\n", True)
    with pytest.raises(ChatError, match="needs the token"):
        encode_chat(tok, msgs, "llama3")
    with pytest.raises(ChatError, match="weight must be 0 or 1"):
        encode_chat(tok, [{"role": "assistant", "content": "x", "weight": 0.5}], "chatml")
    with pytest.raises(ChatError, match="unknown role"):
        encode_chat(tok, [{"role": "robot", "content": "x"}], "chatml")


def test_js_trim():
    assert js_trim("\ufeff a \u3000") == "a"
    assert js_trim("\x1ca\x85") == "\x1ca\x85"  # Python's strip() would remove these; JavaScript's trim keeps them


def test_methods_are_checked_like_the_engine():
    assert parse_modules(["q_proj", "attn_v", "all"], "t") == ["q", "k", "v", "o", "gate", "up", "down"]
    m = normalize_method({"type": "lora", "rank": 4, "alpha": 8, "targets": ["q", "v_proj"], "rslora": True}, cuda=False)
    assert m == {"type": "lora", "rank": 4, "alpha": 8, "dropout": 0, "targets": ["q", "v"], "rslora": True}
    with pytest.raises(JobSpecError, match="rank must be a positive integer"):
        normalize_method({"type": "lora", "rank": 0, "alpha": 8}, cuda=False)
    with pytest.raises(JobSpecError, match="needs a CUDA GPU"):
        normalize_method({"type": "qlora", "rank": 4, "alpha": 8}, cuda=False)
    assert normalize_method({"type": "prefix", "numVirtualTokens": 4}, cuda=False) == {"type": "prefix", "numVirtualTokens": 4}
    with pytest.raises(JobSpecError, match="trainableLayers"):
        normalize_method({"type": "freeze", "trainableLayers": 0}, cuda=False)


def test_trainer_options_it_does_not_run_are_refused_not_ignored():
    spec = {"version": 1, "id": "j", "stage": "sft", "base": {"kind": "hf", "path": "b"}, "method": {"type": "full"},
            "data": {"train": {"path": "t.jsonl", "kind": "sft"}}, "hyperparameters": {"batchSize": 2, "seqLen": 16, "lr": 0.001},
            "outputDir": "o", "seed": 0, "threads": 1}
    assert validate_job_spec({**spec, "trainer": "torch", "precision": "fp32", "packing": False, "gradientCheckpointing": False}).id == "j"
    ok = validate_job_spec({**spec, "precision": "bf16", "gradientCheckpointing": True})
    assert ok.precision == "bf16" and ok.gradient_checkpointing is True
    assert validate_job_spec({**spec, "precision": "fp16"}).precision == "fp16"
    with pytest.raises(JobSpecError, match="precision must be fp32, bf16 or fp16"):
        validate_job_spec({**spec, "precision": "fp8"})
    assert validate_job_spec({**spec, "packing": True}).packing is True
    dpo = {**spec, "stage": "dpo", "data": {"train": {"path": "t.jsonl", "kind": "preference"}}}
    with pytest.raises(JobSpecError, match="packing: stage dpo"):
        validate_job_spec({**dpo, "packing": True})
    with pytest.raises(JobSpecError, match="packing: not with prefix tuning"):
        validate_job_spec({**spec, "method": {"type": "prefix", "numVirtualTokens": 2}, "packing": True})
