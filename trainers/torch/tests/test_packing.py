"""Sequence packing: several examples per row, positions restarted per example, and no example attending to
another, so a packed job computes the very loss the unpacked job computes, over fewer padded tokens."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from conftest import make_job, read_jsonl
from modelfab_torch.chat import IGNORE_INDEX
from modelfab_torch.data import Example, collate, collate_packed, pack_rows
from modelfab_torch.spec import validate_job_spec
from modelfab_torch.worker import run_job


def test_rows_are_filled_first_fit_longest_first():
    assert pack_rows([5, 3, 4, 2], 8) == [[0, 1], [2, 3]]
    assert pack_rows([9, 2], 8) == [[0], [1]]  # longer than a row: a row of its own
    assert pack_rows([3, 3, 3], 9) == [[0, 1, 2]]


def test_packed_positions_restart_and_padding_is_never_scored():
    ex = [Example([1, 2, 3], [2, 3, 4]), Example([5, 6], [6, IGNORE_INDEX]), Example([7, 8, 9, 10], [8, 9, 10, 11])]
    ids, labels, pos, tokens = collate_packed(ex, pad_id=0, capacity=8)
    assert tokens == 9 and ids.shape == (2, 8)
    assert ids[0].tolist() == [7, 8, 9, 10, 1, 2, 3, 0] and pos[0].tolist() == [0, 1, 2, 3, 0, 1, 2, 0]
    assert ids[1].tolist()[:2] == [5, 6] and pos[1].tolist() == [0, 1, 0, 1, 2, 3, 4, 5]
    assert labels[0].tolist()[-1] == IGNORE_INDEX and (labels[1, 2:] == IGNORE_INDEX).all()


def test_a_packed_row_gives_each_example_its_own_logits(base_model: Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(base_model), dtype=torch.float32).eval()
    g = torch.Generator().manual_seed(0)
    ex = [Example(torch.randint(3, 300, (n,), generator=g).tolist(), [0] * n) for n in (11, 7, 5)]
    ids, _, pos, _ = collate_packed(ex, pad_id=0, capacity=32)
    assert ids.shape[0] == 1, "the three examples share one row"
    with torch.no_grad():
        # no cache: transformers reads packed positions only when no KV cache is being built (as in training)
        packed = model(input_ids=ids, position_ids=pos, use_cache=False).logits[0]
        at = 0
        for i in sorted(range(3), key=lambda i: -len(ex[i].ids)):  # pack_rows' order
            n = len(ex[i].ids)
            alone = model(input_ids=torch.tensor([ex[i].ids]), use_cache=False).logits[0]
            assert (packed[at:at + n] - alone).abs().max().item() < 1e-5, f"example {i} saw another one"
            at += n


def test_a_packed_job_follows_the_unpacked_curve(tmp_path: Path, base_model: Path):
    def job(name: str, packing: bool):
        path = make_job(tmp_path / name, base_model, "sft", None, batchSize=6, seqLen=128, maxSteps=4, evalEvery=2, checkpointEvery=0)
        spec = json.loads(path.read_text())
        spec["packing"] = packing
        return validate_job_spec(spec)

    assert run_job(job("plain", False)) == "succeeded"
    assert run_job(job("packed", True)) == "succeeded"
    a, b = read_jsonl(tmp_path / "plain" / "metrics.jsonl"), read_jsonl(tmp_path / "packed" / "metrics.jsonl")
    for x, y in zip(a, b):
        assert abs(x["loss"] - y["loss"]) <= 1e-5 * max(1.0, x["loss"]), (x, y)
        assert x.get("eval_loss") is None or abs(x["eval_loss"] - y["eval_loss"]) <= 1e-5 * max(1.0, x["eval_loss"])
    manifest = json.loads((tmp_path / "packed" / "manifest.json").read_text())
    assert manifest["packing"] is True
    assert read_jsonl(tmp_path / "packed" / "events.jsonl")[0]["data"]["packing"] is True


def test_packing_fills_rows(tmp_path: Path, base_model: Path):
    from modelfab_torch.chat import TextTokenizer
    from modelfab_torch.data import load_examples

    path = make_job(tmp_path / "j", base_model, "sft")
    spec = validate_job_spec(json.loads(path.read_text()))
    ex = load_examples(spec.train_path, "sft", TextTokenizer(str(base_model)), 128, "chatml")
    plain_ids, _, _ = collate(ex, 0)
    packed_ids, _, _, tokens = collate_packed(ex, 0, 128)
    assert tokens == sum(len(e.ids) for e in ex)
    # a quarter fewer positions to compute, and less than half the padding
    assert packed_ids.numel() <= 0.75 * plain_ids.numel(), (packed_ids.shape, plain_ids.shape)
    assert packed_ids.numel() - tokens < (plain_ids.numel() - tokens) / 2, (packed_ids.numel(), plain_ids.numel(), tokens)
