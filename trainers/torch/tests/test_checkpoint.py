"""Checkpoints: complete or absent, leftovers of interrupted writes cleaned, the newest two kept, and the files
of the engine's reader rule (model.safetensors + trainer_state.json) present."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import torch

from modelfab_torch.checkpoint import (clean_stale_temps, latest_checkpoint, list_checkpoints, read_checkpoint,
                                       write_checkpoint)
from modelfab_torch.files import MetricsLog


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_write_read_and_retention(tmp_path):
    w = torch.nn.Parameter(torch.randn(3, 2))
    opt = torch.optim.AdamW([w], lr=0.1)
    w.grad = torch.ones_like(w)
    opt.step()
    for step in (2, 4, 6):
        write_checkpoint(str(tmp_path), step, {"w": w}, opt.state_dict(), {"step": step, "cursor": step * 2}, keep_last=2)
    assert [c.step for c in list_checkpoints(str(tmp_path))] == [4, 6]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["step-4", "step-6"]
    ck = read_checkpoint(str(tmp_path / "checkpoints" / "step-6"))
    assert torch.equal(ck.tensors["w"], w.detach()) and ck.trainer_state == {"step": 6, "cursor": 12}
    assert torch.equal(ck.optimizer["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert torch.equal(ck.rng["cpu"], torch.get_rng_state())
    # the same step again replaces it whole
    write_checkpoint(str(tmp_path), 6, {"w": w * 0}, opt.state_dict(), {"step": 6}, keep_last=2)
    assert read_checkpoint(str(tmp_path / "checkpoints" / "step-6")).tensors["w"].abs().sum() == 0


def test_interrupted_writes_are_never_listed_and_get_cleaned(tmp_path):
    parent = tmp_path / "checkpoints"
    w = torch.nn.Parameter(torch.zeros(2))
    write_checkpoint(str(tmp_path), 3, {"w": w}, {}, {"step": 3})
    dead = _dead_pid()
    stale = parent / f".tmp-step-5-{dead}-deadbeef"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half")
    mine_alive = parent / f".tmp-step-7-{os.getppid()}-cafebabe"  # a live process's write in progress
    mine_alive.mkdir()
    incomplete = parent / "step-9"  # no trainer_state.json: not a checkpoint
    incomplete.mkdir()
    (incomplete / "model.safetensors").write_bytes(b"x")
    assert latest_checkpoint(str(tmp_path)).step == 3
    assert not stale.exists() and mine_alive.exists()
    assert clean_stale_temps(str(tmp_path)) == []


def test_metrics_log_seals_a_partial_line_and_writes_nan_as_text(tmp_path):
    p = tmp_path / "metrics.jsonl"
    p.write_text('{"step": 1, "loss": 2.0}\n{"step": 2, "lo')
    log = MetricsLog(str(p))
    log.write({"step": 2, "loss": float("nan"), "grad_norm": float("inf")})
    log.close()
    lines = p.read_text().split("\n")
    assert lines[1] == '{"step": 2, "lo' and json.loads(lines[2]) == {"step": 2, "loss": "NaN", "grad_norm": "Infinity"}
