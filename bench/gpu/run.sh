#!/usr/bin/env bash
# The GPU check of the torch trainer: one prepared run for a machine with one NVIDIA GPU (H100 or H200; about 5
# minutes), which prints one JSON line (bench/gpu/torch_gpu.py says what it measures). It needs torch,
# transformers and peft, which the GPU machines carry; nothing is downloaded (the models are random-initialised).
#
#   bash bench/gpu/run.sh            # both shapes, Qwen2.5-0.5B and Qwen2.5-7B
#   bash bench/gpu/run.sh --smoke    # tiny shapes on the CPU: checks the script (the pytest runs this)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
python="${MODELFAB_TORCH_PYTHON:-python3}"
# this checkout's trainer, not an installed copy
export PYTHONPATH="$root/trainers/torch/src${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
"$python" -c 'import torch, transformers, peft' \
  || { echo "bench/gpu/run.sh: $python lacks torch, transformers or peft" >&2; exit 2; }
if [ "${1:-}" != "--smoke" ] && ! "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
  echo "bench/gpu/run.sh: no CUDA device here; this check needs one GPU (use --smoke to check the script on the CPU)" >&2
  exit 2
fi
exec "$python" "$root/bench/gpu/torch_gpu.py" "$@"
