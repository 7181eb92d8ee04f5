"""The torch trainer on one GPU against a plain padded transformers loop, in the same run.

Random-initialised models of Qwen2.5-0.5B's and Qwen2.5-7B's shapes (no weights are reachable), LoRA r16 on q and
v, sequences of up to 2,048 tokens (lengths drawn from 128 to 2,048, as SFT data is uneven), bf16 autocast over
fp32 master weights. For each model:

  trainer  modelfab_torch's own loop (Trainer.run): packing on (rows of 2,048 tokens, positions restarted per
           example), the chunked cross-entropy, gradient checkpointing for the 7B shape
  plain    the loop most scripts write: each micro-batch padded to its longest example with an attention mask,
           model(..., labels=...) (whole logits), AdamW, the same method and checkpointing

Both see the same examples in the same order, the same steps and micro-batch. Reported per model and loop: tokens/s
(real tokens, not padding; steps after the first two), model FLOP utilisation (6 N + 12 L d T FLOPs per token, the
PaLM convention, over the card's dense bf16 peak) and peak GPU memory. Exactly one JSON line goes to stdout.

  python bench/gpu/torch_gpu.py              # on a GPU machine (bench/gpu/run.sh)
  python bench/gpu/torch_gpu.py --smoke      # tiny shapes on the CPU: checks the script, measures nothing
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import sys
import tempfile
import time

import torch

SHAPES = {
    # Qwen2.5-0.5B and Qwen2.5-7B (config.json of each), random weights
    "qwen2.5-0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                         num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "qwen2.5-7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                       num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
    "smoke": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=512, tie_word_embeddings=True),
}
# Dense bf16 peak (FLOP/s) of the cards this runs on; others report mfu null.
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def log(*a) -> None:
    print(*a, file=sys.stderr, flush=True)


def make_model(shape: dict, device: torch.device):
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(**shape, max_position_embeddings=4096, rms_norm_eps=1e-6, rope_theta=1e6, attn_implementation="sdpa")
    torch.manual_seed(0)
    with device:
        model = Qwen2ForCausalLM(cfg).float()
    return model, cfg


def examples(n: int, max_len: int, vocab: int, seed: int):
    from modelfab_torch.data import Example

    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(n):
        t = int(torch.randint(max(8, max_len // 16), max_len + 1, (1,), generator=g))
        ids = torch.randint(0, vocab, (t + 1,), generator=g).tolist()
        out.append(Example(ids[:-1], ids[1:]))
    return out


def flops_per_token(cfg, params: int, seq: int) -> float:
    return 6 * params + 12 * cfg.num_hidden_layers * cfg.hidden_size * seq


def trainer_loop(shape, data, steps, batch, seq, ckpt, device, out_dir):
    from modelfab_torch.methods import apply_method, base_param_count
    from modelfab_torch.spec import Hyperparameters, JobSpec, normalize_method
    from modelfab_torch.worker import Trainer

    model, cfg = make_model(shape, device)
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    method = normalize_method({"type": "lora", "rank": 16, "alpha": 32}, cuda=device.type == "cuda")
    model = apply_method(model, method, seed=0).to(device)
    hp = Hyperparameters(batch_size=batch, lr=1e-4, seq_len=seq, max_steps=steps, checkpoint_every=0, schedule="constant")
    spec = JobSpec(raw={}, id="bench", stage="sft", base_kind="hf", base_path="", method=method, train_path="", train_kind="sft",
                   validation_path=None, validation_kind=None, hp=hp, seed=0, output_dir=out_dir, threads=os.cpu_count() or 1,
                   precision="bf16", gradient_checkpointing=ckpt, packing=True)
    trainer = Trainer(spec, model, data, [], 0, device, lambda: False, lambda s: None)
    trainer.run()
    recs = [json.loads(l) for l in open(os.path.join(out_dir, "metrics.jsonl"))]
    # tokens so far = tokens_per_s x elapsed_s (the trainer's cumulative figure): the window after the first two steps
    w = min(2, len(recs) - 1)
    done = lambda r: r["tokens_per_s"] * r["elapsed_s"]
    tok_s = (done(recs[-1]) - done(recs[w - 1])) / (recs[-1]["elapsed_s"] - recs[w - 1]["elapsed_s"]) if w >= 1 else recs[-1]["tokens_per_s"]
    params = base_param_count(model)
    del trainer, model
    return tok_s, params, cfg


def plain_loop(shape, data, steps, batch, ckpt, device):
    from modelfab_torch.methods import apply_method, base_param_count
    from modelfab_torch.spec import normalize_method

    model, cfg = make_model(shape, device)
    if ckpt:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    method = normalize_method({"type": "lora", "rank": 16, "alpha": 32}, cuda=device.type == "cuda")
    model = apply_method(model, method, seed=0).to(device)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    times, tokens = [], []
    for s in range(steps):
        items = data[s * batch:(s + 1) * batch]
        t = max(len(e.ids) for e in items)
        ids = torch.zeros((len(items), t), dtype=torch.long)
        mask = torch.zeros((len(items), t), dtype=torch.long)
        labels = torch.full((len(items), t), -100, dtype=torch.long)
        for b, e in enumerate(items):
            n = len(e.ids)
            ids[b, :n] = torch.tensor(e.ids)
            mask[b, :n] = 1
            labels[b, :n] = torch.tensor(e.ids)  # transformers shifts the labels itself
        ids, mask, labels = ids.to(device), mask.to(device), labels.to(device)
        sync(device)
        t0 = time.perf_counter()
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=mask, labels=labels, use_cache=False).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        sync(device)
        times.append(time.perf_counter() - t0)
        tokens.append(sum(len(e.ids) for e in items))
    w = min(2, steps - 1)
    tok_s = sum(tokens[w:]) / sum(times[w:])
    params = base_param_count(model)
    del model, opt
    return tok_s, params, cfg


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def measure(name, fn, device):
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    try:
        tok_s, params, cfg = fn()
    except torch.OutOfMemoryError as e:
        log(f"{name}: out of memory ({str(e).splitlines()[0]})")
        return {"error": "out of memory"}, None, None
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else None
    log(f"{name}: {tok_s:,.0f} tokens/s, peak {peak or 0:.1f} GiB, {time.perf_counter() - t0:.0f} s")
    return {"tokens_per_s": round(tok_s, 1), "peak_gib": round(peak, 2) if peak is not None else None}, params, cfg


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on the CPU: checks that the script runs")
    ap.add_argument("--models", default="qwen2.5-0.5b,qwen2.5-7b")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    card = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16.items() if k in card), None)
    plan = [("smoke", 3, 2, 64, False)] if args.smoke else [
        # name, steps, micro-batch, max sequence, gradient checkpointing
        ("qwen2.5-0.5b", 12, 8, 2048, False),
        ("qwen2.5-7b", 8, 8, 2048, True),
    ]
    wanted = set(args.models.split(","))
    result = {"bench": "gpu", "device": card, "torch": torch.__version__, "lora_rank": 16, "precision": "bf16", "models": {}}
    for name, steps, batch, seq, ckpt in plan:
        if not args.smoke and name not in wanted:
            continue
        shape = SHAPES[name]
        data = examples(steps * batch, seq, shape["vocab_size"], seed=1)
        with tempfile.TemporaryDirectory() as out:
            mine, params, cfg = measure(f"{name} trainer (packed)", lambda: trainer_loop(shape, data, steps, batch, seq, ckpt, device, out), device)
        plain, _, _ = measure(f"{name} plain (padded)", lambda: plain_loop(shape, data, steps, batch, ckpt, device), device)
        row = {"trainer": mine, "plain": plain, "steps": steps, "micro_batch": batch, "max_seq": seq, "gradient_checkpointing": ckpt}
        if params:
            row["params"] = params
            mean_len = sum(len(e.ids) for e in data) / len(data)
            f = flops_per_token(cfg, params, int(mean_len))
            for loop in (mine, plain):
                if "tokens_per_s" in loop:
                    loop["mfu"] = round(loop["tokens_per_s"] * f / peak, 4) if peak else None
            if "tokens_per_s" in mine and "tokens_per_s" in plain:
                row["speedup"] = round(mine["tokens_per_s"] / plain["tokens_per_s"], 3)
        result["models"][name] = row
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
