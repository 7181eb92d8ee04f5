#!/usr/bin/env python3
"""PyTorch reference for `npm run bench:scale`: one LoRA training step at a real model's shape.

Builds a randomly initialised Qwen2-shaped decoder as a plain torch module (float32 weights, grouped-query
attention with QKV bias, SwiGLU, RMSNorm, RoPE, tied embeddings, F.cross_entropy over all positions), puts
LoRA r16 (alpha 32) on q, k, v and o with every base weight frozen, and times batch-1 steps of 512 tokens with
gradient accumulation: forward + backward per micro-batch, AdamW and zero_grad per step. Prints one JSON line
{"tok_s", "peak_rss_mb", "build_s", "torch"} on stdout; human-readable lines go to stderr. --bf16: the forward under
CPU autocast to bfloat16 (float32 weights, bf16 matmuls through oneDNN).

    .venv-torch/bin/python bench/torch_scale.py --shape q05 --threads 2 --steps 1 --accum 2
"""
import argparse
import contextlib
import json
import math
import os
import resource
import sys
import time

SHAPES = {
    "q05": dict(vocab=151936, dim=896, layers=24, heads=14, kv_heads=2, ffn=4864),
    "q15": dict(vocab=151936, dim=1536, layers=28, heads=12, kv_heads=2, ffn=8960),
}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="q05")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--accum", type=int, default=2)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--bf16", action="store_true", help="mixed precision: the forward under CPU autocast to bfloat16")
    args = ap.parse_args()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    try:
        import torch
    except Exception as e:  # noqa: BLE001 - reported, not raised
        print(json.dumps({"error": f"torch not available: {e}"}))
        return
    torch.set_num_threads(args.threads)
    nn, F = torch.nn, torch.nn.functional
    s = SHAPES[args.shape]
    V, C, L, H, KVH, FF, T = s["vocab"], s["dim"], s["layers"], s["heads"], s["kv_heads"], s["ffn"], args.seq
    D = C // H

    class RMSNorm(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * self.weight

    class LoRALinear(nn.Module):
        def __init__(self, base, r=16, alpha=32):
            super().__init__()
            self.base = base
            self.lora_a = nn.Parameter(torch.empty(r, base.in_features))
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, r))
            nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
            self.scale = alpha / r

        def forward(self, x):
            return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale

    inv = 1.0 / (1e6 ** (torch.arange(0, D, 2).float() / D))
    ang = torch.outer(torch.arange(T).float(), inv)
    cos, sin = ang.cos(), ang.sin()
    mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)

    def rope(x):
        x1, x2 = x[..., : D // 2], x[..., D // 2:]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_norm, self.ffn_norm = RMSNorm(C), RMSNorm(C)
            self.q, self.k, self.v = nn.Linear(C, H * D), nn.Linear(C, KVH * D), nn.Linear(C, KVH * D)
            self.o = nn.Linear(H * D, C, bias=False)
            self.gate, self.up = nn.Linear(C, FF, bias=False), nn.Linear(C, FF, bias=False)
            self.down = nn.Linear(FF, C, bias=False)

        def forward(self, x):
            B = x.shape[0]
            h = self.attn_norm(x)
            q = rope(self.q(h).view(B, T, H, D).transpose(1, 2))
            k = rope(self.k(h).view(B, T, KVH, D).transpose(1, 2)).repeat_interleave(H // KVH, dim=1)
            v = self.v(h).view(B, T, KVH, D).transpose(1, 2).repeat_interleave(H // KVH, dim=1)
            att = ((q @ k.transpose(-2, -1)) / math.sqrt(D)).masked_fill(mask, float("-inf")).softmax(dim=-1)
            x = x + self.o((att @ v).transpose(1, 2).reshape(B, T, H * D))
            h = self.ffn_norm(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(V, C)
            self.blocks = nn.ModuleList([Block() for _ in range(L)])
            self.norm = RMSNorm(C)

        def forward(self, ids, targets):
            x = self.embed(ids)
            for blk in self.blocks:
                x = blk(x)
            logits = self.norm(x) @ self.embed.weight.t()  # tied
            return F.cross_entropy(logits.view(-1, V), targets.view(-1))

    t0 = time.perf_counter()
    torch.manual_seed(0)
    with torch.no_grad():
        model = Model()
    for p in model.parameters():
        p.requires_grad_(False)
    for blk in model.blocks:
        blk.q, blk.k, blk.v, blk.o = LoRALinear(blk.q), LoRALinear(blk.k), LoRALinear(blk.v), LoRALinear(blk.o)
    build_s = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, V, (1, T + 1), generator=g)
    ids, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    autocast = (lambda: torch.autocast(device_type="cpu", dtype=torch.bfloat16)) if args.bf16 else contextlib.nullcontext

    def step():
        for _ in range(args.accum):
            with autocast():
                loss = model(ids, targets) / args.accum
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    t1 = time.perf_counter()  # every step timed, the first included, as the engine's side does
    for _ in range(args.steps):
        step()
    secs = time.perf_counter() - t1
    tok_s = args.steps * args.accum * T / secs
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log(f"[torch {args.shape}] built in {build_s:.1f} s, {tok_s:.1f} tok/s, peak RSS {peak:.0f} MB")
    print(json.dumps({"tok_s": round(tok_s, 2), "peak_rss_mb": round(peak), "build_s": round(build_s, 1), "torch": torch.__version__}))


if __name__ == "__main__":
    main()
