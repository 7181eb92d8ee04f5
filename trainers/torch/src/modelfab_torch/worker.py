"""One job on the PyTorch stack: reads the spec, trains, and writes the files the scheduler reads, as the engine's
worker does (src/factory/engine-worker.ts): metrics.jsonl, events.jsonl, heartbeat, checkpoints/, model/ and
finally manifest.json.

The loop is the engine's loop (src/engine/train.ts), so the hyperparameters mean the same: the epoch's example
order drawn by the engine's generator from (seed, epoch); micro-batches of batchSize, gradAccum of them per step,
each micro-batch's loss the mean over its scored tokens, scaled by 1/gradAccum; clipping by global norm; AdamW with
decay on matrices only; the engine's warm-up and decay curve; a step with a non-finite gradient skipped; evaluation
every evalEvery steps and at the end; early stopping; a checkpoint every checkpointEvery steps and at the end.

Data parallel under torchrun (distributed.py): each micro-batch is split across the processes and the loss of each
share is scaled by the whole micro-batch's scored tokens (pairs for the preference stage), so the averaged gradient
is the one process's gradient on the whole micro-batch; process 0 writes the files. FSDP (fsdp.py) and DeepSpeed's
ZeRO-2/3 (zero.py) keep that split and scaling.

Resumable: a restarted trainer continues from its latest checkpoint (weights, optimizer, RNG, data position), so
the curve goes on where it stopped. A stop request (SIGTERM) finishes the current step, checkpoints, and returns
'stopped'.
"""
from __future__ import annotations

import gc
import math
import os
import shutil
import time
from contextlib import nullcontext
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F

from .chat import CHAT_TEMPLATES, IGNORE_INDEX, TextTokenizer
from . import chunked_ce
from . import fsdp
from . import zero
from .checkpoint import checkpoint_layout, latest_checkpoint, read_checkpoint, set_rng_state, write_checkpoint
from .data import Example, collate, collate_packed, load_examples
from .distributed import Dist
from .files import Events, Heartbeat, MetricsLog, ThreadGrant, dumps, write_atomic
from .methods import apply_method, base_param_count, numel, prefix_tokens, trainable, virtual_tokens
from .preference import Pair, load_pairs, pair_batch, preference_loss, ref_tensor, sequence_logps
from .rng import epoch_order
from .schedule import lr_at, total_steps, warmup_steps
from .spec import JobSpec, JobSpecError

KEEP_CHECKPOINTS = 2
# fp16's first loss scale (torch's default): halved at each overflow until the gradients fit.
LOSS_SCALE_INIT = 2.0 ** 16
# The figures preference_loss reports, in the order processes add them up.
PREFERENCE_STATS = ("loss", "reward_accuracy", "reward_margin", "reward_chosen", "reward_rejected")


def unigram_perplexity(train: List[Example], val: List[Example], vocab_size: int) -> float:
    """The engine's baseline: perplexity of add-one smoothed training token frequencies on the validation tokens."""
    counts = [1.0] * vocab_size
    total = float(vocab_size)
    for e in train:
        for l in e.labels:
            if l >= 0:
                counts[l] += 1
                total += 1
    nll, n = 0.0, 0
    for e in val:
        for l in e.labels:
            if l >= 0:
                nll -= math.log(counts[l] / total)
                n += 1
    return math.exp(nll / n) if n else math.nan


def adapter_base_ref(spec: JobSpec, model_dir: str, base_dir: str) -> str:
    """The engine's adapterBaseRef: relative to the adapter folder when the job's paths are relative and the base is
    inside the data folder (so the folder can move), else absolute."""
    base = os.path.abspath(base_dir)
    cwd = os.path.abspath(os.getcwd())
    inside = base == cwd or base.startswith(cwd + os.sep)
    if not os.path.isabs(spec.output_dir) and inside:
        return os.path.relpath(base, os.path.abspath(model_dir)).replace(os.sep, "/")
    return base


def device_text(dev: torch.device) -> str:
    if dev.type == "cuda":
        return f"cuda:{torch.cuda.current_device()} ({torch.cuda.get_device_name()})"
    return f"cpu ({torch.get_num_threads()} threads)"


class Trainer:
    def __init__(self, spec: JobSpec, model: torch.nn.Module, train: List[Example], val: List[Example], pad_id: int,
                 device: torch.device, should_stop: Callable[[], bool], on_step: Callable[[int], None], dist: Optional[Dist] = None):
        self.spec, self.model, self.train, self.val = spec, model, train, val
        self.pad_id, self.device, self.should_stop, self.on_step = pad_id, device, should_stop, on_step
        self.dist = dist or Dist.single(device)
        # the training forward goes through DistributedDataParallel (its hooks average the gradients); evaluation
        # and the reference pass use the model itself
        self.net: torch.nn.Module = model
        self.sharded = self.dist.world > 1 and spec.strategy == "fsdp"
        # DeepSpeed's engine (zero.py): made in run(), over the optimizer; it becomes the training forward
        self.deepspeed: Optional[Dict] = None
        self.engine = None
        if self.dist.world > 1 and spec.strategy in zero.STAGES:
            hidden = getattr(getattr(model, "config", None), "hidden_size", None) or 1024
            self.deepspeed = zero.deepspeed_config(spec.strategy, spec.hp.batch_size, spec.hp.grad_accum, spec.hp.max_grad_norm,
                                                   spec.precision, self.dist.world, hidden)
        # every forward is collective while the weights are partitioned (FSDP, ZeRO-3)
        self.collective = self.sharded or spec.strategy == "deepspeed-zero3" and self.deepspeed is not None
        if self.sharded:
            fsdp.shard_model(model, self.dist)  # in place: the model's parameters become shards
        elif self.dist.world > 1:
            from torch.nn.parallel import DistributedDataParallel

            self.net = DistributedDataParallel(model, device_ids=[self.dist.local_rank] if device.type == "cuda" else None)
        self.params = trainable(model)
        # what the chunked loss needs (chunked_ce.py), looked up once; None where the model's layout is not known, or
        # partitioned (the chunks read the output head's weight, a shard under FSDP and ZeRO-3)
        norm, head = chunked_ce.final_norm(model), chunked_ce.output_head(model)
        self.chunkable = (norm, head) if norm is not None and head is not None and not self.collective else None
        self.vocab = chunked_ce.vocab_size(model)
        self.prompt_rows = virtual_tokens(spec.method)
        self.prefix_rows = prefix_tokens(spec.method)
        # The preference stage's loss config; None for language modelling (pretraining, SFT).
        self.preference: Optional[Dict] = spec.hp.preference if spec.stage == "dpo" else None

    def _forward_kwargs(self, ids: torch.Tensor) -> Dict:
        kwargs = {}
        if self.prefix_rows:
            # PEFT numbers a sequence after its prefix (positions P..P+T-1: it adds P to any position ids given); the
            # engine's sequence starts at position 0 and its prefix keys carry no rotation. Unrotated prefix keys
            # make q.k depend on the query's absolute position, so the numbering is part of the model: the
            # engine's is kept by handing PEFT positions that its offset brings back to 0..T-1.
            t = ids.shape[1]
            kwargs["position_ids"] = (torch.arange(t, device=ids.device) - self.prefix_rows).unsqueeze(0).expand(ids.shape[0], t)
        return kwargs

    def _autocast(self):
        # bf16 / fp16: the forward under autocast (matmuls in half precision), the weights and everything after the
        # logits in fp32
        half = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.spec.precision)
        return torch.autocast(device_type=self.device.type, dtype=half or torch.bfloat16, enabled=half is not None)

    def _forward(self, ids: torch.Tensor, **extra):
        """The model's forward over ids: through DistributedDataParallel while training, the model itself otherwise."""
        net = self.net if self.model.training else self.model
        return net(input_ids=ids, use_cache=False, **self._forward_kwargs(ids), **extra)

    def logits(self, ids: torch.Tensor, **extra) -> torch.Tensor:
        """Logits [B, T, V] of the sequences' own positions."""
        with self._autocast():
            logits = self._forward(ids, **extra).logits
        logits = logits.float()
        if self.prompt_rows:
            logits = logits[:, self.prompt_rows:]  # the soft prompt's rows are never scored
        return logits

    def pair_logps(self, items: Sequence[Pair]):
        """Log-probs [2P] (every chosen, then every rejected), scored-token counts [2P] and real tokens, one forward."""
        ids, labels, tokens = collate(pair_batch(items), self.pad_id)
        ids, labels = ids.to(self.device), labels.to(self.device)
        if not self.chunked(ids):
            logps, counts = sequence_logps(self.logits(ids), labels)
            return logps, counts, tokens
        picked = self.over_hidden(ids, lambda h, head: chunked_ce.chunked_label_logps(h, labels.reshape(-1), head))
        return picked.view(labels.shape).sum(-1), (labels != IGNORE_INDEX).sum(-1), tokens

    def chunked(self, ids: torch.Tensor) -> bool:
        """Whether this batch's logits are too many to make whole (chunked_ce.py) and the model allows chunks."""
        return self.chunkable is not None and ids.numel() * self.vocab > chunked_ce.CHUNK_ABOVE_ELEMENTS

    def over_hidden(self, ids: torch.Tensor, fn, **extra):
        """fn(final hidden states of the sequences' own positions [B*T, H], output head), without the whole logits:
        the model is asked for the last position's logits only, the final norm's output caught on the way."""
        norm, head = self.chunkable
        with self._autocast():
            h = chunked_ce.hidden_states(lambda: self._forward(ids, logits_to_keep=1, **extra), norm)
            if self.prompt_rows:
                h = h[:, self.prompt_rows:]
            return fn(h.reshape(-1, h.shape[-1]), head)

    @torch.no_grad()
    def reference_logps(self, pairs: List[Pair]) -> None:
        """DPO's reference: every pair scored once, before training, by the model as it starts (the engine's
        referenceLogps). For LoRA that is exactly the base (B is zero, so the adapter adds nothing), the model TRL
        gets by disabling the adapter; for prefix and prompt tuning it is the base with the initial prefix/prompt,
        as in the engine."""
        was = self.model.training
        self.model.eval()
        b = self.spec.hp.batch_size
        for i in range(0, len(pairs), b):
            items = pairs[i:i + b]
            logps, _, _ = self.pair_logps(items)
            # The engine keeps them as float32 (its Float32Array of log-probs).
            vals = logps.float().cpu().tolist()
            for j, p in enumerate(items):
                p.ref_chosen, p.ref_rejected = vals[j], vals[len(items) + j]
        self.model.train(was)

    def step_loss(self, items) -> Tuple[torch.Tensor, float, int, Dict[str, float]]:
        """(loss to backpropagate, the micro-batch's loss, its real tokens, the objective's metrics) of one
        micro-batch; with several processes, of this process's share, scaled so that the averaged gradient is the
        whole micro-batch's, and the figures of the whole micro-batch."""
        d = self.dist
        if self.preference is None:
            if d.world == 1:
                loss, tokens, _, _ = self.micro_loss(items)
                return loss, loss.item(), tokens, {}
            _, tokens, loss_sum, count = self.micro_loss(d.shard(items))
            g_sum, g_count, g_tokens = d.sum([loss_sum.item(), count.item(), tokens])
            # the engine's loss is 0 for a micro-batch with nothing to score
            return loss_sum / max(g_count, 1.0) * d.world, (g_sum / g_count if g_count else 0.0), int(g_tokens), {}
        mine = d.shard(items)
        logps, counts, tokens = self.pair_logps(mine)
        ref = ref_tensor(mine) if self.preference["loss"] == "dpo" else None
        loss, stats = preference_loss(logps, counts, self.preference, ref)
        if d.world == 1:
            return loss, stats["loss"], tokens, {k: v for k, v in stats.items() if k != "loss"}
        keys = list(stats)
        sums = d.sum([len(mine), tokens] + [stats[k] * len(mine) for k in keys])
        pairs = sums[0]
        figures = {k: sums[2 + i] / pairs for i, k in enumerate(keys)}
        logged = figures.pop("loss")
        return loss * (len(mine) / pairs) * d.world, logged, int(sums[1]), figures

    def micro_loss(self, items: List[Example]):
        extra = {}
        if self.spec.packing:
            # position ids restarting per example are what tells transformers to keep packed examples apart
            ids, labels, pos, tokens = collate_packed(items, self.pad_id, self.spec.hp.seq_len)
            extra["position_ids"] = pos.to(self.device)
        else:
            ids, labels, tokens = collate(items, self.pad_id)
        ids, labels = ids.to(self.device), labels.to(self.device)
        count = (labels != IGNORE_INDEX).sum()
        if self.chunked(ids):
            loss_sum = self.over_hidden(ids, lambda h, head: chunked_ce.chunked_ce_sum(h, labels.reshape(-1), head), **extra)
        else:
            logits = self.logits(ids, **extra)
            v = logits.shape[-1]
            loss_sum = F.cross_entropy(logits.reshape(-1, v).float(), labels.reshape(-1), ignore_index=IGNORE_INDEX, reduction="sum")
        # The engine's loss is 0 for a batch with nothing to score (its mean over zero tokens).
        return loss_sum / count.clamp(min=1), tokens, loss_sum, count

    def evaluate(self, examples) -> float:
        return self.evaluate_metrics(examples)[0]

    @torch.no_grad()
    def evaluate_metrics(self, examples) -> Tuple[float, Optional[Dict[str, float]]]:
        """(loss, the objective's metrics or None): the mean loss per scored token for language modelling; for
        preference pairs the loss and rewards averaged over pairs (each micro-batch weighted by its pairs)."""
        was = self.model.training
        self.model.eval()
        b = self.spec.hp.batch_size
        d = self.dist
        mine = d.shard(examples)  # each process scores its share; the sums are added up
        # Partitioned, every forward is collective: every process runs as many batches, one whose share is short
        # repeating a batch and discarding what it gives.
        longest_share = -(-len(examples) // d.world) if self.collective else len(mine)
        rounds = -(-longest_share // b)
        spare = (mine or examples)[:b]

        def batches():
            for r in range(rounds):
                batch = mine[r * b:(r + 1) * b]
                yield (batch, True) if batch else (spare, False)

        try:
            if self.preference is not None:
                sums: Dict[str, float] = {}
                for batch, counts_ in batches():
                    logps, counts, _ = self.pair_logps(batch)
                    ref = ref_tensor(batch) if self.preference["loss"] == "dpo" else None
                    _, stats = preference_loss(logps, counts, self.preference, ref)
                    if counts_:
                        for k, v in stats.items():
                            sums[k] = sums.get(k, 0.0) + v * len(batch)
                if d.world > 1:
                    keys = list(PREFERENCE_STATS)  # the same order on every process, whatever its share held
                    totals = d.sum([len(mine)] + [sums.get(k, 0.0) for k in keys])
                    sums = dict(zip(keys, totals[1:]))
                    n = max(1.0, totals[0])
                else:
                    n = max(1, len(mine))
                loss = sums.pop("loss", 0.0) / n
                return loss, {k: v / n for k, v in sums.items()}
            total, count = 0.0, 0
            for batch, counts_ in batches():
                _, _, s, c = self.micro_loss(batch)
                if counts_:
                    total += s.item()
                    count += int(c.item())
            if d.world > 1:
                total, count = d.sum([total, count])
            return (total / count if count else math.nan), None
        finally:
            self.model.train(was)

    def run(self) -> Dict:
        spec, h, out = self.spec, self.spec.hp, self.spec.output_dir
        n = len(self.train)
        total = total_steps(n, h.batch_size, h.grad_accum, h.epochs, h.max_steps)
        warmup = warmup_steps(total, h.warmup_steps, h.warmup_ratio)
        decay = [p for _, p in self.params if p.ndim >= 2]
        no_decay = [p for _, p in self.params if p.ndim < 2]
        groups = [g for g in ({"params": decay, "weight_decay": h.weight_decay}, {"params": no_decay, "weight_decay": 0.0}) if g["params"]]
        opt = torch.optim.AdamW(groups, lr=h.lr, betas=(0.9, 0.999), eps=1e-8)
        if self.deepspeed is not None:
            # DeepSpeed steps this optimizer over its partitions; clipping, the exchange and fp16's scaling are its own
            self.engine = zero.start_engine(self.model, opt, self.deepspeed)
            self.net = self.engine
        # fp16's gradients underflow unless the loss is scaled up: dynamic scaling (halved on an overflow, whose step
        # is skipped; doubled after 2,000 good steps), its state checkpointed with the rest
        scaler = torch.amp.GradScaler(self.device.type, init_scale=LOSS_SCALE_INIT) if spec.precision == "fp16" and self.engine is None else None
        state = {"step": 0, "epoch": 0, "cursor": 0, "best_eval_loss": None, "evals_without_improvement": 0,
                 "tokens_seen": 0, "elapsed_s": 0.0, "last_loss": None, "grad_scaler": None}
        latest = latest_checkpoint(out)
        layout = "sharded" if self.sharded else "deepspeed" if self.engine is not None else "whole"
        if latest and checkpoint_layout(latest.path) != layout:
            written = {"sharded": "an FSDP", "deepspeed": "a DeepSpeed", "whole": "a one-copy"}[checkpoint_layout(latest.path) or "whole"]
            raise RuntimeError(f"resume: {latest.path} was written by {written} job; "
                               f"this one runs strategy {spec.strategy} on {self.dist.world} process(es)")
        if latest and self.sharded:
            state.update({k: v for k, v in fsdp.load_checkpoint(latest.path, self.model, opt, self.dist).items() if k in state})
        elif latest and self.engine is not None:
            state.update({k: v for k, v in zero.load_checkpoint(latest.path, self.engine, self.dist).items() if k in state})
        elif latest:
            ck = read_checkpoint(latest.path)
            by_name = dict(self.params)
            for name, t in ck.tensors.items():
                p = by_name.get(name)
                if p is None:
                    raise RuntimeError(f'resume: checkpoint {latest.path} has tensor "{name}" that this model does not train')
                if p.shape != t.shape:
                    raise RuntimeError(f'resume: tensor "{name}" is {list(t.shape)} in {latest.path}, expected {list(p.shape)}')
                with torch.no_grad():
                    p.copy_(t.to(p.dtype))
            missing = set(by_name) - set(ck.tensors)
            if missing:
                raise RuntimeError(f"resume: checkpoint {latest.path} lacks trained tensor(s) {sorted(missing)[:3]}")
            if ck.optimizer is None:
                raise RuntimeError(f"resume: checkpoint {latest.path} has no optimizer state")
            opt.load_state_dict(ck.optimizer)
            if ck.rng is not None:
                set_rng_state(ck.rng)
            state.update({k: ck.trainer_state[k] for k in state if k in ck.trainer_state})
            if scaler and state["grad_scaler"]:
                scaler.load_state_dict(state["grad_scaler"])
        else:
            torch.manual_seed(spec.seed ^ 0x5EED)  # dropout draws; the engine seeds its own generator the same way

        log = MetricsLog(os.path.join(out, "metrics.jsonl")) if self.dist.main else None
        order = epoch_order(n, spec.seed, state["epoch"])
        last_eval: Optional[float] = None
        eval_metrics: Optional[Dict[str, float]] = None
        stopped_early = interrupted = False
        t0 = time.perf_counter() - state["elapsed_s"]
        start_tokens, start_elapsed, start_step = state["tokens_seen"], state["elapsed_s"], state["step"]
        losses: List[float] = []

        def save() -> None:
            if scaler:
                state["grad_scaler"] = scaler.state_dict()
            trainer_state = {
                **state, "trainer": "torch",
                "schedule": {"lr": h.lr, "warmup_steps": warmup, "total_steps": total, "schedule": h.schedule, "min_lr_ratio": h.min_lr_ratio},
            }
            if self.sharded:  # every process writes its shard
                fsdp.save_checkpoint(out, state["step"], self.model, opt, trainer_state, self.dist, keep_last=KEEP_CHECKPOINTS)
            elif self.engine is not None:  # every process writes its partition
                zero.save_checkpoint(out, state["step"], self.engine, trainer_state, self.dist, keep_last=KEEP_CHECKPOINTS)
            elif self.dist.main:
                write_checkpoint(out, state["step"], {k: p for k, p in self.params}, opt.state_dict(), trainer_state, keep_last=KEEP_CHECKPOINTS)

        self.model.train()
        try:
            while state["step"] < total:
                if self.engine is None:
                    opt.zero_grad(set_to_none=True)  # DeepSpeed clears its own after each step
                step_loss, step_tokens = 0.0, 0
                step_metrics: Dict[str, float] = {}
                for micro in range(h.grad_accum):
                    if state["cursor"] + h.batch_size > len(order):
                        state["epoch"] += 1
                        state["cursor"] = 0
                        order = epoch_order(n, spec.seed, state["epoch"])
                    picked = [self.train[i] for i in order[state["cursor"]:state["cursor"] + h.batch_size]]
                    state["cursor"] += len(picked)
                    # processes exchange gradients once per step, after its last micro-batch
                    sync = self.dist.world == 1 or micro == h.grad_accum - 1
                    if self.sharded:
                        self.model.set_requires_gradient_sync(sync)  # type: ignore[operator]
                    if self.engine is not None:
                        self.engine.set_gradient_accumulation_boundary(sync)
                    with nullcontext() if sync or self.sharded or self.engine is not None else self.net.no_sync():  # type: ignore[operator]
                        loss, logged, tokens, metrics = self.step_loss(picked)
                        if self.engine is not None:
                            self.engine.backward(loss)  # DeepSpeed divides by gradAccum itself (and scales fp16's loss)
                        else:
                            part = loss / h.grad_accum
                            (scaler.scale(part) if scaler else part).backward()
                    step_loss += logged / h.grad_accum
                    step_tokens += tokens
                    for k, v in metrics.items():
                        step_metrics[k] = step_metrics.get(k, 0.0) + v / h.grad_accum
                lr = lr_at(state["step"], h.lr, warmup, total, h.schedule, h.min_lr_ratio)
                loss_scale = None
                if self.engine is not None:
                    for g in opt.param_groups:
                        g["lr"] = lr
                    loss_scale = zero.loss_scale(self.engine)  # the scale this step ran with
                    # DeepSpeed clips, and skips the update of a non-finite gradient (and halves fp16's scale)
                    grad_norm, skipped = zero.step(self.engine)
                    skipped = skipped or not math.isfinite(grad_norm) or not math.isfinite(step_loss)
                else:
                    params = [p for _, p in self.params]
                    if scaler:
                        scaler.unscale_(opt)  # clipping and the norm see the true gradients
                    norm = torch.nn.utils.clip_grad_norm_(params, h.max_grad_norm if h.max_grad_norm else math.inf)
                    grad_norm = float(norm.full_tensor() if hasattr(norm, "full_tensor") else norm)  # sharded: a DTensor
                    # A non-finite gradient (overflow, a bad batch) skips the update instead of poisoning the weights.
                    skipped = not math.isfinite(grad_norm) or not math.isfinite(step_loss)
                if not skipped and self.engine is None:
                    for g in opt.param_groups:
                        g["lr"] = lr
                    if scaler:
                        scaler.step(opt)
                    else:
                        opt.step()
                if scaler:
                    loss_scale = scaler.get_scale()  # the scale this step ran with
                    scaler.update()  # an overflow (skipped above) halves it
                state["step"] += 1
                state["tokens_seen"] += step_tokens
                state["last_loss"] = step_loss
                losses.append(step_loss)
                state["elapsed_s"] = time.perf_counter() - t0
                run_s = state["elapsed_s"] - start_elapsed
                tok_s = (state["tokens_seen"] - start_tokens) / run_s if run_s > 0 else 0.0
                record = {
                    "step": state["step"], "epoch": state["epoch"] + state["cursor"] / n, "loss": step_loss, "lr": lr,
                    "grad_norm": grad_norm, "tokens_per_s": tok_s, "elapsed_s": state["elapsed_s"],
                    "eta_s": run_s / max(1, state["step"] - start_step) * (total - state["step"]),
                    **step_metrics,
                }
                if skipped:
                    record["skipped"] = True
                if loss_scale is not None:
                    record["loss_scale"] = loss_scale
                if self.val and h.eval_every and (state["step"] % h.eval_every == 0 or state["step"] == total):
                    last_eval, eval_metrics = self.evaluate_metrics(self.val)
                    record["eval_loss"] = last_eval
                    for k, v in (eval_metrics or {}).items():
                        record[f"eval_{k}"] = v
                    best = state["best_eval_loss"]
                    if best is None or last_eval < best:
                        state["best_eval_loss"] = last_eval
                        state["evals_without_improvement"] = 0
                    else:
                        state["evals_without_improvement"] += 1
                if log:
                    log.write(record)
                self.on_step(state["step"])
                if h.early_stopping_patience and state["evals_without_improvement"] >= h.early_stopping_patience:
                    stopped_early = True
                    save()
                    break
                if self.dist.any(self.should_stop()):  # every process stops at the same step
                    interrupted = state["step"] < total
                    save()
                    break
                if state["step"] == total or (h.checkpoint_every and state["step"] % h.checkpoint_every == 0):
                    save()
        finally:
            if log:
                log.close()
        if not interrupted and not stopped_early and self.val and last_eval is None:
            last_eval, eval_metrics = self.evaluate_metrics(self.val)
        run_s = state["elapsed_s"] - start_elapsed
        last = state["last_loss"]
        return {
            "steps": state["step"], "total_steps": total, "final_loss": last if last is not None else math.nan,
            "eval_loss": last_eval, "eval_metrics": eval_metrics, "stopped_early": stopped_early, "interrupted": interrupted, "losses": losses,
            "tokens_per_s": (state["tokens_seen"] - start_tokens) / run_s if run_s > 0 else 0.0, "elapsed_s": state["elapsed_s"],
        }


def _null_nonfinite(v):
    return v if not isinstance(v, float) or math.isfinite(v) else None


def _copy_tokenizer(base: str, dest: str, chat_template: Optional[str]) -> None:
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        src = os.path.join(base, name)
        if os.path.exists(src):
            shutil.copyfile(src, os.path.join(dest, name))
    cfg_path = os.path.join(dest, "tokenizer_config.json")
    if chat_template and os.path.exists(cfg_path):
        import json
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
        cfg["chat_template"] = CHAT_TEMPLATES[chat_template].jinja
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2, ensure_ascii=False)


def save_result(spec: JobSpec, model: torch.nn.Module, tok: TextTokenizer, chat_template: Optional[str],
                state_dict: Optional[Dict[str, torch.Tensor]] = None) -> tuple[str, str, str]:
    """Writes model/ (a Hugging Face folder, or a PEFT adapter for LoRA) via a temporary folder renamed into place;
    `state_dict` (the whole weights, gathered from a sharded model) replaces the model's own.
    Returns (model_dir as the spec writes paths, model_kind, model_format)."""
    import json

    model_dir = os.path.join(spec.output_dir, "model")
    tmp = f"{model_dir}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    adapter = spec.method["type"] in ("lora", "prompt", "prefix")
    model.save_pretrained(tmp, safe_serialization=True, **({"state_dict": state_dict} if state_dict is not None else {}))
    _copy_tokenizer(spec.base_path, tmp, chat_template)
    if adapter:
        cfg_path = os.path.join(tmp, "adapter_config.json")
        with open(cfg_path, encoding="utf-8") as f:
            cfg = json.load(f)
        # Named as the engine names an adapter's base: relative to the adapter folder where the job's paths are.
        cfg["base_model_name_or_path"] = adapter_base_ref(spec, model_dir, spec.base_path)
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(cfg, f, indent=2)
    write_atomic(os.path.join(tmp, "modelfab-torch.json"), json.dumps({
        "trainer": "torch", "job": spec.id, "method": spec.method, "chat_template": chat_template,
        "base": adapter_base_ref(spec, model_dir, spec.base_path),
    }, indent=2))
    shutil.rmtree(model_dir, ignore_errors=True)
    os.rename(tmp, model_dir)
    return model_dir, ("adapter" if adapter else "model"), ("peft" if adapter else "hf")


def run_job(spec: JobSpec, should_stop: Callable[[], bool] = lambda: False, heartbeat_s: float = 2.0,
            stop_after_step: Optional[int] = None) -> str:
    """Trains the job; returns 'succeeded' or 'stopped'. Raises JobSpecError for invalid specs or data.
    `stop_after_step` (tests) stops after that step as a stop request would."""
    out = spec.output_dir
    os.makedirs(out, exist_ok=True)
    cuda = torch.cuda.is_available()
    dist = Dist.from_env(cuda)
    events = Events(out)

    def event(level: str, message: str, data=None) -> None:
        # process 0 tells the job's story; the others speak only of their own failure
        if dist.main:
            events(level, message, data)
        elif level == "error":
            events(level, f"process {dist.rank}: {message}", data)

    current = {"step": 0}
    beat = Heartbeat(out, heartbeat_s, lambda: current["step"]).start() if dist.main else None
    trainer: Optional[Trainer] = None
    finished = False
    try:
        torch.set_num_threads(spec.threads)
        dev = dist.device
        if spec.hp.batch_size % dist.world:
            raise JobSpecError(f"hyperparameters.batchSize {spec.hp.batch_size} must be a multiple of the {dist.world} processes "
                               "(each micro-batch is split evenly across them)")
        resumed = os.path.isdir(os.path.join(out, "checkpoints"))
        event("info", "resuming from the latest checkpoint" if resumed else "started",
              {"pid": os.getpid(), "threads": spec.threads, "trainer": "torch", "device": device_text(dev), "torch": torch.__version__,
               "precision": spec.precision, "gradient_checkpointing": spec.gradient_checkpointing, "packing": spec.packing,
               "processes": dist.world, "nodes": dist.nodes, "strategy": spec.strategy if dist.world > 1 else None})
        try:
            tok = TextTokenizer(spec.base_path)
        except FileNotFoundError as e:
            raise JobSpecError(f"base.path: {e}") from None
        h = spec.hp
        pad_id = tok.pad_id if tok.pad_id is not None else tok.eos_id if tok.eos_id is not None else 0
        def read(path: str, kind: str):
            if spec.stage == "dpo":
                return load_pairs(path, tok, h.seq_len, h.chat_template)
            return load_examples(path, kind, tok, h.seq_len, h.chat_template)

        train = read(spec.train_path, spec.train_kind)
        val = read(spec.validation_path, spec.validation_kind) if spec.validation_path else []
        if not train:
            raise JobSpecError(f"{spec.train_path}: no usable training examples")

        from transformers import AutoModelForCausalLM
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # stderr is the job's log: no carriage-return bars in it

        if not os.path.exists(os.path.join(spec.base_path, "config.json")):
            raise JobSpecError(f"base.path {spec.base_path}: not a Hugging Face model folder (no config.json)")
        base = AutoModelForCausalLM.from_pretrained(spec.base_path, dtype=torch.float32)
        vocab = base.config.vocab_size
        if tok.vocab_size > vocab:
            raise JobSpecError(f"base.path {spec.base_path}: the tokenizer has {tok.vocab_size} tokens, the model's vocab_size is {vocab}")
        resuming = latest_checkpoint(out) is not None
        dpo_ref = spec.stage == "dpo" and h.preference["loss"] == "dpo"
        # DPO's reference is the model as it starts, so a resumed DPO job draws the initial adapter again to
        # recompute it (the checkpoint's tensors replace those draws before training goes on).
        if spec.gradient_checkpointing:
            # non-reentrant: no input needs requires_grad (frozen embeddings under LoRA), and the RNG is replayed
            base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model = apply_method(base, spec.method, spec.seed, init=not resuming or dpo_ref).to(dev)
        stop = should_stop if stop_after_step is None else (lambda: should_stop() or current["step"] >= stop_after_step)
        # idle cores the scheduler lends a lone CPU process (or takes back) take effect at the next step
        grant = ThreadGrant(out, os.cpu_count() or 1) if dist.world == 1 and dev.type == "cpu" else None

        def on_step(step: int) -> None:
            current["step"] = step
            n = grant.poll() if grant else None
            if n is not None and n != torch.get_num_threads():
                torch.set_num_threads(n)
                event("info", f"now on {n} thread(s)" + (" (idle cores lent by the scheduler)" if n > spec.threads else ""), {"threads": n})

        on_step(0)
        trainer = Trainer(spec, model, train, val, pad_id, dev, stop, on_step, dist)
        if trainer.deepspeed is not None and dist.main:
            zero.write_config(out, trainer.deepspeed)  # what the engine runs with, for a user to read and reuse
        if dpo_ref:
            trainer.reference_logps(train)
            trainer.reference_logps(val)
        before = trainer.evaluate(val) if val else None
        r = trainer.run()
        if r["interrupted"]:
            event("info", f"stopped at step {r['steps']}; checkpoint written")
            finished = True
            return "stopped"
        # sharded or partitioned, the weights are gathered (a collective) into process 0's memory for saving
        gathered = (fsdp.full_state_dict(model) if trainer.sharded
                    else zero.full_state_dict(model, dist) if trainer.engine is not None else None)
        if not dist.main:
            finished = True
            return "succeeded"
        # The chat template the model learnt its turns in, so every backend serves it with the same prompt format.
        t = CHAT_TEMPLATES[h.chat_template]
        chat_template = None if spec.stage == "pretrain" and not all(tok.has_token(s) for s in t.stop) else h.chat_template
        model_dir, kind, fmt = save_result(spec, model, tok, chat_template, gathered)
        if spec.raw.get("evaluation"):
            event("warn", "evaluation was asked for, but the torch trainer does not run benchmarks yet; no bench.json")
        manifest = {
            "status": "succeeded", "job_id": spec.id, "model_dir": model_dir, "model_kind": kind, "steps": r["steps"],
            "train_loss": _null_nonfinite(r["final_loss"]), "eval_loss_before": _null_nonfinite(before),
            "eval_loss": _null_nonfinite(r["eval_loss"]), "tokens_per_s": r["tokens_per_s"], "elapsed_s": r["elapsed_s"],
            "trainable_params": sum(numel(p) for _, p in trainable(model)), "total_params": base_param_count(model),
            **({"eval_metrics": r["eval_metrics"]} if r["eval_metrics"] else {}),
            "vocab_size": vocab,
            "trainer": "torch", "model_format": fmt, "device": device_text(dev), "processes": dist.world, "nodes": dist.nodes,
            "precision": spec.precision,
            **({"strategy": spec.strategy} if dist.world > 1 else {}),
            **({"gradient_checkpointing": True} if spec.gradient_checkpointing else {}),
            **({"packing": True} if spec.packing else {}),
            **({"chat_template": chat_template} if chat_template else {}),
        }
        if spec.stage == "pretrain" and val:
            manifest["unigram_perplexity"] = _null_nonfinite(unigram_perplexity(train, val, vocab))
        write_atomic(os.path.join(out, "manifest.json"), dumps(manifest, indent=2))
        event("info", "succeeded", {"steps": r["steps"], "eval_loss": manifest["eval_loss"]})
        finished = True
        return "succeeded"
    except Exception as e:
        event("error", str(e) or type(e).__name__)
        raise
    finally:
        if beat:
            beat.stop()
        # The DDP wrapper's reducer must go before its process group does: destroyed later, at interpreter exit,
        # it aborts the process ("terminate called without an active exception") after a good run.
        trainer = None
        gc.collect()
        dist.close(wait=finished)
