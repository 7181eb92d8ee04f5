"""Entry point: `python -m modelfab_torch <outputDir>/job.json`, started the way the engine's worker is.
`python -m modelfab_torch --info` prints one JSON line: library versions and the CUDA devices with their memory
(what `modelfab info` and a GPU-aware scheduler need to know about this environment).

Exit codes (src/factory/engine-worker-main.ts): 0 succeeded (manifest.json written), 3 stopped on SIGTERM/SIGINT
(checkpoint written, resumable), 2 invalid job spec or data, 1 any other failure. The last line of events.jsonl
says why; for a spec too broken to name its outputDir, the events go next to job.json.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_STOPPED = 0, 1, 2, 3


def info() -> dict:
    import peft
    import torch
    import transformers

    from . import zero

    # deepspeed logs to stdout as it imports (which accelerator it found); stdout is the one JSON line
    with contextlib.redirect_stdout(sys.stderr):
        deepspeed_imports = zero.available()
    devices = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            devices.append({"index": i, "name": p.name, "memory_mb": p.total_memory // (1024 * 1024)})
    return {"trainer": "torch", "torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__,
            "cuda": torch.version.cuda if torch.cuda.is_available() else None, "devices": devices,
            "methods": ["full", "freeze", "lora", "prefix", "prompt"], "stages": ["pretrain", "sft", "dpo"],
            # the job spec's trainer options it runs (src/factory/job-spec.ts); the factory refuses the others at submission
            "precisions": ["fp32", "bf16", "fp16"] if not torch.cuda.is_available() or torch.cuda.is_bf16_supported() else ["fp32", "fp16"],
            "packing": True, "gradient_checkpointing": True,
            # DeepSpeed's ZeRO only where deepspeed imports (an optional part of the environment)
            "strategies": ["ddp", "fsdp"] + (list(zero.STAGES) if deepspeed_imports else [])}


def main(argv: list[str]) -> int:
    if argv == ["--info"]:
        print(json.dumps(info()))
        return EXIT_OK
    if len(argv) != 1:
        sys.stderr.write("usage: python -m modelfab_torch <outputDir>/job.json\n")
        return EXIT_INVALID
    path = argv[0]
    stop = threading.Event()
    # Handlers first: a stop asked for while the model loads still ends in a checkpoint, as in the engine.
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    # A trainer reads local folders only: never let a library reach for the Hugging Face Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # Heavy imports (torch) after the handlers, so that an early SIGTERM is not lost.
    from .files import Events
    from .spec import JobSpecError, validate_job_spec

    raw = None
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        import torch

        spec = validate_job_spec(raw, cuda=torch.cuda.is_available())
    except (OSError, ValueError, JobSpecError) as e:  # json's JSONDecodeError is a ValueError
        out = raw.get("outputDir") if isinstance(raw, dict) and isinstance(raw.get("outputDir"), str) and raw.get("outputDir") else None
        msg = str(e) if isinstance(e, JobSpecError) else f"{path}: {e}"
        try:
            Events(out or os.path.dirname(os.path.abspath(path)))("error", msg)
        except OSError:
            pass
        sys.stderr.write(f"worker: {msg}\n")
        # An unreadable job file is a failure (1), as in the engine; unparsable or invalid content is invalid (2).
        return EXIT_FAILED if isinstance(e, OSError) else EXIT_INVALID

    from .worker import run_job

    try:
        outcome = run_job(spec, should_stop=stop.is_set)
    except JobSpecError as e:
        sys.stderr.write(f"worker: {e}\n")
        return EXIT_INVALID
    except Exception as e:  # the event is written by run_job
        sys.stderr.write(f"worker: {type(e).__name__}: {e}\n")
        return EXIT_FAILED
    return EXIT_STOPPED if outcome == "stopped" else EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
