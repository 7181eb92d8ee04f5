"""The same job on both trainers: the engine (TypeScript, run through node) and this one.

A tiny random model made by the engine and exported by its Hugging Face writer (src/model-files/hf-folder.ts) is the
base; the same job.json (same data, seed and hyperparameters, fp32 on CPU) runs on the engine's worker and on the
torch trainer. Checked: the token ids and labels of every record under every chat template, transformers' logits on
the engine's export, PEFT's logits with the engine's LoRA, prompt and prefix adapters, the `gguf` package on the
engine's GGUF file, the first step's loss (relative difference <= 1e-4) and the loss curve (within 1%) of every
case in parity.CASES (language modelling and the preference stage's DPO, ORPO and SimPO, over full, freeze, LoRA,
prompt and prefix tuning), and for the preference stage the rewards of every step. Skipped,
saying why, where node or the repository's node_modules are missing (the Python package outside the repository)."""
from __future__ import annotations

import json

import pytest

from modelfab_torch.chat import TextTokenizer, encode_chat
from modelfab_torch.parity import CASES, CHATS, TEXTS, engine_missing, hf_logit_max, make_engine_model, peft_logit_max, rel, run_both

STEP1_REL = 1e-4
CURVE_REL = 0.01

pytestmark = pytest.mark.skipif(engine_missing() is not None, reason=f"engine parity: {engine_missing()}")


@pytest.fixture(scope="module")
def engine_model(tmp_path_factory):
    return make_engine_model(tmp_path_factory.mktemp("parity"))


def test_the_same_token_ids_and_labels(engine_model):
    ref = json.loads((engine_model / "engine-ids.json").read_text())
    tok = TextTokenizer(str(engine_model / "base"))
    assert tok.vocab_size == ref["vocabSize"]
    assert [tok.encode(t) for t in TEXTS] == ref["pretrain"]
    assert set(ref["chats"]) == {"chatml", "qwen2", "llama3"}
    for template, encoded in ref["chats"].items():
        for chat, want in zip(CHATS, encoded):
            ids, labels = encode_chat(tok, chat, template)
            assert ids == want["ids"], (template, chat)
            assert labels == want["labels"], (template, chat)


def test_transformers_reads_the_engines_export_with_its_logits(engine_model):
    assert hf_logit_max(engine_model) <= 1e-4


def test_peft_reads_the_engines_adapters_with_its_logits(engine_model):
    # LoRA (rsLoRA on every linear), prompt and prefix tuning, each with tensors far from zero
    diffs = peft_logit_max(engine_model)
    assert set(diffs) == {"lora", "prompt", "prefix"}
    for kind, d in diffs.items():
        assert d <= 1e-4, (kind, d)


@pytest.mark.parametrize("name, stage, method, hp", CASES, ids=[c[0] for c in CASES])
def test_same_first_step_and_curve(tmp_path, engine_model, name, stage, method, hp):
    em, tm, eman, tman = run_both(tmp_path, engine_model / "base", stage, method, **{"maxSteps": 16, **hp})
    assert [m["step"] for m in em] == [m["step"] for m in tm]
    assert rel(em[0]["loss"], tm[0]["loss"]) <= STEP1_REL, (em[0]["loss"], tm[0]["loss"])
    assert rel(eman["eval_loss_before"], tman["eval_loss_before"]) <= STEP1_REL
    for e, t in zip(em, tm):
        assert (rel(e["lr"], t["lr"]) <= 1e-12) if e["lr"] else t["lr"] == 0
        assert rel(e["loss"], t["loss"]) <= CURVE_REL, (e["step"], e["loss"], t["loss"])
        # far inside the 1%: a drift that the batch-to-batch noise of the losses would hide still fails here
        assert abs(e["loss"] - t["loss"]) <= 1e-3, (e["step"], e["loss"], t["loss"])
        assert rel(e["grad_norm"], t["grad_norm"]) <= CURVE_REL * 5, (e["step"], e["grad_norm"], t["grad_norm"])
        if stage == "dpo":  # the rewards the preference stage reports, under the engine's names
            for k in ("reward_margin", "reward_chosen", "reward_rejected"):
                assert abs(e[k] - t[k]) <= 1e-3 + CURVE_REL * abs(e[k]), (e["step"], k, e[k], t[k])
    # it trained: the comparison is not between two unchanged models
    assert abs(eman["eval_loss"] - eman["eval_loss_before"]) > 5e-3
    assert eman["trainable_params"] == tman["trainable_params"] and eman["total_params"] == tman["total_params"]
    assert rel(eman["eval_loss"], tman["eval_loss"]) <= CURVE_REL
    assert set(eman.get("eval_metrics", {})) == set(tman.get("eval_metrics", {}))


def test_the_gguf_package_reads_the_engines_gguf(engine_model):
    """llama.cpp's own Python reader (gguf on PyPI) on the engine's GGUF writer: the metadata llama.cpp needs, the
    tokenizer, and every tensor equal to the engine's Hugging Face export (q and k rows in llama.cpp's rotary order)."""
    import numpy as np
    import torch
    from gguf import GGUFReader, GGMLQuantizationType
    from safetensors.torch import load_file

    r = GGUFReader(str(engine_model / "model.gguf"))

    def field(name):
        f = r.fields[name]
        v = f.parts[f.data[0]]
        return bytes(v).decode("utf-8") if f.types[0].name == "STRING" else v.tolist()[0]

    cfg = json.loads((engine_model / "base" / "config.json").read_text())
    assert field("general.architecture") == "llama"
    assert field("llama.block_count") == cfg["num_hidden_layers"]
    assert field("llama.embedding_length") == cfg["hidden_size"]
    assert field("llama.feed_forward_length") == cfg["intermediate_size"]
    assert field("llama.attention.head_count") == cfg["num_attention_heads"]
    assert field("llama.attention.head_count_kv") == cfg["num_key_value_heads"]
    assert field("tokenizer.ggml.model") == "gpt2"
    tokens = r.fields["tokenizer.ggml.tokens"]
    assert len(tokens.data) == json.loads((engine_model / "engine-ids.json").read_text())["vocabSize"]
    assert "{% for message in messages %}" in field("tokenizer.chat_template")

    hf = load_file(str(engine_model / "base" / "model.safetensors"))
    heads, kv = cfg["num_attention_heads"], cfg["num_key_value_heads"]

    def rotary_rows(w, n):  # HF's half-split rotary rows to llama.cpp's interleaved ones (convert_hf_to_gguf.py)
        return w.reshape(n, 2, w.shape[0] // n // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

    names = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight", "output.weight": "lm_head.weight"}
    for layer in range(cfg["num_hidden_layers"]):
        p, q = f"blk.{layer}.", f"model.layers.{layer}."
        names.update({p + "attn_q.weight": q + "self_attn.q_proj.weight", p + "attn_k.weight": q + "self_attn.k_proj.weight",
                      p + "attn_v.weight": q + "self_attn.v_proj.weight", p + "attn_output.weight": q + "self_attn.o_proj.weight",
                      p + "ffn_gate.weight": q + "mlp.gate_proj.weight", p + "ffn_up.weight": q + "mlp.up_proj.weight",
                      p + "ffn_down.weight": q + "mlp.down_proj.weight", p + "attn_norm.weight": q + "input_layernorm.weight",
                      p + "ffn_norm.weight": q + "post_attention_layernorm.weight"})
    seen = set()
    for t in r.tensors:
        assert t.tensor_type == GGMLQuantizationType.F32, (t.name, t.tensor_type)
        want = hf[names[t.name]].numpy()
        if t.name.endswith("attn_q.weight"):
            want = rotary_rows(want, heads)
        elif t.name.endswith("attn_k.weight"):
            want = rotary_rows(want, kv)
        got = np.asarray(t.data).reshape(want.shape)
        assert np.array_equal(got, want), t.name
        seen.add(t.name)
    assert seen == set(names), set(names) ^ seen
