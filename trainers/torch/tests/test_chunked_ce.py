"""The chunked cross-entropy and log-probs (chunked_ce.py): the same curves as the whole-logits path (language
modelling, and the preference stage's loss and rewards), without ever asking the model for more than the last
position's logits; used on its own above a size threshold."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from conftest import make_job, read_jsonl
from modelfab_torch import chunked_ce
from modelfab_torch.spec import validate_job_spec
from modelfab_torch.worker import Trainer, run_job


def run(tmp: Path, base: Path, name: str, method, stage: str = "sft") -> list:
    job = make_job(tmp / name, base, stage, method, maxSteps=4, evalEvery=2, checkpointEvery=0)
    assert run_job(validate_job_spec(json.loads(job.read_text()))) == "succeeded"
    return [(m["loss"], m.get("eval_loss"), m.get("reward_margin")) for m in read_jsonl(tmp / name / "metrics.jsonl")]


@pytest.mark.parametrize("stage,method", [("sft", {"type": "full"}), ("sft", {"type": "lora", "rank": 4, "alpha": 8}),
                                          ("sft", {"type": "prompt", "numVirtualTokens": 4}), ("sft", {"type": "prefix", "numVirtualTokens": 4}),
                                          ("dpo", {"type": "lora", "rank": 4, "alpha": 8}), ("dpo", {"type": "prompt", "numVirtualTokens": 4})])
def test_chunks_give_the_whole_logits_curve(tmp_path, base_model, stage, method, monkeypatch):
    whole = run(tmp_path, base_model, "whole", method, stage)
    monkeypatch.setattr(chunked_ce, "CHUNK_ABOVE_ELEMENTS", 0)  # every micro-batch in chunks
    monkeypatch.setattr(chunked_ce, "CHUNK_POSITIONS", 5)
    chunks = {"n": 0}
    for fn in ("_chunk_loss", "_chunk_logps"):
        inner = getattr(chunked_ce, fn)

        def counted(*a, inner=inner):
            chunks["n"] += 1
            return inner(*a)

        monkeypatch.setattr(chunked_ce, fn, counted)

    def no_whole_logits(self, ids):
        raise AssertionError("the whole logits were asked for")

    monkeypatch.setattr(Trainer, "logits", no_whole_logits)
    chunked = run(tmp_path, base_model, "chunked", method, stage)
    assert chunks["n"] > 4 * 2, "several chunks per micro-batch"
    assert len(whole) == len(chunked) == 4
    for x, y in zip(whole, chunked):
        for a, b in zip(x, y):
            assert (a is None) == (b is None) and (a is None or abs(a - b) <= 1e-5 * max(1.0, abs(a))), (whole, chunked)


def test_chunked_sum_matches_cross_entropy_and_its_gradient():
    torch.manual_seed(0)
    h = torch.randn(23, 8, requires_grad=True)
    head = torch.nn.Linear(8, 50, bias=False)
    y = torch.randint(0, 50, (23,))
    y[[0, 5, 6, 7, 8, 9]] = -100  # a whole chunk unscored is skipped
    a = chunked_ce.chunked_ce_sum(h, y, head, chunk=5)
    a.backward()
    ga, gw = h.grad.clone(), head.weight.grad.clone()
    h.grad = None
    head.weight.grad = None
    b = torch.nn.functional.cross_entropy(head(h), y, ignore_index=-100, reduction="sum")
    b.backward()
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.allclose(ga, h.grad, atol=1e-6) and torch.allclose(gw, head.weight.grad, atol=1e-6)
