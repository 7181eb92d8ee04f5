#!/usr/bin/python3
"""PyTorch reference for `npm run bench:train`.

Measures training throughput (tokens/s) of a small Llama-family decoder on CPU:
vocab 4096, hidden 256, 4 layers, 4 heads (head_dim 64, no GQA), SwiGLU FFN 768,
RMSNorm eps 1e-5, RoPE base 10000, untied output matrix, no biases, float32,
hand-written causal attention, cross-entropy over all positions, batch 8 x seq 128.

One step = forward + backward + AdamW(lr 1e-3, wd 0.01) + zero_grad(set_to_none=True).
--bf16: the forward under torch.autocast("cpu", dtype=torch.bfloat16) (mixed precision: matmuls in bf16 through
oneDNN, which runs AMX where the processor has it; parameters, gradients and AdamW stay float32).
Modes: `full` (all parameters trained) and `lora` (rank 8, alpha 16, dropout 0, on
q and v projections only; every base parameter frozen). Data: seeded random token ids.
Reports the median step time; tokens/s = 8*128 / median.

Run with Debian's interpreter (it sees python3-torch):
    /usr/bin/python3 bench/torch_train.py --threads 1 [--steps 10 --warmup 3 --modes full,lora]
Human-readable lines go to stderr; exactly one JSON line goes to stdout.
If torch is missing, stdout is {"error": "torch not available: ..."} and the exit code is 0.
"""
import argparse
import contextlib
import json
import math
import os
import statistics
import sys
import time

VOCAB, DIM, LAYERS, HEADS, FFN = 4096, 256, 4, 4, 768
HEAD_DIM = DIM // HEADS
EPS, ROPE_BASE = 1e-5, 10000.0
BATCH, SEQ = 8, 128
LORA_R, LORA_ALPHA = 8, 16


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def build(torch):
    nn, F = torch.nn, torch.nn.functional

    class RMSNorm(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * self.weight

    class LoRALinear(nn.Module):
        """Frozen base weight + trainable low-rank update: y = xW^T + (alpha/r) * x A^T B^T."""

        def __init__(self, base, r=LORA_R, alpha=LORA_ALPHA):
            super().__init__()
            self.base = base
            self.base.weight.requires_grad_(False)
            self.lora_a = nn.Parameter(torch.empty(r, base.in_features))
            self.lora_b = nn.Parameter(torch.zeros(base.out_features, r))
            nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
            self.scale = alpha / r

        def forward(self, x):
            return self.base(x) + (x @ self.lora_a.t() @ self.lora_b.t()) * self.scale

    def rope_tables():
        inv = 1.0 / (ROPE_BASE ** (torch.arange(0, HEAD_DIM, 2).float() / HEAD_DIM))
        ang = torch.outer(torch.arange(SEQ).float(), inv)  # (T, hd/2)
        return ang.cos(), ang.sin()

    def rope(x, cos, sin):  # x: (B, H, T, hd), rotate interleaved-free halves (Llama/HF style)
        x1, x2 = x[..., : HEAD_DIM // 2], x[..., HEAD_DIM // 2 :]
        return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.attn_norm, self.ffn_norm = RMSNorm(DIM), RMSNorm(DIM)
            self.q = nn.Linear(DIM, DIM, bias=False)
            self.k = nn.Linear(DIM, DIM, bias=False)
            self.v = nn.Linear(DIM, DIM, bias=False)
            self.o = nn.Linear(DIM, DIM, bias=False)
            self.gate = nn.Linear(DIM, FFN, bias=False)
            self.up = nn.Linear(DIM, FFN, bias=False)
            self.down = nn.Linear(FFN, DIM, bias=False)

        def forward(self, x, cos, sin, mask):
            B, T, _ = x.shape
            h = self.attn_norm(x)
            q = self.q(h).view(B, T, HEADS, HEAD_DIM).transpose(1, 2)
            k = self.k(h).view(B, T, HEADS, HEAD_DIM).transpose(1, 2)
            v = self.v(h).view(B, T, HEADS, HEAD_DIM).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(HEAD_DIM))
            att = att.masked_fill(mask, float("-inf")).softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, DIM)
            x = x + self.o(y)
            h = self.ffn_norm(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(VOCAB, DIM)
            self.blocks = nn.ModuleList([Block() for _ in range(LAYERS)])
            self.norm = RMSNorm(DIM)
            self.lm_head = nn.Linear(DIM, VOCAB, bias=False)  # untied
            cos, sin = rope_tables()
            self.register_buffer("cos", cos, persistent=False)
            self.register_buffer("sin", sin, persistent=False)
            mask = torch.triu(torch.ones(SEQ, SEQ, dtype=torch.bool), diagonal=1)
            self.register_buffer("mask", mask, persistent=False)

        def forward(self, ids, targets):
            x = self.embed(ids)
            for blk in self.blocks:
                x = blk(x, self.cos, self.sin, self.mask)
            logits = self.lm_head(self.norm(x))
            return F.cross_entropy(logits.view(-1, VOCAB), targets.view(-1))

    def make(mode):
        model = Model()
        if mode == "lora":
            for p in model.parameters():
                p.requires_grad_(False)
            for blk in model.blocks:
                blk.q, blk.v = LoRALinear(blk.q), LoRALinear(blk.v)
        return model

    return make


def run_mode(torch, make, mode, args, profile=False):
    torch.manual_seed(args.seed)
    model = make(mode).train()
    params = [p for p in model.parameters() if p.requires_grad]
    n_train = sum(p.numel() for p in params)
    n_total = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=0.01)
    g = torch.Generator().manual_seed(args.seed)
    data = torch.randint(0, VOCAB, (BATCH, SEQ + 1), generator=g)
    ids, targets = data[:, :-1].contiguous(), data[:, 1:].contiguous()

    phase = torch.autograd.profiler.record_function  # labels only; ~free when not profiling

    autocast = (lambda: torch.autocast(device_type="cpu", dtype=torch.bfloat16)) if args.bf16 else contextlib.nullcontext

    def step():
        with phase("phase:forward"), autocast():
            loss = model(ids, targets)
        with phase("phase:backward"):
            loss.backward()
        with phase("phase:optimizer"):
            opt.step()
            opt.zero_grad(set_to_none=True)
        return loss.item()

    for _ in range(args.warmup):
        step()
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    log(f"[{mode}] trainable {n_train:,} / {n_total:,} params, loss {loss:.4f}, "
        f"median step {med * 1e3:.1f} ms (min {min(times) * 1e3:.1f}, max {max(times) * 1e3:.1f}), "
        f"{BATCH * SEQ / med:,.0f} tok/s")
    if profile:
        with torch.autograd.profiler.profile() as prof:
            step()
        ev = prof.key_averages()
        log(ev.table(sort_by="self_cpu_time_total", row_limit=args.profile_rows))
        total = sum(e.self_cpu_time_total for e in ev)
        phases = {e.key[6:]: e.cpu_time_total for e in ev if e.key.startswith("phase:")}
        log(f"[{mode}] phases: " + ", ".join(f"{k} {v / 1e3:.1f} ms ({100 * v / total:.0f}%)"
                                            for k, v in phases.items()))
    return med


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--modes", default="full,lora")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", action="store_true", help="mixed precision: the forward under CPU autocast to bfloat16")
    ap.add_argument("--profile", action="store_true", help="print an op profile of one extra step (stderr)")
    ap.add_argument("--profile-rows", type=int, default=15)
    args = ap.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    bad = [m for m in modes if m not in ("full", "lora")]
    if bad:
        ap.error(f"unknown mode(s): {', '.join(bad)}")

    # Debian's torch calls a generic BLAS (OpenBLAS-pthread), whose own thread pool ignores
    # torch.set_num_threads and defaults to all cores: pin it before torch loads it.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    # With two thread pools (OpenMP for torch ops, pthreads for OpenBLAS) spinning OpenMP
    # workers starve the BLAS threads: at --threads 2 a step is ~2x slower than at 1 thread.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import torch
    except Exception as e:  # ImportError, or a broken install
        print(json.dumps({"error": f"torch not available: {e}"}))
        return 0
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set (only allowed once, before any parallel work)
    torch.set_num_threads(args.threads)

    log(f"torch {torch.__version__}, threads {torch.get_num_threads()}, {'bf16 autocast' if args.bf16 else 'float32'}, "
        f"batch {BATCH}x{SEQ}, steps {args.steps} (+{args.warmup} warmup)")
    make = build(torch)
    med = {m: run_mode(torch, make, m, args, profile=args.profile) for m in modes}
    out = {"torch_version": torch.__version__, "threads": torch.get_num_threads(), "precision": "bf16" if args.bf16 else "fp32"}
    out.update({f"{m}_tok_s": round(BATCH * SEQ / t, 1) for m, t in med.items()})
    out.update({f"{m}_step_ms": round(t * 1e3, 2) for m, t in med.items()})
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
