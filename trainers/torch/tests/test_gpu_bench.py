"""The GPU check (bench/gpu/run.sh) runs: its --smoke mode, tiny shapes on the CPU, goes through both loops (the
trainer's packed one and the plain padded one) and prints the JSON line the README's GPU figures come from."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_the_gpu_check_runs_in_smoke_mode():
    r = subprocess.run(["bash", str(ROOT / "bench" / "gpu" / "run.sh"), "--smoke"], capture_output=True, text=True, timeout=300,
                       env={**os.environ, "MODELFAB_TORCH_PYTHON": sys.executable})
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [l for l in r.stdout.splitlines() if l.strip()]
    assert len(lines) == 1, r.stdout
    out = json.loads(lines[0])
    assert out["bench"] == "gpu" and out["device"] == "cpu"
    row = out["models"]["smoke"]
    for loop in ("trainer", "plain"):
        assert row[loop]["tokens_per_s"] > 0, row
    assert row["params"] > 0 and row["speedup"] > 0
